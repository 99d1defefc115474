"""End-to-end harness for the update side (docs/updates.md#dyndns-updates): the real dynamo-gateway with its HTTP(S)
listeners and accounts, the token-API emulator as its upstream, and the clients that talk to it.

Standard library only (Debian's python3). It wraps harness.py (which it does not change):

- ``Gateway``: one daemon with http/https ports, accounts, dynamo.* keys; ``start()``,
  ``kill9()`` (SIGKILL, state_dir kept), ``restart()`` (same workdir, same config), ``stop()``.
  Its workdir survives kill9/restart and is removed by ``cleanup()``.
- ``request()`` / ``update()``: one HTTP(S) request with http.client (optionally from a given
  source address), returned as ``Response`` (status, lower-cased headers, body text).
- ``raw_http()``: bytes over a plain socket, for what http.client will not send (HTTP/1.0).
- ``poll_until()``: wait for a condition with a deadline (the only way these tests wait).
- ``wait_calls()``: wait until the emulator recorded N calls for a token.
- ``ConnectionCounter``: a TCP forwarder that counts connections, to see a retry that never
  becomes an HTTP request (a TLS handshake the daemon refuses).
- ``make_token()``: a distinct valid token (42 characters of [A-Za-z0-9]) per account.

Every process is started by us and stopped by its PID (harness.stop_process).
"""

import base64
import glob
import http.client
import os
import random
import selectors
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import threading
import time
import urllib.parse

import harness
from harness import Daemon, free_port, listen_host, listen_port

DEVICE_USER = "device-user"
DEVICE_PASS = "device-pass-Secret77"

# Public addresses to publish (1.2.3.4 and friends are not in any special-purpose range).
PUBLIC_A = "1.2.3.4"
PUBLIC_B = "5.6.7.8"
PUBLIC_C = "9.8.7.6"

# The daemon's min_interval for tests that see a window open or a retry happen: two seconds
# instead of five minutes (the key takes whole seconds). The daemon times a call from when it
# starts it, the emulator from when it arrives, so the gap the emulator sees varies by the
# calls' connect-and-send delays: a loaded 2-core CI machine under ASan can stall one of them
# for a few hundred milliseconds. The emulator's window is shorter by that much, so it answers
# TF only when the daemon really called too early; the gap between calls is asserted separately
# against MIN_INTERVAL with GAP_TOLERANCE.
MIN_INTERVAL = 2.0
EMULATOR_WINDOW = 1.5
GAP_TOLERANCE = 0.4


def make_token(tag=""):
    """A token nobody else uses: tag (letters/digits) then random [A-Za-z0-9], 42 in all."""
    alphabet = string.ascii_letters + string.digits
    tag = "".join(c for c in tag if c in alphabet)[:20]
    token = tag + "".join(random.choice(alphabet) for _ in range(42 - len(tag)))
    assert len(token) == 42
    return token


def account(token=None, username=DEVICE_USER, password=DEVICE_PASS, hostnames=()):
    return {"username": username, "password": password, "token": token or make_token(),
            "hostnames": list(hostnames)}


def basic(username, password):
    raw = ("%s:%s" % (username, password)).encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------------------------
# Waiting

def poll_until(condition, timeout=10.0, interval=0.05, what="condition"):
    """Return condition()'s first truthy value; raise AssertionError at the deadline. The short
    pause between probes is a polling interval, not a synchronisation sleep."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def calls_for(emu, token):
    return [c for c in emu.calls() if c["token"] == token]


def wait_calls(emu, token, count, timeout=10.0):
    """The emulator's calls for token once there are at least count of them."""
    return poll_until(lambda: (lambda cs: cs if len(cs) >= count else None)(
        calls_for(emu, token)), timeout=timeout,
        what="%d emulator call(s) for token %s…" % (count, token[:4]))


def gaps(calls):
    times = [c["time"] for c in calls]
    return [b - a for a, b in zip(times, times[1:])]


# --------------------------------------------------------------------------------------------
# The daemon

