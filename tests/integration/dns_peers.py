"""Upstream DNS servers for the end-to-end tests, each started by the test on a free loopback port.

- ``KnotPeer``: knotd (Debian package ``knot``) serving data/test.zone, signed on load
  (RRSIGs come back only when the query has DO=1, which proves DO passes through the gateway),
  and data/dyndns.org.zone (unsigned). Authoritative: NXDOMAIN/NODATA carry the SOA (RFC 2308),
  answers larger than the query's UDP size come back with TC=1 over UDP and whole over TCP.
- ``UnboundPeer``: unbound (``unbound``) resolving test. and dyndns.org. from a KnotPeer, with
  test.'s key as its trust anchor: a real validating upstream (AD on validated answers, REFUSED
  to RD=0, BADVERS to EDNS version 1, FORMERR to TC=1), as a home network's ISP resolver is.
- ``DnsmasqPeer``: dnsmasq (``dnsmasq-base``) with records on the command line and
  ``--log-queries=extra`` on stderr, a second, different real server.
- ``RecordingUpstream``: a scriptable Python server (UDP and TCP on loopback) that answers from a
  table and records every raw query, to assert byte-for-byte forwarding, count what reached the
  upstream (cache tests), and play a silent or dead upstream.

Every server is stopped by the PID of the process we started (or by closing our own sockets).
"""

import heapq
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import harness
from harness import (LinePump, Message, WireError, encode_name, free_port, opt_rr, popen,
                     require, soa_rdata, stop_process, udp_exchange)


