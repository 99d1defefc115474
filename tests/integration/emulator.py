"""Start and drive the token-API emulator (tests/emulator, docs/token-api.md#the-emulator) from integration tests.

Standard library only. Use as:

    with Emulator(tokens={TOKEN: "ok", OTHER: "slow:3"}) as emu:
        daemon config: dynamo.update_url = emu.url   (emu.ca_file for HTTPS)
        ...
        emu.advance_clock(301)                 # open the 5-minute window without waiting
        self.assertEqual([c["code"] for c in emu.calls()], ["UP,OK", "NC"])

Emulator(tokens=None, window=None, tls=None, timeout=None, extra_args=(), start_timeout=10)
  tokens   dict token -> mode ("ok", "nr", "nd", "er", "uper", "http500", "garbage", "drop",
           "slow" or "slow:SECONDS"), or token -> (mode, stored address); written to a tokens
           file (format: tests/emulator/tokens_file.h)
  window   seconds of the TF window (default 300, the service's)
  tls      a tls_util.TlsFiles (or anything with .cert, .key, .ca_cert): serve HTTPS with it
Attributes: port, url ("http(s)://127.0.0.1:PORT/"), ca_file (None for HTTP), proc, returncode
(after stop), log_text() (the emulator's stderr).
Methods: calls(), tokens(), set_token(token, mode, address=None), advance_clock(seconds),
reset(addresses=False), call(token, ip=None, post=False, timeout=5) -> (status, body), stop().

The emulator is started with --listen 127.0.0.1:0; start() waits for its "listening" line with
a deadline (select on the pipe, never a sleep). stop() sends SIGTERM to that one PID, waits,
and SIGKILLs it only if it outlives the deadline. The child also dies with the test runner
(PR_SET_PDEATHSIG), so a killed test never leaves it bound to a port.
"""

import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import listen_port, popen

BUILD_DIR = os.environ.get("DYNAMO_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
EMULATOR = os.path.join(BUILD_DIR, "dynamo-emulator")


class EmulatorError(AssertionError):
    pass


class Emulator:
    def __init__(self, tokens=None, window=None, tls=None, timeout=None, extra_args=(),
                 start_timeout=10.0):
        self.tokens_map = dict(tokens or {})
        self.window = window
        self.tls = tls
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.workdir = None
        self.proc = None
        self.port = None
        self.returncode = None
        self._stderr_path = None
        self._stderr_file = None
        self._opener = None

    # -- lifetime -------------------------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.workdir = tempfile.mkdtemp(prefix="dynamo-emulator-")
        argv = [EMULATOR, "--listen", "127.0.0.1:0"]
        if self.tokens_map:
            path = os.path.join(self.workdir, "tokens")
            with open(path, "w") as f:
                for token, spec in self.tokens_map.items():
                    mode, address = (spec, None) if isinstance(spec, str) else spec
                    f.write("%s %s%s\n" % (token, mode, " " + address if address else ""))
            argv += ["--tokens", path]
        if self.window is not None:
            argv += ["--window", str(self.window)]
        if self.timeout is not None:
            argv += ["--timeout", str(self.timeout)]
        if self.tls is not None:
            argv += ["--tls-cert", self.tls.cert, "--tls-key", self.tls.key]
        argv += self.extra_args
        self._stderr_path = os.path.join(self.workdir, "stderr.log")
        self._stderr_file = open(self._stderr_path, "wb")
        self.proc = popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=self._stderr_file)
        line = self._read_line(self.start_timeout)
        if not line.startswith("listening "):
            status = self.proc.poll()
            self.stop()
            raise EmulatorError("dynamo-emulator %s; stderr:\n%s" % (
                "exited with status %s" % status if status is not None
                else "printed %r instead of 'listening ADDR:PORT'" % line,
                self.log_text()[-4000:]))
        self.port = listen_port(line)
        return self

    def _read_line(self, timeout):
        """The first stdout line, or "" when the deadline passes or the process exits first."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        data = b""
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ""
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return ""
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            data += chunk
        return data.split(b"\n", 1)[0].decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the process we started (by PID); returns its exit status."""
        if self.proc is not None and self.returncode is None:
            if self.proc.poll() is None:
                try:
                    os.kill(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
            self.returncode = self.proc.returncode
            self.proc.stdout.close()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        if self.workdir is not None:
            self._log_cache = self._read_log()
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        return self.returncode

    def _read_log(self):
        try:
            with open(self._stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def log_text(self):
        if self.workdir is None:
            return getattr(self, "_log_cache", "")
        return self._read_log()

    # -- addresses ------------------------------------------------------------------------

    @property
    def scheme(self):
        return "https" if self.tls is not None else "http"

    @property
    def url(self):
        return "%s://127.0.0.1:%d/" % (self.scheme, self.port)

    @property
    def ca_file(self):
        return self.tls.ca_cert if self.tls is not None else None

    # -- HTTP -----------------------------------------------------------------------------

    def request(self, path, data=None, method=None, timeout=5.0, headers=None):
        """(status, body text) for one request to path (which starts with '/'); HTTP errors
        are returned, not raised; connection errors and timeouts are raised."""
        if self._opener is None:
            # Never through a proxy from the environment: the emulator is on loopback.
            handlers = [urllib.request.ProxyHandler({})]
            if self.tls is not None:
                context = ssl.create_default_context(cafile=self.tls.ca_cert)
                handlers.append(urllib.request.HTTPSHandler(context=context))
            self._opener = urllib.request.build_opener(*handlers)
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method,
                                     headers=dict(headers or {}))
        try:
            with self._opener.open(req, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode("utf-8", "replace")

    def call(self, token, ip=None, post=False, timeout=5.0, headers=None):
        """One token-API call: GET /<token>[?ip=], or POST with ip= as form data."""
        path = "/" + token
        if post:
            body = urllib.parse.urlencode({"ip": ip} if ip is not None else {}).encode()
            return self.request(path, data=body, method="POST", timeout=timeout,
                                headers=dict(headers or {}, **{
                                    "Content-Type": "application/x-www-form-urlencoded"}))
        if ip is not None:
            path += "?" + urllib.parse.urlencode({"ip": ip})
        return self.request(path, timeout=timeout, headers=headers)

    def _control(self, method, name, **params):
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        path = "/_control/" + name + ("?" + query if query else "")
        status, body = self.request(path, data=b"" if method == "POST" else None, method=method)
        if status != 200:
            raise EmulatorError("%s %s -> HTTP %d: %s" % (method, path, status, body.strip()))
        return body

    def calls(self):
        """Every call since start or reset(): dicts with time, token, method, path, ip (None
        when absent), source ("127.0.0.1:PORT"), status (0 = dropped), code (the body, or
        "HTTP 500" / "DROP"), delay, user_agent, tls."""
        return json.loads(self._control("GET", "calls"))

    def codes(self, token=None):
        """The codes answered so far, optionally for one token only."""
        return [c["code"] for c in self.calls() if token is None or c["token"] == token]

    def tokens(self):
        """token -> {"mode", "address", "last_call"}."""
        return json.loads(self._control("GET", "tokens"))

    def set_token(self, token, mode="ok", address=None):
        self._control("POST", "token", token=token, mode=mode, address=address)

    def advance_clock(self, seconds):
        """Move the emulator's clock forward; returns the total offset."""
        return json.loads(self._control("POST", "clock", advance=seconds))["offset"]

    def reset(self, addresses=False):
        """Forget calls and windows (and stored addresses with addresses=True)."""
        self._control("POST", "reset", addresses=1 if addresses else None)