class Gateway:
    """A dynamo-gateway configured for update tests. Keys follow docs/configuration.md#keys:

        gw = Gateway(update_url=emu.url, accounts=[account(token)], min_interval="2s")
        self.addCleanup(gw.cleanup)
        gw.start()
        r = update(gw, "host.example.net", myip="1.2.3.4")
    """

    def __init__(self, update_url, accounts=None, min_interval=None, timeout=None,
                 ca_file=None, allow=None, upstreams=None, http_listen=None,
                 https_listen=None, dns_listen=None, tls=None, log_level="debug"):
        self.workdir = tempfile.mkdtemp(prefix="dynamo-gw-e2e-")
        self.state_dir = os.path.join(self.workdir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        if upstreams is None:
            # Never the machine's resolver: a loopback port nobody answers on (these tests do
            # not forward DNS unless they pass a real upstream).
            upstreams = ["127.0.0.1:%d" % free_port()]
        dns_port = free_port()
        cfg = harness.base_config(dns_port, upstreams, self.state_dir)
        # Listen keys whose free ports we picked (and may pick again, see start()).
        self._picked = {"dns": dns_listen is None, "http_listen": http_listen is None,
                        "https_listen": https_listen is None}
        if dns_listen is not None:
            cfg["dns"]["listen"] = list(dns_listen)
        if allow is not None:
            cfg["dns"]["allow"] = list(allow)
        if http_listen is not None:
            cfg["gateway"]["http_listen"] = list(http_listen)
        if https_listen is not None:
            cfg["gateway"]["https_listen"] = list(https_listen)
        if tls is not None:
            cfg["gateway"]["tls"] = dict(tls)
        dynamo = {"update_url": update_url}
        if ca_file is not None:
            dynamo["ca_file"] = ca_file
        if min_interval is not None:
            dynamo["min_interval"] = min_interval
        if timeout is not None:
            dynamo["timeout"] = timeout
        cfg["dynamo"] = dynamo
        cfg["accounts"] = list(accounts if accounts is not None else [account()])
        cfg["log_level"] = log_level
        self.config = cfg
        self.daemon = None
        self.previous_stderr = []  # stderr of instances stopped or killed before this one

    # addresses
    @property
    def http_host(self):
        return listen_host(self.config["gateway"]["http_listen"][0])

    @property
    def http_port(self):
        return listen_port(self.config["gateway"]["http_listen"][0])

    @property
    def https_port(self):
        return listen_port(self.config["gateway"]["https_listen"][0])

    @property
    def dns_port(self):
        return listen_port(self.config["dns"]["listen"][0])

    @property
    def accounts(self):
        return self.config["accounts"]

    # lifetime
    def start(self, timeout=harness.READY_TIMEOUT, attempts=3):
        """Start and wait for `ready`. free_port() reserves its ports against other test runs,
        but a program outside the tests may still bind one before the daemon does: when the
        daemon fails with EADDRINUSE on a port we picked, pick new ones and try again."""
        for attempt in range(attempts):
            self.daemon = Daemon(config=self.config, workdir=self.workdir)
            try:
                self.daemon.start(timeout=timeout)
                return self
            except harness.DaemonError as error:
                text = str(error)
                self.daemon.stop()
                self.previous_stderr.append(self.daemon.stderr_text())
                self.daemon = None
                if "Address already in use" not in text or attempt + 1 == attempts \
                        or not any(self._picked.values()):
                    raise
                self._repick_ports()
        return self

    def _repick_ports(self):
        if self._picked["dns"]:
            self.config["dns"]["listen"] = ["127.0.0.1:%d" % free_port()]
        for key in ("http_listen", "https_listen"):
            if self._picked[key]:
                self.config["gateway"][key] = ["127.0.0.1:%d" % free_port()]

    def alive(self):
        return self.daemon is not None and self.daemon.alive()

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop()
            self.previous_stderr.append(self.daemon.stderr_text())
            self.daemon = None

    def kill9(self):
        """SIGKILL, as a power cut would: nothing is flushed at exit; state_dir stays."""
        if self.daemon is not None:
            self.daemon.stop(sig=signal.SIGKILL)
            self.previous_stderr.append(self.daemon.stderr_text())
            self.daemon = None

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stderr_text(self):
        current = self.daemon.stderr_text() if self.daemon is not None else ""
        return "\n".join(self.previous_stderr + [current])

    def stderr_tail(self, chars=3000):
        return self.stderr_text()[-chars:]

    def secrets(self):
        out = []
        for acc in self.accounts:
            out += [acc["token"], acc["password"]]
        return out

    # the self-signed certificate the daemon makes in state_dir (docs/updates.md#listeners)
    def generated_cert(self):
        """(cert path, key path) of the PEM files in state_dir, or (None, None)."""
        cert = key = None
        for path in sorted(glob.glob(os.path.join(self.state_dir, "**", "*"), recursive=True)):
            if not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    head = f.read(65536)
            except OSError:
                continue
            if b"-----BEGIN CERTIFICATE-----" in head and cert is None:
                cert = path
            if b"PRIVATE KEY-----" in head and key is None:
                key = path
        return cert, key


# --------------------------------------------------------------------------------------------
# HTTP clients

class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers  # lower-cased name -> value (last one wins)
        self.body = body
        self.elapsed = elapsed

    @property
    def lines(self):
        return self.body.splitlines()

    def __repr__(self):
        return "HTTP %s %r body=%r (%.2fs)" % (self.status, self.headers, self.body,
                                               self.elapsed)


def request(host, port, path, method="GET", headers=None, body=None, source=None,
            tls_context=None, timeout=15.0):
    """One HTTP/1.1 request with http.client; connection errors propagate."""
    started = time.monotonic()
    source_address = (source, 0) if source else None
    if tls_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context,
                                           source_address=source_address)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                          source_address=source_address)
    try:
        data = body.encode("utf-8") if isinstance(body, str) else body
        conn.request(method, path, body=data, headers=dict(headers or {}))
        resp = conn.getresponse()
        payload = resp.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return Response(resp.status, hdrs, payload, time.monotonic() - started)
    finally:
        conn.close()