def wait_until_answers(port, name, qtype="SOA", check=None, host="127.0.0.1", timeout=15.0,
                       edns=None):
    """Poll a server with a probe query until it answers (check(Message) true), or fail at the
    deadline. There is no readiness signal to wait on, so a deadline-bounded poll it is."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        raw = udp_exchange(harness.build_query(name, qtype, edns=edns), port, host, timeout=0.2)
        if raw is not None:
            try:
                last = Message(raw)
                if check is None or check(last):
                    return last
            except WireError:
                pass
    raise RuntimeError("server on %s:%d did not answer %s/%s within %.0fs (last: %r)"
                       % (host, port, name, qtype, timeout, last))


class PeerProcess:
    """A server process we started, its stderr pumped into self.log, its files in self.dir."""

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)
            self.log.join()
            self.proc.stderr.close()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class KnotPeer(PeerProcess):
    """knotd serving test. (signed) and dyndns.org. from tests/integration/data."""

    ZONES = ("test", "dyndns.org")

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dynamo-knot-")
        self.proc = None
        self.log = None

    def start(self):
        os.makedirs(os.path.join(self.dir, "db"))  # the KASP database wants its directory
        for zone in self.ZONES:
            shutil.copy(os.path.join(harness.DATA_DIR, zone + ".zone"), self.dir)
        conf = os.path.join(self.dir, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    rundir: "{self.dir}"
    listen: 127.0.0.1@{self.port}
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "{self.dir}/db"
template:
  - id: default
    storage: "{self.dir}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: test
    dnssec-signing: on
  - domain: dyndns.org
""")
        knotd = require("knotd", "knot")
        self.proc = popen([knotd, "-c", conf], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = LinePump(self.proc.stderr)
        try:
            # Ready when both zones are loaded and test. is signed.
            wait_until_answers(self.port, "test", "SOA", edns={"do": True},
                               check=lambda m: any(rr.type == 46 for rr in m.answer))
            wait_until_answers(self.port, "dyndns.org", "SOA", check=lambda m: m.answer)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("%s\nknotd log:\n%s" % (e, self.log.text()))
        return self


class UnboundPeer(PeerProcess):
    """unbound validating what a KnotPeer serves: stub zones for its zones, test.'s KSK (read
    from knotd) as the trust anchor, so answers from test. come back with AD."""

    def __init__(self, knot):
        self.knot = knot
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dynamo-unbound-")
        self.proc = None
        self.log = None

    def start(self):
        ksk = [rr for rr in harness.dig("test", "DNSKEY", port=self.knot.port).answer
               if rr.data.startswith("257 ")]
        if not ksk:
            raise RuntimeError("knotd served no KSK for test.")
        stubs = "".join('stub-zone:\n    name: "%s"\n    stub-addr: 127.0.0.1@%d\n'
                        % (zone, self.knot.port) for zone in KnotPeer.ZONES)
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            # test. is one of unbound's built-in local zones (RFC 6761): nodefault hands it to
            # the stub. No root anchor: only test. validates, nothing else is looked up.
            f.write(f"""server:
    interface: 127.0.0.1@{self.port}
    port: {self.port}
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{self.dir}"
    pidfile: "{self.dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    so-reuseport: no
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "validator iterator"
    trust-anchor: "test. DNSKEY {ksk[0].data}"
    local-zone: "test." nodefault
    rrset-roundrobin: no
{stubs}remote-control:
    control-enable: no
""")
        self.proc = popen([require("unbound", "unbound"), "-d", "-c", conf],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
        self.log = LinePump(self.proc.stderr)
        try:
            # Ready when it resolves through knotd and validates.
            wait_until_answers(self.port, "test", "SOA", edns={"do": True},
                               check=lambda m: m.ad and m.answer)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("%s\nunbound log:\n%s" % (e, self.log.text()))
        return self


class DnsmasqPeer(PeerProcess):
    """dnsmasq as an authoritative-ish upstream for a few names, every query logged."""

    def __init__(self, records=(), local=("test",), local_ttl=300):
        """records: dnsmasq options without '--', e.g. 'address=/a.test/192.0.2.7',
        'txt-record=t.test,hello'. local: domains answered only from records (NXDOMAIN else)."""
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dynamo-dnsmasq-")
        self.records = list(records)
        self.local = list(local)
        self.local_ttl = local_ttl
        self.proc = None
        self.log = None

    def start(self):
        argv = [require("dnsmasq", "dnsmasq-base"), "-k", "--no-resolv", "--no-hosts",
                "--conf-file=/dev/null", "--port", str(self.port), "--listen-address",
                "127.0.0.1", "--bind-interfaces", "--pid-file=" + os.path.join(self.dir, "pid"),
                "--cache-size=0", "--local-ttl=%d" % self.local_ttl, "--log-queries=extra", "--log-facility=-",
                ]
        argv += ["--local=/%s/" % d for d in self.local]
        argv += ["--" + r for r in self.records]
        self.proc = popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
        self.log = LinePump(self.proc.stderr)
        try:
            wait_until_answers(self.port, "probe." + self.local[0], "A")
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("%s\ndnsmasq log:\n%s" % (e, self.log.text()))
        return self

    def queries(self, start=0):
        """The 'query[TYPE] name from addr' lines dnsmasq logged (minus our own probes)."""
        return [l for l in self.log.lines(start) if " query[" in l and " probe." not in l]

    def kill(self):
        """A dead upstream: the process is gone, its port answers ICMP port-unreachable."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)



class Recorded:
    def __init__(self, transport, raw, when):
        self.transport, self.raw, self.when = transport, raw, when
        try:
            self.msg = Message(raw)
        except WireError:
            self.msg = None

    @property
    def qname(self):
        return self.msg.question[0][0] if self.msg and self.msg.question else None

    @property
    def qtype(self):
        return self.msg.question[0][1] if self.msg and self.msg.question else None


class RecordingUpstream:
    """A scriptable DNS server on 127.0.0.1 (UDP and TCP, one port) that records raw queries.

    add(name, type, rdata, ttl) puts a record in its table; every other name is NXDOMAIN with an
    SOA (minimum 60). mode: 'answer' (default), 'drop' (record, never reply: a silent upstream),
    'servfail'. delay: seconds before each reply. response_options: EDNS options added to every
    reply whose query had an OPT. stop() closes the sockets: a dead upstream."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.port = free_port((host,))
        self.table = {}
        self.mode = "answer"
        self.delay = 0.0
        self.response_options = []
        self.responder = None  # optional callable(Recorded) -> bytes | None, overrides the table
        self.queries = []
        self.sent = []  # (query Recorded, reply bytes)
        self._cond = threading.Condition()
        self._stop = False
        self._thread = None

    # ---- table

    def add(self, name, rtype, rdata, ttl=300, rclass=1):
        key = (name.rstrip(".").lower(), harness.type_code(rtype), rclass)
        self.table.setdefault(key, []).append((ttl, rdata))
        return self

    # ---- recording

    def count(self, name=None, qtype=None):
        with self._cond:
            return sum(1 for q in self.queries
                       if (name is None or (q.qname or "").rstrip(".").lower() ==
                           name.rstrip(".").lower())
                       and (qtype is None or q.qtype == harness.type_code(qtype)))

    def wait_for_count(self, n, name=None, qtype=None, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._count_locked(name, qtype) >= n:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def _count_locked(self, name, qtype):
        return sum(1 for q in self.queries
                   if (name is None or (q.qname or "").rstrip(".").lower() ==
                       name.rstrip(".").lower())
                   and (qtype is None or q.qtype == harness.type_code(qtype)))

    def received(self):
        with self._cond:
            return list(self.queries)

    def replies(self):
        """(Recorded query, reply bytes) for every reply sent."""
        with self._cond:
            return list(self.sent)

    # ---- answering

    def reply_for(self, rec):
        try:
            return self._reply_for(rec)
        except Exception:  # a malformed query must never kill the server thread
            return None

    def _reply_for(self, rec):
        if self.responder is not None:
            return self.responder(rec)
        if self.mode == "drop":
            return None
        q = rec.msg
        if q is None or q.qr or not q.question:
            return None
        qname, qtype, qclass = q.question[0]
        question = rec.raw[12:q.question_end]
        rcode, answers, authority = 0, [], []
        if self.mode == "servfail":
            rcode = 2
        else:
            key = (qname.rstrip(".").lower(), qtype, qclass)
            name_known = any(k[0] == key[0] for k in self.table)
            if key in self.table:
                # Owner name is a pointer to the question (offset 12): the client's case stays.
                answers = [b"\xc0\x0c" + struct.pack("!HHIH", qtype, qclass, ttl, len(rdata))
                           + rdata for ttl, rdata in self.table[key]]
            else:
                rcode = 0 if name_known else 3
                labels = qname.rstrip(".").split(".")
                zone = ".".join(labels[1:]) if len(labels) > 1 else (labels[0] or ".")
                soa = soa_rdata("ns." + zone, "hostmaster." + zone, minimum=60)
                authority = [encode_name(zone) + struct.pack("!HHIH", 6, 1, 60, len(soa)) + soa]
        flags = 0x8000 | (q.opcode << 11) | 0x0080 | (0x0100 if q.rd else 0) | \
            (0x0010 if q.cd else 0) | rcode
        additional = []
        if q.opt is not None:
            additional.append(opt_rr(1232, do=q.edns["do"], options=self.response_options))
        body = question + b"".join(answers) + b"".join(authority) + b"".join(additional)
        reply = struct.pack("!HHHHHH", q.id, flags, 1, len(answers), len(authority),
                            len(additional)) + body
        if rec.transport == "udp":
            limit = max(512, q.edns["udp"]) if q.opt is not None else 512
            if len(reply) > limit:  # RFC 1035 §4.2.1 / RFC 6891 §7: TC=1, the client retries TCP
                reply = struct.pack("!HHHHHH", q.id, flags | 0x0200, 1, 0, 0,
                                    len(additional)) + question + b"".join(additional)
        return reply

    # ---- server loop

    def start(self):
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((self.host, self.port))
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((self.host, self.port))
        self._tcp.listen(16)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _record(self, transport, raw):
        rec = Recorded(transport, raw, time.monotonic())
        with self._cond:
            self.queries.append(rec)
            self._cond.notify_all()
        return rec

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        buffers = {}
        pending = []  # heap of (when, seq, kind, sock, addr, bytes)
        seq = 0
        try:
            while not self._stop:
                timeout = None
                if pending:
                    timeout = max(0.0, pending[0][0] - time.monotonic())
                for key, _ in sel.select(timeout):
                    kind = key.data
                    if kind == "wake":
                        self._wake_r.recv(64)
                    elif kind == "udp":
                        try:
                            raw, addr = self._udp.recvfrom(65535)
                        except OSError:
                            continue
                        rec = self._record("udp", raw)
                        reply = self.reply_for(rec)
                        if reply is not None:
                            seq += 1
                            heapq.heappush(pending, (time.monotonic() + self.delay, seq, "udp",
                                                     None, addr, reply, rec))
                    elif kind == "accept":
                        conn, _ = self._tcp.accept()
                        conn.setblocking(False)
                        buffers[conn] = b""
                        sel.register(conn, selectors.EVENT_READ, "conn")
                    else:
                        conn = key.fileobj
                        try:
                            data = conn.recv(65535)
                        except OSError:
                            data = b""
                        if not data:
                            sel.unregister(conn)
                            buffers.pop(conn, None)
                            conn.close()
                            continue
                        buf = buffers[conn] + data
                        while len(buf) >= 2:
                            (length,) = struct.unpack("!H", buf[:2])
                            if len(buf) < 2 + length:
                                break
                            raw, buf = buf[2:2 + length], buf[2 + length:]
                            rec = self._record("tcp", raw)
                            reply = self.reply_for(rec)
                            if reply is not None:
                                seq += 1
                                heapq.heappush(pending, (time.monotonic() + self.delay, seq,
                                                         "tcp", conn, None, reply, rec))
                        buffers[conn] = buf
                now = time.monotonic()
                while pending and pending[0][0] <= now:
                    _, _, kind, conn, addr, reply, rec = heapq.heappop(pending)
                    with self._cond:  # before sending: the test may read it as soon as it arrives
                        self.sent.append((rec, reply))
                    try:
                        if kind == "udp":
                            self._udp.sendto(reply, addr)
                        elif conn in buffers:
                            conn.setblocking(True)
                            conn.sendall(struct.pack("!H", len(reply)) + reply)
                            conn.setblocking(False)
                    except OSError:
                        pass
        finally:
            for conn in list(buffers):
                conn.close()
            sel.close()

    def stop(self):
        """Close every socket: from now on the port is dead (ICMP port unreachable)."""
        if self._thread is None:
            return
        self._stop = True
        self._wake_w.send(b"x")
        self._thread.join(5)
        self._thread = None
        for s in (self._udp, self._tcp, self._wake_r, self._wake_w):
            s.close()
