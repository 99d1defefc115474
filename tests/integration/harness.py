"""End-to-end harness: start the real dynamo-gateway on loopback ports and talk DNS to it.

Standard library only (Debian's python3). What is here:

- ``Daemon``: writes a config to a temp dir, starts ``dynamo-gateway --config FILE``, waits for
  the ``ready`` line on stderr (with a deadline, never a sleep), reloads with SIGHUP, stops with
  SIGTERM. Only the process it started is ever signalled, by its PID.
- ``dig()`` / ``kdig()``: the real clients, parsed into one ``Reply`` shape.
- a small DNS wire codec (``build_query``, ``parse_message``) and raw UDP/TCP exchanges, for what
  dig will not send: malformed packets, pipelined TCP, byte-for-byte comparisons.
- ``free_port()``: a port free for both UDP and TCP on loopback, reserved against parallel
  test processes and outside the kernel's ephemeral range.

The daemon's contract: docs/operations.md (commands, signals, log lines), docs/configuration.md
(config keys), docs/dns.md (DNS).
"""

import atexit
import ctypes
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

BUILD_DIR = os.environ.get("DYNAMO_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
SOURCE_DIR = os.environ.get("DYNAMO_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
DAEMON = os.path.join(BUILD_DIR, "dynamo-gateway")
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# A token is exactly 42 characters of [A-Za-z0-9] (docs/configuration.md#accounts).
TOKEN = "Tst0123456789abcdefghijklmnopqrstuvwxyzABC"
assert len(TOKEN) == 42

READY_TIMEOUT = 20.0   # start-up may include making a self-signed RSA certificate
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


# What a peer loads at run time that its package only recommends (install-deps.sh installs
# without Recommends, and names these): program -> [(Perl module, Debian package)].
PEER_PERL_MODULES = {
    "ddclient": [("IO::Socket::SSL", "libio-socket-ssl-perl")],  # ssl=yes
}


def require(program, package):
    """The path of a peer program the tests use. `make test` installs every one
    (scripts/install-deps.sh --test), so a missing one is a broken setup: the test fails saying
    what to install; it is never skipped. Only what the machine itself may lack (IPv6 loopback,
    network namespaces, root) is a reason to skip. The Perl modules the program loads at run
    time (PEER_PERL_MODULES) are checked too: without them it starts and fails later, in a way
    that does not say what is missing."""
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path is None:
        raise AssertionError("%s is missing: apt-get install %s (or scripts/install-deps.sh "
                             "--test)" % (program, package))
    for module, module_package in PEER_PERL_MODULES.get(program, ()):
        require_perl_module(module, module_package, program)
    return path


def render_at_phone_width(test, url, screenshot=None):
    """The DOM headless Chromium builds for `url` at a phone's viewport (390 x 844), and when
    `screenshot` is a path, a PNG of the page there (checked to be one). The pages are read by
    a real browser, not only by string matching on what the daemon sent."""
    chromium = require("chromium", "chromium")
    profile = tempfile.mkdtemp(prefix="dynamo-chromium-")
    test.addCleanup(shutil.rmtree, profile, True)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + profile, "--window-size=390,844"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=90)
    test.assertEqual(dom.returncode, 0, dom.stderr[-2000:])
    if screenshot:
        taken = subprocess.run([chromium, *flags, "--screenshot=" + screenshot, url],
                               capture_output=True, text=True, timeout=90)
        test.assertEqual(taken.returncode, 0, taken.stderr[-2000:])
        with open(screenshot, "rb") as image:
            test.assertEqual(image.read(8), b"\x89PNG\r\n\x1a\n")
    return dom.stdout


def require_perl_module(module, package, needed_by):
    """Fails, naming the package to install, when perl cannot load `module`."""
    perl = shutil.which("perl") or "/usr/bin/perl"
    try:
        loaded = subprocess.run([perl, "-M" + module, "-e", "1"], capture_output=True,
                                timeout=30).returncode == 0
    except OSError:
        loaded = False
    if not loaded:
        raise AssertionError("%s needs the Perl module %s, which is missing: apt-get install %s "
                             "(or scripts/install-deps.sh --test)" % (needed_by, module, package))


def have_netns():
    """True when this process may make a network namespace (root, or CAP_SYS_ADMIN) and iproute2
    and nsenter are there: the wildcard-bind tests run inside one, never on the host's
    interfaces."""
    if not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
        return False
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def netns_prefix(ipv4=(), ipv6=()):
    """argv prefix that runs a command in a new network namespace with lo up and the given
    extra addresses on lo. The command is exec'd, so its PID is the one Popen reports and
    `nsenter -t PID -n` reaches the namespace."""
    steps = ["ip link set lo up"]
    steps += ["ip addr add %s/32 dev lo" % a for a in ipv4]
    steps += ["ip -6 addr add %s/128 dev lo nodad" % a for a in ipv6]
    return ["unshare", "--net", "--", "sh", "-c", " && ".join(steps) + ' && exec "$@"', "sh"]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Processes: children die with the test runner (PR_SET_PDEATHSIG), so a ctest timeout that
# kills python3 never leaves a daemon or a peer bound to a port.

def _die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def popen(argv, **kwargs):
    return subprocess.Popen(argv, preexec_fn=_die_with_parent, **kwargs)


def stop_process(proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Signal one process we started, by its PID; SIGKILL it if it outlives the deadline."""
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc is not None else None
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=5)


class LinePump:
    """Reads a pipe line by line in a thread; lets a test wait for a line with a deadline."""

    def __init__(self, stream):
        self._stream = stream
        self._lines = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for raw in iter(self._stream.readline, b""):
                with self._cond:
                    self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self._lines)

    def lines(self, start=0):
        with self._cond:
            return list(self._lines[start:])

    def text(self):
        return "\n".join(self.lines())

    def wait_for(self, predicate, start=0, timeout=10.0):
        """The first line at index >= start for which predicate(line) holds, or None when the
        deadline passes or the stream ends first."""
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self._lines):
                    if predicate(self._lines[index]):
                        return self._lines[index]
                    index += 1
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def join(self, timeout=5.0):
        self._thread.join(timeout)


# --------------------------------------------------------------------------------------------
# Ports

def listen_port(entry):
    """The port of a config listen entry: "127.0.0.1:5053" or "[::1]:5053" → 5053."""
    return int(entry.rsplit(":", 1)[1])


def listen_host(entry):
    """The address of a config listen entry, without brackets: "[::1]:5053" → "::1"."""
    return entry.rsplit(":", 1)[0].strip("[]")


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def _test_port_pool():
    """Ports the kernel never hands out on its own: below (or above) the ephemeral range, so an
    outgoing connection or a bind to port 0 anywhere on the machine cannot take one of ours
    between free_port() and the daemon's bind."""
    low, high = _ephemeral_range()
    if low - 10000 >= 2000:
        return range(10000, low)
    if 65535 - high >= 2000:
        return range(high + 1, 65536)
    return None


_PORT_DIR = os.path.join(tempfile.gettempdir(), "dynamo-test-ports")
_reserved = set()


def _release_reservations():
    for port in _reserved:
        try:
            os.unlink(os.path.join(_PORT_DIR, str(port)))
        except OSError:
            pass


atexit.register(_release_reservations)


def _reserve(port):
    """Claim port for this process against every other test process (ctest runs them in
    parallel): one O_EXCL file per port holding the owner's PID; a dead owner's file is taken
    over. The claim lasts until this process exits."""
    if port in _reserved:
        return False
    path = os.path.join(_PORT_DIR, str(port))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = int(f.read().strip() or "0")
            except (OSError, ValueError):
                return False
            if owner and _pid_alive(owner):
                return False
            try:
                os.unlink(path)  # the owner died without cleaning up (SIGKILL, ctest timeout)
            except OSError:
                return False
            continue
        with os.fdopen(fd, "w") as f:
            f.write("%d\n" % os.getpid())
        _reserved.add(port)
        return True
    return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bindable(port, hosts):
    """port binds for TCP and UDP on every host right now."""
    for host in hosts:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(family, kind) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    return False
    return True


def free_port(hosts=("127.0.0.1",), attempts=200):
    """A port number free for UDP and TCP on every host in hosts, reserved for this process so no
    parallel test run picks it too, and outside the kernel's ephemeral range so no outgoing
    connection takes it before the daemon binds it."""
    pool = _test_port_pool()
    if pool is None:
        return _kernel_picked_port(hosts, attempts)
    os.makedirs(_PORT_DIR, mode=0o1777, exist_ok=True)
    for _ in range(attempts):
        port = random.choice(pool)
        # Claimed first, then checked: no other test can bind it after the check. A claimed
        # port that is busy (another program) stays claimed, so it is not tried again.
        if _reserve(port) and _bindable(port, hosts):
            return port
    raise RuntimeError("no free port on %s after %d attempts" % (hosts, attempts))


def _kernel_picked_port(hosts, attempts):
    """The fallback when the ephemeral range leaves no room: bind port 0, release, hope."""
    for _ in range(attempts):
        family = socket.AF_INET6 if ":" in hosts[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        if _bindable(port, hosts):
            return port
    raise RuntimeError("no free port on %s after %d attempts" % (hosts, attempts))


# --------------------------------------------------------------------------------------------
# Config: a tiny YAML writer (block mappings, flow lists of scalars, block lists of mappings).

def _scalar(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def yaml_dump(value, indent=0):
    pad = " " * indent
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict):
                if item:
                    out.append("%s%s:" % (pad, key))
                    out.append(yaml_dump(item, indent + 2))
                else:
                    out.append("%s%s: {}" % (pad, key))
            elif isinstance(item, list) and any(isinstance(x, dict) for x in item):
                out.append("%s%s:" % (pad, key))
                for entry in item:
                    body = yaml_dump(entry, indent + 4).splitlines()
                    out.append("%s  - %s" % (pad, body[0].lstrip()))
                    out.extend(body[1:])
            elif isinstance(item, list):
                out.append("%s%s: [%s]" % (pad, key, ", ".join(_scalar(x) for x in item)))
            else:
                out.append("%s%s: %s" % (pad, key, _scalar(item)))
        return "\n".join(out)
    raise TypeError("yaml_dump wants a dict at the top")


def base_config(dns_port, upstreams, state_dir, http_port=None, https_port=None,
                update_port=None, listen=None):
    """A complete config for tests: loopback only, explicit upstreams (never resolv.conf)."""
    http_port = http_port or free_port()
    https_port = https_port or free_port()
    update_port = update_port or free_port()
    return {
        "dns": {
            "listen": listen or ["127.0.0.1:%d" % dns_port],
            "upstreams": list(upstreams),
            "allow": ["127.0.0.0/8", "::1/128"],
            "intercept": {
                "names": ["members.dyndns.org", "members.dyndns.com"],
                "answer_ipv4": "auto",
                "answer_ipv6": "none",
                "ttl": 77,
            },
            "cache": {"size": 1000},
            "upstream_timeout": "1s",
        },
        "gateway": {
            "http_listen": ["127.0.0.1:%d" % http_port],
            "https_listen": ["127.0.0.1:%d" % https_port],
        },
        "dynamo": {"update_url": "http://127.0.0.1:%d/" % update_port},
        "accounts": [{
            "username": "device-user",
            "password": "device-pass",
            "token": TOKEN,
            "hostnames": [],
        }],
        "state_dir": state_dir,
        "log_level": "debug",
    }


# --------------------------------------------------------------------------------------------
# The daemon

class DaemonError(AssertionError):
    pass


class Daemon:
    """One dynamo-gateway process with its own temp dir. Use as:

        d = Daemon.for_dns(["127.0.0.1:%d" % upstream.port], intercept={"ttl": 30})
        test.addCleanup(d.stop)
        d.start()
        dig("members.dyndns.org", port=d.dns_port)
    """

    def __init__(self, config=None, workdir=None, prefix=()):
        self.prefix = list(prefix)  # e.g. netns_prefix(): runs the daemon in a namespace
        self.workdir = workdir or tempfile.mkdtemp(prefix="dynamo-e2e-")
        self._own_workdir = workdir is None
        self.state_dir = os.path.join(self.workdir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.config_path = os.path.join(self.workdir, "dynamo.yaml")
        self.config = config
        self.proc = None
        self.stderr = None
        self.stdout = None
        self.returncode = None

    @classmethod
    def for_dns(cls, upstreams, listen=None, prefix=(), **dns_overrides):
        """A daemon config with a fresh DNS port; dns_overrides replace dns.<key> (dicts such as
        intercept= are merged one level deep)."""
        d = cls(prefix=prefix)
        port = free_port()
        cfg = base_config(port, upstreams, d.state_dir, listen=listen)
        for key, value in dns_overrides.items():
            if isinstance(value, dict) and isinstance(cfg["dns"].get(key), dict):
                cfg["dns"][key] = dict(cfg["dns"][key], **value)
            else:
                cfg["dns"][key] = value
        d.config = cfg
        return d

    @property
    def dns_port(self):
        return listen_port(self.config["dns"]["listen"][0])

    def write_config(self, config=None, text=None):
        if config is not None:
            self.config = config
        body = text if text is not None else yaml_dump(self.config) + "\n"
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(body)
        os.chmod(tmp, 0o600)  # it holds secrets; the daemon warns when others can read it
        os.replace(tmp, self.config_path)

    def start(self, timeout=READY_TIMEOUT, extra_args=(), wait_ready=True):
        """Start the daemon and wait for its `ready` line; wait_ready=False returns at once,
        for a test that awaits another readiness signal (sd_notify's READY=1)."""
        self.write_config()
        self.proc = popen([*self.prefix, DAEMON, "--config", self.config_path, *extra_args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=self.workdir)
        self.stderr = LinePump(self.proc.stderr)
        self.stdout = LinePump(self.proc.stdout)
        if not wait_ready:
            return self
        line = self.stderr.wait_for(lambda l: "<6>info: ready" in l, timeout=timeout)
        if line is None:
            try:
                # stderr ends when the process exits; give the exit a moment to be reaped, so a
                # daemon that refused to start is reported with its status and reason.
                status = self.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                status = None
            if status is None:
                self.stop()
                why = "no 'ready' line within %.0fs" % timeout
            else:
                self.returncode = status
                self.stderr.join()
                why = "exited with status %d before 'ready'" % status
            raise DaemonError("dynamo-gateway %s; stderr:\n%s" % (why, self.stderr_text()[-4000:]))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def reload(self, new_config=None, text=None, timeout=RELOAD_TIMEOUT):
        """Rewrite the config, SIGHUP, wait for the outcome: 'reloaded' or 'refused'."""
        self.write_config(new_config, text)
        start = self.stderr.mark()
        os.kill(self.proc.pid, signal.SIGHUP)
        line = self.stderr.wait_for(
            lambda l: "reloaded" in l or ("<3>error:" in l and "reload refused" in l),
            start=start, timeout=timeout)
        if line is None:
            raise DaemonError("no 'reloaded' / 'reload refused' line within %.0fs; stderr:\n%s"
                              % (timeout, "\n".join(self.stderr.lines(start))[-4000:]))
        return "refused" if "reload refused" in line else "reloaded"

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.returncode is None:
            self.returncode = stop_process(self.proc, sig)
            self.stderr.join()
            self.stdout.join()
            self.proc.stdout.close()
            self.proc.stderr.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._own_workdir = False
        return self.returncode

    def stderr_text(self):
        return self.stderr.text() if self.stderr else ""


# --------------------------------------------------------------------------------------------
# DNS wire format (RFC 1035 §4.1), enough to build queries and read replies in tests.

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "SRV": 33, "OPT": 41, "DS": 43, "RRSIG": 46, "NSEC": 47, "DNSKEY": 48, "SVCB": 64,
         "HTTPS": 65, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
RCODE_NUMBERS = {v: k for k, v in RCODES.items()}


def type_code(qtype):
    if isinstance(qtype, int):
        return qtype
    qtype = qtype.upper()
    if qtype.startswith("TYPE"):
        return int(qtype[4:])
    return TYPES[qtype]


def encode_name(name):
    name = name.rstrip(".")
    out = b""
    if name:
        for label in name.split("."):
            raw = label.encode("latin-1")
            assert 0 < len(raw) < 64, label
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def opt_rr(bufsize=1232, do=False, options=(), version=0, ext_rcode=0):
    rdata = b"".join(struct.pack("!HH", code, len(data)) + data for code, data in options)
    ttl = (ext_rcode << 24) | (version << 16) | (0x8000 if do else 0)
    return b"\x00" + struct.pack("!HHIH", 41, bufsize, ttl, len(rdata)) + rdata


def build_query(name, qtype="A", qclass=1, qid=None, rd=True, ad=False, cd=False,
                edns=None):
    """edns: None for no OPT, or a dict for opt_rr(): bufsize, do, options."""
    qid = random.randrange(65536) if qid is None else qid
    flags = (0x0100 if rd else 0) | (0x0020 if ad else 0) | (0x0010 if cd else 0)
    arcount = 1 if edns is not None else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
    msg += encode_name(name) + struct.pack("!HH", type_code(qtype), qclass)
    if edns is not None:
        msg += opt_rr(**edns)
    return msg


def build_rr(name, rtype, rdata, ttl=300, rclass=1):
    return encode_name(name) + struct.pack("!HHIH", type_code(rtype), rclass, ttl,
                                           len(rdata)) + rdata


def soa_rdata(mname="ns.test", rname="hostmaster.test", serial=1, minimum=60):
    return encode_name(mname) + encode_name(rname) + struct.pack(
        "!IIIII", serial, 3600, 600, 86400, minimum)


class WireError(ValueError):
    pass


def _read_name(msg, offset, hops=0):
    labels = []
    jumped_to = None
    while True:
        if offset >= len(msg):
            raise WireError("name runs past the end")
        length = msg[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(msg) or hops > 32:
                raise WireError("bad compression pointer")
            pointer = ((length & 0x3F) << 8) | msg[offset + 1]
            if jumped_to is None:
                jumped_to = offset + 2
            offset = pointer
            hops += 1
            continue
        if length & 0xC0:
            raise WireError("bad label type")
        offset += 1
        if length == 0:
            break
        labels.append(msg[offset:offset + length].decode("latin-1"))
        offset += length
    return ".".join(labels) + ".", (jumped_to if jumped_to is not None else offset)


class RR:
    def __init__(self, name, rtype, rclass, ttl, rdata, data=None, type_name=None):
        self.name, self.type, self.rclass, self.ttl, self.rdata = name, rtype, rclass, ttl, rdata
        self.data = data  # presentation text when known (dig, kdig), else None
        self._type_name = type_name

    @property
    def type_name(self):
        if self._type_name:
            return self._type_name
        return TYPE_NAMES.get(self.type, "TYPE%d" % self.type)

    def __repr__(self):
        return "RR(%s %s %s ttl=%s %s)" % (self.name, self.rclass, self.type_name, self.ttl,
                                           self.data if self.data is not None else self.rdata)


class Message:
    """A parsed DNS message: header fields, question, sections, OPT."""

    def __init__(self, raw):
        self.raw = raw
        if len(raw) < 12:
            raise WireError("shorter than a header")
        (self.id, flags, qd, an, ns, ar) = struct.unpack("!HHHHHH", raw[:12])
        self.qr = bool(flags & 0x8000)
        self.opcode = (flags >> 11) & 0xF
        self.aa = bool(flags & 0x0400)
        self.tc = bool(flags & 0x0200)
        self.rd = bool(flags & 0x0100)
        self.ra = bool(flags & 0x0080)
        self.ad = bool(flags & 0x0020)
        self.cd = bool(flags & 0x0010)
        self.rcode_low = flags & 0xF
        self.counts = (qd, an, ns, ar)
        offset = 12
        self.question = []
        for _ in range(qd):
            name, offset = _read_name(raw, offset)
            if offset + 4 > len(raw):
                raise WireError("question runs past the end")
            qtype, qclass = struct.unpack("!HH", raw[offset:offset + 4])
            self.question.append((name, qtype, qclass))
            offset += 4
        self.question_end = offset
        sections = []
        for count in (an, ns, ar):
            rrs = []
            for _ in range(count):
                name, offset = _read_name(raw, offset)
                if offset + 10 > len(raw):
                    raise WireError("record runs past the end")
                rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", raw[offset:offset + 10])
                offset += 10
                if offset + rdlen > len(raw):
                    raise WireError("rdata runs past the end")
                rrs.append(RR(name, rtype, rclass, ttl, raw[offset:offset + rdlen]))
                offset += rdlen
            sections.append(rrs)
        self.answer, self.authority, additional = sections
        self.trailing = raw[offset:]
        self.opt = None
        self.additional = []
        for rr in additional:
            if rr.type == 41:
                self.opt = rr
            else:
                self.additional.append(rr)

    @property
    def rcode(self):
        ext = (self.opt.ttl >> 24) if self.opt else 0
        value = (ext << 4) | self.rcode_low
        return RCODES.get(value, "RCODE%d" % value)

    @property
    def edns(self):
        if self.opt is None:
            return None
        options, data = [], self.opt.rdata
        while len(data) >= 4:
            code, length = struct.unpack("!HH", data[:4])
            options.append((code, data[4:4 + length]))
            data = data[4 + length:]
        return {"udp": self.opt.rclass, "version": (self.opt.ttl >> 16) & 0xFF,
                "do": bool(self.opt.ttl & 0x8000), "options": options}

    @property
    def flags(self):
        names = ("qr", "aa", "tc", "rd", "ra", "ad", "cd")
        return {n for n in names if getattr(self, n)}


def parse_message(raw):
    return Message(raw)


def a_rdata(address):
    return socket.inet_pton(socket.AF_INET, address)


def aaaa_rdata(address):
    return socket.inet_pton(socket.AF_INET6, address)


def txt_rdata(*strings):
    out = b""
    for s in strings:
        raw = s.encode() if isinstance(s, str) else s
        out += bytes([len(raw)]) + raw
    return out


# --------------------------------------------------------------------------------------------
# Raw exchanges

def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_exchange(payload, port, host="127.0.0.1", timeout=3.0, source=None):
    """Send one datagram, return the first reply's bytes (None on timeout)."""
    with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def tcp_connect(port, host="127.0.0.1", timeout=3.0, source=None):
    s = socket.create_connection((host, port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def frame(payload):
    return struct.pack("!H", len(payload)) + payload


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def recv_frame(sock):
    (length,) = struct.unpack("!H", recv_exact(sock, 2))
    return recv_exact(sock, length)


def tcp_exchange(payloads, port, host="127.0.0.1", timeout=3.0, source=None):
    """Write every framed query at once on one connection, then read as many replies."""
    with tcp_connect(port, host, timeout, source) as s:
        s.sendall(b"".join(frame(p) for p in payloads))
        return [recv_frame(s) for _ in payloads]


# --------------------------------------------------------------------------------------------
# dig / kdig

class Reply:
    """A reply as a client printed it. rcode is a name ('NOERROR'); flags a set ('qr', 'aa',
    'tc'…); answer/authority/additional lists of RR with .data text; edns None or a dict with
    udp, version, do, options; size the received message size in bytes; timeout True when no
    answer came."""

    def __init__(self, text, timeout=False):
        self.text = text
        self.timeout = timeout
        self.rcode = None
        self.id = None
        self.flags = set()
        self.question = []
        self.answer, self.authority, self.additional = [], [], []
        self.edns = None
        self.size = None
        self.transport = None
        self.elapsed = None

    def answers(self, rtype=None):
        return [rr.data for rr in self.answer if rtype is None or rr.type_name == rtype]

    def __repr__(self):
        return ("Reply(rcode=%s flags=%s answer=%s authority=%s edns=%s size=%s timeout=%s)"
                % (self.rcode, sorted(self.flags), self.answer, self.authority, self.edns,
                   self.size, self.timeout))


def _parse_dig(text):
    reply = Reply(text)
    section = None
    for line in text.splitlines():
        m = re.search(r"->>HEADER<<- opcode: \w+, status: (\w+), id: (\d+)", line)
        if m:
            # A second header means dig retried (e.g. over TCP after TC=1): keep the last.
            reply = Reply(text)
            reply.rcode, reply.id = m.group(1), int(m.group(2))
            section = None
            continue
        m = re.match(r";; flags:([^;]*);", line)
        if m:
            reply.flags = set(m.group(1).split())
            continue
        m = re.match(r"; EDNS: version: (\d+), flags:([^;]*); udp: (\d+)", line)
        if m:
            reply.edns = {"version": int(m.group(1)), "do": "do" in m.group(2).split(),
                          "udp": int(m.group(3)), "options": []}
            continue
        m = re.match(r";; MSG SIZE\s+rcvd: (\d+)", line)
        if m:
            reply.size = int(m.group(1))
            continue
        m = re.match(r";; SERVER: \S+ \((\w+)\)", line)
        if m:
            reply.transport = m.group(1)
            continue
        m = re.match(r";; (QUESTION|ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
        if m:
            section = m.group(1)
            continue
        if not line.strip():
            section = None
            continue
        if line.startswith(";"):
            if section == "QUESTION":
                reply.question.append(line[1:].split())
            elif reply.edns is not None and re.match(r"; [A-Z][A-Z0-9=]*:", line):
                reply.edns["options"].append(line[2:])
            continue
        if section in ("ANSWER", "AUTHORITY", "ADDITIONAL"):
            parts = line.split(None, 4)
            if len(parts) < 4:
                continue
            name, ttl, rclass, rtype = parts[:4]
            data = parts[4] if len(parts) > 4 else ""
            tcode = type_code(rtype) if (rtype in TYPES or rtype.startswith("TYPE")) else -1
            rr = RR(name, tcode, rclass, int(ttl), None, data, type_name=rtype)
            {"ANSWER": reply.answer, "AUTHORITY": reply.authority,
             "ADDITIONAL": reply.additional}[section].append(rr)
    return reply


def _in_netns(netns_pid):
    return ["nsenter", "-t", str(netns_pid), "-n"] if netns_pid else []


def dig(name, qtype="A", port=53, server="127.0.0.1", options=(), qclass=None, source=None,
        tcp=False, timeout=2, tries=1, netns_pid=None):
    """Run dig and parse its reply. options are extra '+foo' flags ('+dnssec', '+bufsize=1232',
    '+ignore', '+notcp', '+noedns', '+norec'…). netns_pid: run dig in that process's network
    namespace."""
    argv = _in_netns(netns_pid) + [
        "dig", "-p", str(port), "@" + server, "+tries=%d" % tries, "+time=%d" % timeout,
        "+nocmd", "+nomultiline"]
    if source:
        argv += ["-b", source]
    if tcp:
        argv.append("+tcp")
    argv += list(options)
    if qclass:
        argv += ["-c", qclass]
    argv += ["-q", name, "-t", qtype if isinstance(qtype, str) else "TYPE%d" % qtype]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * tries + 10)
    elapsed = time.monotonic() - started
    text = proc.stdout + proc.stderr
    if "->>HEADER<<-" not in text:
        reply = Reply(text, timeout=True)
    else:
        reply = _parse_dig(text)
    reply.elapsed = elapsed
    return reply


def _kdig_rdata(rr):
    for key, value in rr.items():
        if key.startswith("rdata") and key != "rdataHEX":
            return value if isinstance(value, str) else json.dumps(value)
    return rr.get("RDATAHEX")


def kdig(name, qtype="A", port=53, server="127.0.0.1", options=(), source=None, tcp=False,
         timeout=2, retry=0, netns_pid=None):
    """Run kdig +json (RFC 8427 output) and return the same Reply shape as dig()."""
    argv = _in_netns(netns_pid) + [
        "kdig", "+json", "-p", str(port), "@" + server, "+retry=%d" % retry,
        "+timeout=%d" % timeout]
    if source:
        argv += ["-b", source]
    if tcp:
        argv.append("+tcp")
    argv += list(options)
    argv += ["-q", name, "-t", qtype if isinstance(qtype, str) else "TYPE%d" % qtype]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout * (retry + 1) + 10)
    elapsed = time.monotonic() - started
    text = proc.stdout
    start = text.find("{")
    if start < 0:
        reply = Reply(proc.stdout + proc.stderr, timeout=True)
        reply.elapsed = elapsed
        return reply
    doc, _ = json.JSONDecoder().raw_decode(text[start:])
    reply = Reply(proc.stdout + proc.stderr)
    reply.elapsed = elapsed
    reply.id = doc.get("ID")
    reply.flags = {f.lower() for f in ("QR", "AA", "TC", "RD", "RA", "AD", "CD") if doc.get(f)}
    reply.size = doc.get("msgLength")
    reply.question = [[doc.get("QNAME"), doc.get("QCLASSname"), doc.get("QTYPEname")]]
    rcode = doc.get("RCODE", 0)
    for section, key in ((reply.answer, "answerRRs"), (reply.authority, "authorityRRs"),
                         (reply.additional, "additionalRRs")):
        for rr in doc.get(key, []):
            if rr.get("TYPE") == 41:
                ttl = rr.get("TTL", 0)
                rcode |= (ttl >> 24) << 4
                options = []
                data = bytes.fromhex(rr.get("RDATAHEX", ""))
                while len(data) >= 4:
                    code, length = struct.unpack("!HH", data[:4])
                    options.append((code, data[4:4 + length]))
                    data = data[4 + length:]
                reply.edns = {"udp": rr.get("CLASS"), "version": (ttl >> 16) & 0xFF,
                              "do": bool(ttl & 0x8000), "options": options}
                continue
            section.append(RR(rr.get("NAME"), rr.get("TYPE"), rr.get("CLASS"), rr.get("TTL"),
                              bytes.fromhex(rr.get("RDATAHEX", "")), _kdig_rdata(rr),
                              type_name=rr.get("TYPEname")))
    reply.rcode = RCODES.get(rcode, "RCODE%d" % rcode)
    return reply