def update_path(hostname=None, myip=None, path="/nic/update", **extra):
    params = {}
    if hostname is not None:
        params["hostname"] = hostname
    if myip is not None:
        params["myip"] = myip
    params.update(extra)
    return path + ("?" + urllib.parse.urlencode(params) if params else "")


def update(gw, hostname, myip=None, user=DEVICE_USER, password=DEVICE_PASS, path="/nic/update",
           source=None, auth=True, headers=None, **extra):
    """GET an update from the gateway's first HTTP listener with Basic auth."""
    hdrs = dict(headers or {})
    if auth:
        hdrs["Authorization"] = basic(user, password)
    hdrs.setdefault("User-Agent", "dynamo-e2e/1.0")
    return request(gw.http_host, gw.http_port, update_path(hostname, myip, path, **extra),
                   headers=hdrs, source=source)


def raw_http(host, port, data, timeout=15.0, source=None):
    """Send bytes, read until the server closes (or the deadline); returns (status, headers,
    body, raw text)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(data)
        chunks = []
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks).decode("latin-1")
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = None
    if lines and lines[0].startswith("HTTP/"):
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers, body, raw


# --------------------------------------------------------------------------------------------
# A TCP forwarder that counts connections

class ConnectionCounter:
    """Listens on 127.0.0.1:port, forwards each connection to target_port, counts them. Lets a
    test see the daemon try (and retry) a connection whose TLS handshake it then refuses, when
    the emulator behind never sees an HTTP request."""

    def __init__(self, target_port, host="127.0.0.1"):
        self.target = (host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._times = []
        self._stop = threading.Event()
        self._sockets = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def times(self):
        with self._lock:
            return list(self._times)

    def count(self):
        return len(self.times())

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        pairs = {}
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.1):
                if key.data is None:
                    try:
                        client, _ = self.listener.accept()
                    except OSError:
                        continue
                    with self._lock:
                        self._times.append(time.time())
                    try:
                        upstream = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        client.close()
                        continue
                    for a, b in ((client, upstream), (upstream, client)):
                        a.setblocking(False)
                        pairs[a] = b
                        sel.register(a, selectors.EVENT_READ, "pipe")
                    self._sockets += [client, upstream]
                else:
                    src = key.fileobj
                    dst = pairs.get(src)
                    try:
                        data = src.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if data and dst is not None:
                        try:
                            dst.setblocking(True)
                            dst.sendall(data)
                            dst.setblocking(False)
                            continue
                        except OSError:
                            pass
                    for s in (src, dst):
                        if s is not None and s in pairs:
                            try:
                                sel.unregister(s)
                            except (KeyError, ValueError):
                                pass
                            pairs.pop(s, None)
                            s.close()
        sel.close()

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.listener.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# Subprocess helpers with bounded time

def run(argv, timeout=60, **kwargs):
    """subprocess.run with a deadline and captured text output; never raises on exit status."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kwargs)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (
            e.stdout or "")
        err = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else (
            e.stderr or "")
        return subprocess.CompletedProcess(argv, -9, out, err + "\n[timed out after %ss]"
                                           % timeout)
