#!/usr/bin/env python3
"""Dynamo Gateway beside dnsmasq, unbound, dnsdist and a floor, under dnsperf and callgrind.

A benchmark, not a test (docs/architecture.md#tests): it measures and prints; it never passes
or fails. bench/run.sh installs the packages and builds the daemon, then runs this. Standard
library only.

In order:
  1. knotd on a free loopback port, authoritative for a generated zone "bench." (10,000 names
     and a wildcard): the one upstream every forwarder uses. Nothing leaves loopback.
  2. --runs (3) interleaved runs: run 1 of every server, then run 2 of every server, ..., the
     order turned by one each run (A B C, B C A, C A B) so that no server always goes first or
     last. In each, for each server in turn (the others are stopped, so they share no CPU): start it
     on a free loopback port, pinned to one core (dnsperf and knotd on the others; unpinned
     on a 1-core machine), with the upstream above and a 10,000-answer cache, check by hand
     that it answers the three kinds of query right, then dnsperf workloads of --duration
     seconds each (-c 10 -q 100), every one also capped in queries:
       intercept  members.dyndns.org A, answered locally (Dynamo Gateway by design, the peers
                  configured to do the same); first, so VmHWM after it is the local path's
       hits       100 names, warmed up by one pass, then repeated: answered from the cache
       hits-5k    the same at a fixed --latency-qps (dnsperf -Q 5000); not by default
       misses     the cache first filled with 11,000 unique names, then unique names under
                  *.u.bench, each asked once: every query is forwarded, inserted in a full
                  cache and evicts an answer
       misses-5k  other unique names at the fixed rate, the cache full; not by default
     with the server's CPU time (utime + stime of /proc/PID/stat, all its threads) around each
     and its memory (VmRSS, VmHWM) after each, and the server is stopped by its PID. Then it
     is started again with its cache off (where it has such a knob) for
       misses-nocache  unique names again: parse, forward, relay, nothing kept
     and the run's table is printed.
  3. The p99 at --latency-qps, side by side (bench_latency): every server running at once,
     --latency-slices rounds of one --latency-seconds slice per server on the hot names and
     one on new unique names, the order turned each round, each server's slices pooled.
  4. Instructions per query under callgrind for each path (bench/callgrind.py), once per
     server of --callgrind-servers (they do not move with the machine's load): each path
     measured as the difference of two runs.
  5. The final table, the median of each figure over the runs, in the shape of issue 8: rows
     are paths (server CPU µs per answered query on each, p99 at the fixed rate, RSS idle,
     local peak and with a full cache, instructions per query), columns the servers and the
     floor, and a goal column (0.95 × the best peer). The "floor" column is bench/floor
     (dns-floor): recvmmsg, the question echoed with one fixed A answer, sendmmsg; the least a
     UDP responder does here, so every figure reads as a distance to it.

Raw dnsperf outputs (the per-query lines dropped; --keep-verbose keeps them gzipped), server
logs, Dynamo Gateway's /metrics after each workload (per run in run1/, run2/, ...),
median.txt/.md, summary.txt/.md and results.json go to --results. Every process is one we
started, stopped by its PID; the temp dir is removed.
"""

import argparse
import collections
import ctypes
import datetime
import gzip
import json
import os
import platform
import pwd
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import callgrind

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)

ZONE_NAMES = 10000   # n00000.bench .. n09999.bench
HIT_NAMES = 100      # the hot set of the cache-hit workload
CACHE_SIZE = 10000   # answers, for every server that counts in answers
FILL_NAMES = CACHE_SIZE + CACHE_SIZE // 10  # asked before the miss load: the cache is full
FLOOR_ADDRESS = "192.0.2.1"  # the one answer of dns-floor
INTERCEPT_NAME = "members.dyndns.org"
STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------------------------
# Processes: each child dies with us (PR_SET_PDEATHSIG), so even a SIGKILLed benchmark leaves
# nothing bound to a port; normally each is stopped by its PID in stop().

def _die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# Pinning (what `taskset -c` does, done in the child before its exec, so the PID we read /proc
# of is the server's own): the server measured on one core, dnsperf and the upstream on the
# others, so the load generator never takes the server's core. None: unpinned (set_pinning).
PIN = {"server": None, "load": None}


def set_pinning(enabled):
    """Splits the CPUs we may run on: the first for the server, the rest for the load. Returns
    a sentence saying what was done."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled:
        return "unpinned (--no-pin)"
    if len(cpus) < 2:
        return "unpinned: this machine gives us only 1 core (%s)" % cpus
    PIN["server"], PIN["load"] = {cpus[0]}, set(cpus[1:])
    return "server pinned to CPU %d, dnsperf and knotd to CPU %s" % (
        cpus[0], ",".join(str(c) for c in cpus[1:]))


def popen(argv, cpus=None, **kwargs):
    def child():
        _die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)  # inherited by every thread it starts
    return subprocess.Popen(argv, preexec_fn=child, stdin=subprocess.DEVNULL, **kwargs)


def stop_process(proc, timeout=STOP_TIMEOUT):
    """SIGTERM one process we started, by its PID; SIGKILL if it outlives the deadline.
    Returns its exit status."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=5)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (released again; we start right after)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port")


def proc_status(pid):
    """VmRSS and VmHWM in KiB, and CPU seconds (user + system), from /proc/PID."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out["cpu"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return out


def fill(template, values):
    with open(os.path.join(BENCH_DIR, template)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, str(value))
    leftover = re.search(r"@[A-Z_]+@", text)
    assert leftover is None, "unfilled %s in %s" % (leftover.group(0), template)
    return text


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (r.stdout or r.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# --------------------------------------------------------------------------------------------
# A little DNS, for readiness polls and the answer checks before each load.

def build_query(name, qtype=1):
    qid = random.randrange(65536)
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    return qid, struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


def _skip_name(msg, pos):
    while True:
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length
        if length == 0:
            return pos


def ask(port, name, qtype=1, timeout=0.3):
    """(rcode, [IPv4 strings in the answer]) or None when nothing came back."""
    qid, query = build_query(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query, ("127.0.0.1", port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                raw = s.recv(65535)
                if len(raw) >= 12 and struct.unpack("!H", raw[:2])[0] == qid:
                    break
            else:
                return None
        except OSError:
            return None
    try:
        flags, qd, an = struct.unpack("!HHH", raw[2:8])
        pos = 12
        for _ in range(qd):
            pos = _skip_name(raw, pos) + 4
        addresses = []
        for _ in range(an):
            pos = _skip_name(raw, pos)
            rtype, _, _, rdlen = struct.unpack("!HHIH", raw[pos:pos + 10])
            pos += 10
            if rtype == 1 and rdlen == 4:
                addresses.append(socket.inet_ntoa(raw[pos:pos + 4]))
            pos += rdlen
        return flags & 0xF, addresses
    except (struct.error, IndexError):
        return None


def wait_until_answers(port, name, proc, timeout, qtype=1, probe_timeout=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with status %d before answering" % proc.returncode)
        reply = ask(port, name, qtype, timeout=probe_timeout)
        if reply is not None and reply[0] == 0:
            return
        time.sleep(0.05)
    raise RuntimeError("no NOERROR answer for %s within %.0f s" % (name, timeout))


# --------------------------------------------------------------------------------------------
# Data: the zone and the query files, made in the temp dir.

def zone_address(i):
    return "198.51.%d.%d" % (i // 250, i % 250 + 1)


def write_zone(path):
    with open(path, "w") as f:
        f.write("$ORIGIN bench.\n$TTL 3600\n"
                "@ SOA ns.bench. hostmaster.bench. 1 3600 600 86400 3600\n"
                "@ NS ns.bench.\nns A 127.0.0.1\n"
                "*.u A 192.0.2.2\n")  # the unique names of the miss workload
        for i in range(ZONE_NAMES):
            f.write("n%05d A %s\n" % (i, zone_address(i)))


def write_queries(directory, max_queries, callgrind_queries, latency_queries, latency_slices=0,
                  latency_slice_queries=0):
    files = {}
    files["hits"] = os.path.join(directory, "hits.txt")
    with open(files["hits"], "w") as f:
        for i in range(HIT_NAMES):
            f.write("n%05d.bench A\n" % (i * (ZONE_NAMES // HIT_NAMES)))
    files["misses"] = os.path.join(directory, "misses.txt")
    with open(files["misses"], "w") as f:
        for i in range(max_queries):
            f.write("q%07d.u.bench A\n" % i)
    # Unique names of the fixed-rate miss load, none asked before it.
    files["misses-5k"] = os.path.join(directory, "misses-5k.txt")
    with open(files["misses-5k"], "w") as f:
        for i in range(latency_queries):
            f.write("p%07d.u.bench A\n" % i)
    # One file per round of the side-by-side p99 phase: each round's misses are new names.
    files["latency-misses"] = []
    for k in range(latency_slices):
        files["latency-misses"].append(os.path.join(directory, "latency-misses-%02d.txt" % k))
        with open(files["latency-misses"][-1], "w") as f:
            for i in range(latency_slice_queries):
                f.write("l%02d-%07d.u.bench A\n" % (k, i))
    files["intercept"] = os.path.join(directory, "intercept.txt")
    with open(files["intercept"], "w") as f:
        f.write(("%s A\n" % INTERCEPT_NAME) * 100)
    # Names no measured load asks: the fill before the miss load, a warm-up of the cache-off
    # callgrind runs, and the measured unique names of the callgrind runs.
    for key, prefix, count in (("fill", "f", FILL_NAMES), ("warm_unique", "w", 100),
                               ("callgrind_unique", "c", callgrind_queries)):
        files[key] = os.path.join(directory, key + ".txt")
        with open(files[key], "w") as f:
            for i in range(count):
                f.write("%s%07d.u.bench A\n" % (prefix, i))
    return files


# --------------------------------------------------------------------------------------------
# The servers

class Server:
    name = "?"
    binary = None
    # False for a server with no way to turn its cache off (its misses-nocache is not run).
    has_cache_off = True
    # Which side of the pinning it runs on (PIN): the measured server, or the load (knotd).
    role = "server"

    def __init__(self, workdir, results, upstream_port, cache=True, tag=""):
        """cache=False: the server's cache off. tag tells apart several starts of one server."""
        self.tag = tag
        # One directory per start: a server starts once per run and per cache setting.
        self.dir = tempfile.mkdtemp(prefix=self.name + tag + "-", dir=workdir)
        self.results = results
        self.uport = upstream_port
        self.cache = cache
        self.port = free_port()
        self.proc = None
        self.log = None
        self.prefix = []          # e.g. valgrind's argv (bench/callgrind.py)
        self.probe_timeout = 0.3
        self.stop_timeout = STOP_TIMEOUT

    def expected_answers(self):
        """name -> the address each check query must get (check_answers)."""
        return {"n%05d.bench" % 1: zone_address(1), "check1.u.bench": "192.0.2.2",
                INTERCEPT_NAME: "127.0.0.1"}

    def argv(self):
        raise NotImplementedError

    def version(self):
        raise NotImplementedError

    def ready_probe(self):
        return "n00001.bench"

    def start(self, timeout=30.0):
        self.log = open(os.path.join(self.results, self.name + self.tag + ".log"), "wb")
        self.proc = popen(self.prefix + self.argv(), stdout=self.log, stderr=subprocess.STDOUT,
                          cwd=self.dir, cpus=None if self.prefix else PIN[self.role])
        try:
            wait_until_answers(self.port, self.ready_probe(), self.proc, timeout,
                               probe_timeout=self.probe_timeout)
        except RuntimeError as e:
            log = self.log.name
            self.stop()
            raise RuntimeError("%s: %s (log: %s)" % (self.name, e, log))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        status = None
        if self.proc is not None:
            status = stop_process(self.proc, timeout=self.stop_timeout)
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
        return status


class Knot(Server):
    name = "knotd"
    role = "load"

    def argv(self):
        os.makedirs(os.path.join(self.dir, "db"))
        write_zone(os.path.join(self.dir, "bench.zone"))
        conf = os.path.join(self.dir, "knot.conf")
        with open(conf, "w") as f:
            f.write(fill("knot.conf", {"DIR": self.dir, "UPORT": self.port}))
        return [shutil.which("knotd") or "/usr/sbin/knotd", "-c", conf]

    def version(self):
        return first_line(["knotd", "--version"])


class DynamoGateway(Server):
    name = "dynamo-gateway"
    # The gateway as shipped: serve-stale on (dns.serve_stale.max_stale 1d), so its miss path
    # keeps expired answers and arms the client-facing stale timer.
    max_stale = "1d"

    def __init__(self, workdir, results, upstream_port, daemon, **kwargs):
        super().__init__(workdir, results, upstream_port, **kwargs)
        self.daemon = daemon
        self.http_port = free_port()

    def argv(self):
        os.makedirs(os.path.join(self.dir, "state"))
        conf = os.path.join(self.dir, "dynamo.yaml")
        with open(conf, "w") as f:
            f.write(fill("dynamo-gateway.yaml", {
                "DIR": self.dir, "PORT": self.port, "UPORT": self.uport,
                "HTTP_PORT": self.http_port, "UPDATE_PORT": free_port(),
                # Under callgrind no HTTPS listener: its self-signed certificate (a random RSA
                # key search) would make the runs' counts differ by more than the queries.
                "HTTPS_LISTEN": ('["127.0.0.1:%d"]' % free_port()) if not self.prefix else "[]",
                "CACHE_SIZE": CACHE_SIZE if self.cache else 0, "MAX_STALE": self.max_stale}))
        os.chmod(conf, 0o600)  # it holds (dummy) secrets; the daemon warns otherwise
        return [self.daemon, "--config", conf]

    def version(self):
        v = first_line([self.daemon, "--version"])
        try:
            rev = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            rev = ""
        return "%s (%s)" % (v, rev) if rev else v

    def metrics(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                        timeout=5) as r:
                return r.read().decode("utf-8", "replace")
        except OSError as e:
            return "# could not fetch /metrics: %s\n" % e


class DynamoGatewayNoStale(DynamoGateway):
    """The same gateway with serve-stale off: beside the default column it shows what
    serve-stale costs on each path (RFC 8767 bookkeeping on the miss path above all)."""
    name = "dynamo-gateway-nostale"
    max_stale = "0"


class Dnsmasq(Server):
    name = "dnsmasq"

    def argv(self):
        return [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "-k", "--no-resolv",
                "--no-hosts", "--conf-file=/dev/null", "--port", str(self.port),
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=" + os.path.join(self.dir, "dnsmasq.pid"),
                "--server=127.0.0.1#%d" % self.uport,
                "--cache-size=%d" % (CACHE_SIZE if self.cache else 0),
                "--address=/%s/127.0.0.1" % INTERCEPT_NAME] + (
                    # Started as root it becomes nobody, who could not write callgrind's
                    # output in our temp dir: under callgrind it stays who we are.
                    ["--user=" + pwd.getpwuid(os.getuid()).pw_name] if self.prefix else [])

    def version(self):
        return first_line(["dnsmasq", "--version"])


class Unbound(Server):
    name = "unbound"
    # Its message and RRset caches are sized in bytes and cannot be turned off.
    has_cache_off = False

    def argv(self):
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(fill("unbound.conf", {"DIR": self.dir, "PORT": self.port,
                                          "UPORT": self.uport}))
        return [shutil.which("unbound") or "/usr/sbin/unbound", "-d", "-c", conf]

    def version(self):
        out = subprocess.run(["unbound", "-V"], capture_output=True, text=True).stdout
        m = re.search(r"Version (\S+)", out)
        return "unbound " + (m.group(1) if m else "?")


class Dnsdist(Server):
    name = "dnsdist"

    def argv(self):
        conf = os.path.join(self.dir, "dnsdist.conf")
        with open(conf, "w") as f:
            f.write(fill("dnsdist.conf", {
                "PORT": self.port, "UPORT": self.uport,
                "PACKET_CACHE": ("pc = newPacketCache(%d)\ngetPool(\"\"):setCache(pc)"
                                 % CACHE_SIZE) if self.cache else "-- no packet cache"}))
        return [shutil.which("dnsdist") or "/usr/bin/dnsdist", "--supervised",
                "--disable-syslog", "-C", conf]

    def version(self):
        return first_line(["dnsdist", "--version"])


class Floor(Server):
    """bench/floor's dns-floor: every query answered with its question and one fixed A."""
    name = "floor"

    def __init__(self, workdir, results, upstream_port, binary, **kwargs):
        super().__init__(workdir, results, upstream_port, **kwargs)
        self.binary = binary

    def argv(self):
        return [self.binary, str(self.port)]

    def expected_answers(self):
        return {name: FLOOR_ADDRESS for name in super().expected_answers()}

    def version(self):
        return "dns-floor (bench/floor: recvmmsg, question echoed with one A, sendmmsg)"


# --------------------------------------------------------------------------------------------
# dnsperf

STAT_PATTERNS = {
    "sent": r"Queries sent:\s+(\d+)",
    "completed": r"Queries completed:\s+(\d+)",
    "lost": r"Queries lost:\s+(\d+)",
    "runtime": r"Run time \(s\):\s+([\d.]+)",
    "qps": r"Queries per second:\s+([\d.]+)",
    "avg": r"Average Latency \(s\):\s+([\d.]+)",
    "min": r"Average Latency \(s\):\s+[\d.]+ \(min ([\d.]+)",
    "max": r"Average Latency \(s\):.*max ([\d.]+)\)",
    "stddev": r"Latency StdDev \(s\):\s+([\d.]+)",
}


def percentiles(histogram):
    """{"p50": s, "p99": s, "p999": s} of a {microseconds: count} histogram."""
    out = {}
    total = sum(histogram.values())
    if total:
        ordered = sorted(histogram.items())
        for label, q in (("p50", 0.50), ("p99", 0.99), ("p999", 0.999)):
            rank, seen = q * total, 0
            for usec, n in ordered:
                seen += n
                if seen >= rank:
                    out[label] = usec / 1e6
                    break
    return out


def run_dnsperf(args, port, query_file, maxruns, out_path, keep_verbose, qps=None,
                duration=None, histogram=None):
    """One bounded dnsperf run (-l seconds, -n passes over the file; qps: -Q, a fixed rate).
    -v prints one line per answered query with its latency; we keep a microsecond histogram of
    those for the percentiles dnsperf 2.10 does not print (added into `histogram` too when
    given), and the rest of the output as the raw record. dnsperf runs on the load's side of
    the pinning."""
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", query_file,
            "-l", str(duration or args.duration), "-n", str(maxruns), "-c", str(args.clients),
            "-q", str(args.outstanding), "-t", "5", "-v"] + (["-Q", str(qps)] if qps else [])
    verbose_path = out_path + ".verbose"
    with open(verbose_path, "wb") as out:
        proc = popen(argv, stdout=out, stderr=subprocess.STDOUT, cpus=PIN["load"])
        try:
            proc.wait(timeout=(duration or args.duration) + 30)
        except BaseException:
            stop_process(proc)
            raise
    latencies = collections.Counter()
    rcodes = collections.Counter()
    with open(verbose_path, "rb") as verbose, open(out_path, "w") as raw:
        raw.write("# %s\n" % " ".join(argv))
        for line in verbose:
            if line.startswith(b"> "):
                parts = line.split()
                rcodes[parts[1].decode()] += 1
                try:
                    latencies[int(float(parts[-1]) * 1e6 + 0.5)] += 1
                except ValueError:
                    pass
            else:
                raw.write(line.decode("utf-8", "replace"))
    if keep_verbose:
        with open(verbose_path, "rb") as src, gzip.open(out_path + ".verbose.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.unlink(verbose_path)
    with open(out_path) as f:
        text = f.read()
    result = {"exit": proc.returncode}
    for key, pattern in STAT_PATTERNS.items():
        m = re.search(pattern, text)
        if m:
            result[key] = float(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", text)
    result["rcodes"] = m.group(1).strip() if m else ""
    result["not_noerror"] = sum(n for code, n in rcodes.items() if code != "NOERROR")
    result.update(percentiles(latencies))
    if histogram is not None:
        histogram.update(latencies)
    m = re.search(r"Version (\S+)", text)
    result["dnsperf_version"] = m.group(1) if m else "?"
    return result


# --------------------------------------------------------------------------------------------
# One server through the three workloads

# In the order they run; misses-nocache runs on a second start of the server, its cache off.
# intercept first, on a fresh server: its VmHWM after it is the local path's peak RSS. The
# "-5k" loads are the same paths at a fixed rate (--latency-qps, dnsperf -Q) for their p99.
WORKLOADS = ("intercept", "hits", "hits-5k", "misses", "misses-5k", "misses-nocache")
# The per-run p99 loads are left out by default: the side-by-side phase (bench_latency) gives
# the p99 row.
DEFAULT_WORKLOADS = tuple(w for w in WORKLOADS if not w.endswith("-5k"))
# In the order of the table: the cheapest path first.
TABLE_ORDER = ("intercept", "hits", "misses-nocache", "misses", "hits-5k", "misses-5k")


def check_answers(server):
    """Each kind of query answered right by hand, before any load: what the load measures is
    the work we think it is. Mismatches are printed, never fatal."""
    problems = []
    for name, address in server.expected_answers().items():
        reply = ask(server.port, name, timeout=2.0)
        if reply is None or reply[0] != 0 or address not in reply[1]:
            problems.append("%s A -> %r, expected %s" % (name, reply, address))
    return problems


def measure_workload(server, args, files, results, workload):
    """One dnsperf load against a running server, with the server's CPU time around it."""
    if workload in ("hits", "hits-5k"):  # one pass to fill the cache
        run_dnsperf(args, server.port, files["hits"], 1,
                    os.path.join(results, "%s-%s-warmup.txt" % (server.name, workload)), False)
    if workload == "misses" or (workload == "misses-5k" and "misses" not in args.workloads):
        # the cache full before the load: every insert evicts
        run_dnsperf(args, server.port, files["fill"], 1,
                    os.path.join(results, "%s-%s-fill.txt" % (server.name, workload)), False)
    maxruns = {"hits": max(1, args.max_queries // HIT_NAMES), "misses": 1, "misses-5k": 1,
               "misses-nocache": 1, "intercept": max(1, args.max_queries // 100),
               "hits-5k": max(1, args.max_queries // HIT_NAMES)}[workload]
    query_file = files[{"misses-nocache": "misses", "hits-5k": "hits"}.get(workload, workload)]
    before = proc_status(server.proc.pid)
    result = run_dnsperf(args, server.port, query_file, maxruns,
                         os.path.join(results, "%s-%s.txt" % (server.name, workload)),
                         args.keep_verbose,
                         qps=args.latency_qps if workload.endswith("-5k") else None)
    after = proc_status(server.proc.pid) if server.alive() else {}
    if "cpu" in before and "cpu" in after and result.get("runtime"):
        used = after["cpu"] - before["cpu"]
        result["cpu_pct"] = 100.0 * used / result["runtime"]
        if result.get("completed"):
            result["cpu_us_per_query"] = 1e6 * used / result["completed"]
    result["mem_after"] = after
    print("   %-14s %8.0f qps  avg %.3f ms  p99 %s  lost %d  rcodes: %s" % (
        workload, result.get("qps", 0), result.get("avg", 0) * 1e3,
        ("%.3f ms" % (result["p99"] * 1e3)) if "p99" in result else "-",
        result.get("lost", 0), result["rcodes"]), flush=True)
    return result


def bench_nocache(make, args, files, results, row):
    """misses-nocache: the server started again with its cache off, unique names."""
    server = make(cache=False, tag="-nocache")
    server.start(timeout=60.0)
    try:
        for note in check_answers(server):
            row["notes"].append("cache off: " + note)
            print("   WARNING: cache off: " + note, flush=True)
        row["workloads"]["misses-nocache"] = measure_workload(server, args, files, results,
                                                              "misses-nocache")
    finally:
        server.stop()


def bench_server(make, args, files, results):
    server = make()
    row = {"name": server.name, "version": server.version(), "workloads": {}, "notes": []}
    print("== %s (%s) on 127.0.0.1:%d" % (server.name, row["version"], server.port), flush=True)
    server.start(timeout=60.0)
    try:
        row["notes"] += check_answers(server)
        for note in row["notes"]:
            print("   WARNING: " + note, flush=True)
        row["mem_start"] = proc_status(server.proc.pid)
        metrics = []
        if isinstance(server, DynamoGateway):
            metrics.append(("start", server.metrics()))
        for workload in WORKLOADS:
            if workload not in args.workloads or workload == "misses-nocache":
                continue
            if not server.alive():
                row["notes"].append("not running before %s" % workload)
                break
            row["workloads"][workload] = measure_workload(server, args, files, results,
                                                          workload)
            if isinstance(server, DynamoGateway):
                metrics.append((workload, server.metrics()))
            if not server.alive():
                row["notes"].append("exited with status %s during %s"
                                    % (server.proc.returncode, workload))
        row["mem_end"] = proc_status(server.proc.pid) if server.alive() else {}
        if metrics:
            with open(os.path.join(results, server.name + "-metrics.txt"), "w") as f:
                for label, text in metrics:
                    f.write("# ---- after %s\n%s\n" % (label, text))
            row["counters"] = dynamo_counters(metrics)
    finally:
        status = server.stop()
    if status not in (0, None, -signal.SIGTERM):
        row["notes"].append("exit status %s on SIGTERM" % status)
    if "misses-nocache" in args.workloads:
        if server.has_cache_off:
            try:
                bench_nocache(make, args, files, results, row)
            except RuntimeError as e:  # the other figures of the row stand
                row["notes"].append("cache off: %s" % e)
                print("   could not run it with its cache off: %s" % e, flush=True)
        else:
            row["notes"].append("no way to turn its cache off: misses-nocache not run")
    return row


# --------------------------------------------------------------------------------------------
# The p99 rows, side by side: at a fixed rate every server's latency is a few tens of µs of
# its own over the machine's wake-up and scheduling times, and those drift from one minute to
# the next by more than the servers differ (a run's p99 moves 60–150 µs for the do-nothing
# floor alone). So every server runs at once, idle but for the one being measured, and they
# take turns in short slices many times over, the order turned each round: a slow spell of
# the machine falls on all of them alike. Each server's slices are pooled into one histogram.

LATENCY_PATHS = ("hits", "misses")


def bench_latency(makers, names, args, files, results):
    """{server: {"hits": percentiles, "misses": percentiles, "queries": {...}}}."""
    servers = []
    histograms = {name: {path: collections.Counter() for path in LATENCY_PATHS}
                  for name in names}
    try:
        for name in names:
            server = makers[name]()
            print("== %s on 127.0.0.1:%d" % (name, server.port), flush=True)
            server.start(timeout=60.0)
            servers.append(server)
            for note in check_answers(server):
                print("   WARNING: " + note, flush=True)
            # The cache full, so that every miss evicts.
            run_dnsperf(args, server.port, files["fill"], 1,
                        os.path.join(results, "%s-fill.txt" % name), False)
        hit_passes = max(1, args.max_queries // HIT_NAMES)
        for k in range(args.latency_slices):
            turn = k % len(servers)
            order = servers[turn:] + servers[:turn]
            for path in LATENCY_PATHS:
                # Misses: names no server has seen, the same for each (their caches are
                # their own), new each slice.
                query_file, passes = ((files["hits"], hit_passes) if path == "hits"
                                      else (files["latency-misses"][k], 1))
                for server in order:
                    if not server.alive():
                        raise RuntimeError("%s exited (status %s)"
                                           % (server.name, server.proc.returncode))
                    if path == "hits":  # the last round's misses evicted the hot names
                        run_dnsperf(args, server.port, files["hits"], 1,
                                    os.path.join(results, "%s-warmup.txt" % server.name), False)
                    result = run_dnsperf(
                        args, server.port, query_file, passes,
                        os.path.join(results, "%s-%s-%02d.txt" % (server.name, path, k + 1)),
                        False, qps=args.latency_qps, duration=args.latency_seconds,
                        histogram=histograms[server.name][path])
                    if result.get("lost"):
                        print("   %s %s slice %d: %d lost" % (server.name, path, k + 1,
                                                              result["lost"]), flush=True)
            print("   round %d of %d: %s" % (k + 1, args.latency_slices, "  ".join(
                "%s %s/%s" % (n, *("%.0f" % (percentiles(histograms[n][p]).get("p99", 0) * 1e6)
                                    for p in LATENCY_PATHS)) for n in names)), flush=True)
    finally:
        for server in servers:
            server.stop()
    return {name: dict({path: percentiles(histograms[name][path]) for path in LATENCY_PATHS},
                       queries={path: sum(histograms[name][path].values())
                                for path in LATENCY_PATHS})
            for name in names}


# --------------------------------------------------------------------------------------------
# Instructions per query (bench/callgrind.py): two runs per path, N0 = 0 and N queries after
# the same warm-up, so start-up and warm-up cancel out.

CALLGRIND_PATHS = {True: ("intercept", "hits", "misses"), False: ("misses-nocache",)}


def callgrind_server(make, args, files, results, row, has_cache_off):
    n = args.callgrind_queries
    out = {}
    for cache in (True, False):
        paths = [p for p in CALLGRIND_PATHS[cache] if p in args.workloads]
        if not paths or (not cache and not has_cache_off):
            continue
        try:
            ir0 = callgrind_run(make, files, results, cache, None, 0)
            for path in paths:
                ir = callgrind_run(make, files, results, cache, path, n)
                out[path] = callgrind.per_query(ir0, ir, 0, n)
                print("   %-14s %8.0f instructions per query (callgrind, %d queries)"
                      % (path, out[path], n), flush=True)
        except RuntimeError as e:
            row["notes"].append("callgrind: %s" % e)
            print("   callgrind: %s" % e, flush=True)
    return out


def callgrind_run(make, files, results, cache, path, n):
    """One start of the server under callgrind: the warm-up of its cache setting, n queries of
    path, SIGTERM; the instructions of the whole run."""
    tag = "-callgrind-%s-%s" % ("cache" if cache else "nocache", path or "baseline")
    server = make(cache=cache, tag=tag)
    out_file = os.path.join(server.dir, "callgrind.out")
    server.prefix = callgrind.callgrind_prefix(
        out_file, os.path.join(results, server.name + tag + ".valgrind.log"))
    server.probe_timeout = 3.0
    server.stop_timeout = 300.0   # callgrind writes its totals as the process exits
    server.start(timeout=300.0)

    def send(key, passes):
        with open(files[key]) as f:
            lines = sum(1 for _ in f)
        sent, completed, lost = callgrind.send_queries(
            server.port, files[key], passes, popen=popen,
            out_path=os.path.join(results, "%s%s-%s.txt" % (server.name, tag, key)))
        if completed != passes * lines or lost:
            raise RuntimeError("%s: %d of %d answered under callgrind"
                               % (key, completed, passes * lines))
    try:
        if cache:   # a full cache, the hot names in it
            send("fill", 1)
            send("hits", 1)
            send("intercept", 1)
        else:
            send("warm_unique", 1)
        if path in ("intercept", "hits"):
            send(path, n // 100)
        elif path in ("misses", "misses-nocache"):
            send("callgrind_unique", 1)
    finally:
        status = server.stop()
    if status not in (0, -signal.SIGTERM):
        raise RuntimeError("%s exited with %s under callgrind" % (server.name, status))
    return callgrind.total_instructions(out_file)


COUNTERS = ("dns_servfail_total", "dns_upstream_failures_total", "dns_upstream_overloaded_total",
            'dns_responses_total{outcome="dropped"}', "dns_upstream_coalesced_total",
            "dns_cache_entries", "dns_upstream_in_flight")


def dynamo_counters(metrics):
    """The counters that would show trouble under load, after each workload."""
    out = []
    for label, text in metrics:
        values = {}
        for line in text.splitlines():
            for key in COUNTERS:
                if line.startswith("dynamo_gateway_" + key + " "):
                    values[key] = line.split()[-1]
        out.append((label, values))
    return out


# --------------------------------------------------------------------------------------------
# The table

def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") or line.startswith("Model"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    distro = "?"
    try:
        with open("/etc/os-release") as f:
            distro = re.search(r'PRETTY_NAME="([^"]*)"', f.read()).group(1)
    except (OSError, AttributeError):
        pass
    return "%s, %d cores, %d MiB RAM, %s, Linux %s %s" % (
        model, os.cpu_count(), mem, distro, platform.release(), platform.machine())


def table_rows(rows, args):
    """[(label, [value per server])]; a label without values is a section title."""
    out = []

    def ms(value):
        return "-" if value is None else "%.3f" % (value * 1e3)

    def kib(mem):
        return str(mem["VmRSS"]) if mem and "VmRSS" in mem else "-"

    titles = {"hits-5k": "cache hits at a fixed %d qps (dnsperf -Q)" % args.latency_qps,
              "misses-5k": "cache misses with insert + eviction at a fixed %d qps (dnsperf -Q)"
                           % args.latency_qps,
              "hits": "cache hits (100 names)",
              "misses": "cache misses with insert + eviction (full 10,000-answer cache)",
              "misses-nocache": "cache misses, cache off",
              "intercept": "interception (members.dyndns.org, answered locally)"}
    for workload in TABLE_ORDER:
        if workload not in args.workloads:
            continue
        results = [r["workloads"].get(workload, {}) for r in rows]
        out.append((titles[workload], None))
        out.append(("QPS", ["%.0f" % w["qps"] if "qps" in w else "-" for w in results]))
        out.append(("latency avg ms", [ms(w.get("avg")) for w in results]))
        out.append(("latency p50 ms", [ms(w.get("p50")) for w in results]))
        out.append(("latency p99 ms", [ms(w.get("p99")) for w in results]))
        out.append(("latency max ms", [ms(w.get("max")) for w in results]))
        out.append(("lost / sent", ["%d/%d" % (w["lost"], w["sent"]) if "sent" in w else "-"
                                    for w in results]))
        out.append(("answers not NOERROR", [str(w["not_noerror"]) if "sent" in w else "-"
                                            for w in results]))
        out.append(("server CPU % of a core", ["%.0f" % w["cpu_pct"] if "cpu_pct" in w else "-"
                                              for w in results]))
        out.append(("server CPU µs per answer", ["%.1f" % w["cpu_us_per_query"]
                                                 if "cpu_us_per_query" in w else "-"
                                                 for w in results]))
        out.append(("RSS after, KiB", [kib(w.get("mem_after")) for w in results]))
    out.append(("memory", None))
    out.append(("RSS idle at start, KiB", [kib(r.get("mem_start")) for r in rows]))
    out.append(("peak RSS after the local path (VmHWM), KiB", [
        str(r["workloads"].get("intercept", {}).get("mem_after", {}).get("VmHWM", "-"))
        for r in rows]))
    out.append(("peak RSS (VmHWM), KiB", [str(r.get("mem_end", {}).get("VmHWM", "-"))
                                          for r in rows]))
    return out


def render_text(rows, table):
    """rows: the server rows (or just their names) that make the columns."""
    names = [r if isinstance(r, str) else r["name"] for r in rows]
    width = max(16, max(max(len(n) for n in names) + 2,
                        max(len(v) + 2 for _, values in table for v in values or [""])))
    label_width = max(24, max(len(label) for label, values in table if values is not None))
    lines = [" " * (label_width + 2) + "".join("%*s" % (width, n) for n in names)]
    for label, values in table:
        if values is None:
            lines.append(label)
        else:
            lines.append("  %-*s" % (label_width, label)
                         + "".join("%*s" % (width, v) for v in values))
    return lines


def render_markdown(rows, table):
    names = [r if isinstance(r, str) else r["name"] for r in rows]
    lines = ["| | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for label, values in table:
        if values is None:
            lines.append("| **%s** |" % label + " |" * len(rows))
        else:
            lines.append("| %s | " % label + " | ".join(values) + " |")
    return lines


# --------------------------------------------------------------------------------------------
# The median table: the issue's shape, rows = paths, columns = servers (and the floor), each
# cell the median over the runs of the figure that separates servers.

PEERS = ("dnsmasq", "unbound", "dnsdist")  # the servers Dynamo Gateway is measured against
GOAL_RATIO = 0.95                         # its CPU per query at most this times the best peer's


def sig3(value):
    """About 3 significant figures, never in exponent form: 7.59, 17.3, 136."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        return "%.0f" % value
    if abs(value) >= 10:
        return "%.1f" % value
    return "%.2f" % value


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def median_cells(runs, names, figure):
    """{server: (median, how many runs had it)} of figure(row) over the runs."""
    out = {}
    for name in names:
        values = [figure(r) for run in runs for r in run if r["name"] == name]
        values = [v for v in values if v is not None]
        out[name] = (median_or_none(values), len(values))
    return out


def _workload_figure(workload, key):
    return lambda row: row["workloads"].get(workload, {}).get(key)


def _mem_figure(workload, key):
    def figure(row):
        kib = (row.get("mem_start", {}) if workload is None
               else row["workloads"].get(workload, {}).get("mem_after", {})).get(key)
        return None if kib is None else kib / 1024.0
    return figure


def median_table(runs, names, args, instructions, latency):
    """[(label, [cell per server] + [goal])]; a cell with fewer runs than --runs gets a '*'."""
    table = []

    def cells(medians):
        return ["%s%s" % (sig3(m), "*" if m is not None and n < len(runs) else "")
                for m, n in (medians[name] for name in names)]

    def best_peer(medians):
        values = [medians[p][0] for p in PEERS if p in medians and medians[p][0] is not None]
        return min(values) if values else None

    table.append(("server CPU per answered query, µs", None))
    for workload, label in (("intercept", "intercepted name (local answer)"),
                            ("hits", "cache hit (100 names)"),
                            ("misses-nocache", "cache miss, cache off"),
                            ("misses", "cache miss with cache insert (the real miss)")):
        if workload not in args.workloads:
            continue
        medians = median_cells(runs, names, _workload_figure(workload, "cpu_us_per_query"))
        best = best_peer(medians)
        table.append((label, cells(medians) + [
            "≤ %s" % sig3(GOAL_RATIO * best) if best is not None else "—"]))
    rate = ("%dk" % (args.latency_qps // 1000) if args.latency_qps % 1000 == 0
            else str(args.latency_qps))
    if latency:
        def p99(name, path):
            value = latency.get(name, {}).get(path, {}).get("p99")
            return sig3(value * 1e6) if value is not None else "—"
        table.append(("p99 latency at %s qps, cache hit / miss+cache (µs; side by side)" % rate,
                      ["%s / %s" % (p99(n, "hits"), p99(n, "misses")) for n in names]
                      + ["lowest"]))
    if "hits-5k" in args.workloads or "misses-5k" in args.workloads:
        p99s = [median_cells(runs, names, lambda r, w=w: (
            None if r["workloads"].get(w, {}).get("p99") is None
            else r["workloads"][w]["p99"] * 1e6)) for w in ("hits-5k", "misses-5k")]
        hit, miss = cells(p99s[0]), cells(p99s[1])
        table.append(("p99 latency at %s qps, cache hit / miss+cache (µs; median of the runs)"
                      % rate, ["%s / %s" % (h, m) for h, m in zip(hit, miss)]
                      + ["" if latency else "lowest"]))
    table.append(("memory, MiB", None))
    table.append(("RSS idle after start", cells(median_cells(runs, names,
                                                             _mem_figure(None, "VmRSS")))
                  + ["≤ 8"]))
    if "intercept" in args.workloads:
        table.append(("peak RSS (VmHWM), local path", cells(median_cells(
            runs, names, _mem_figure("intercept", "VmHWM"))) + [""]))
    if "misses" in args.workloads:
        table.append(("RSS with a full 10,000-entry cache", cells(median_cells(
            runs, names, _mem_figure("misses", "VmRSS"))) + ["≤ 12"]))
    if instructions:
        table.append(("instructions per query (callgrind, one run)", None))
        for workload, label in (("intercept", "intercepted name"), ("hits", "cache hit"),
                                ("misses-nocache", "cache miss, cache off"),
                                ("misses", "cache miss with cache insert")):
            if workload in args.workloads:
                table.append((label, ["%.0f" % instructions[n][workload]
                                      if workload in instructions.get(n, {}) else "—"
                                      for n in names] + [""]))
    return table


def footer(rows, args, knot_version, dnsperf_version):
    lines = ["versions:"]
    for r in rows:
        lines.append("  %-22s %s" % (r["name"], r["version"]))
    lines.append("  %-22s %s (the upstream, authoritative)" % ("knotd", knot_version))
    lines.append("  %-22s %s" % ("dnsperf", dnsperf_version))
    lines.append("load: dnsperf -l %d -c %d -q %d -t 5, at most %d queries a run, UDP, loopback"
                 % (args.duration, args.clients, args.outstanding, args.max_queries))
    if any(w.endswith("-5k") for w in args.workloads):
        lines.append("p99 loads in the runs: the same with -Q %d" % args.latency_qps)
    if args.latency_slices > 0:
        lines.append("p99 side by side: every server running at once (cache warm, then full), "
                     "%d rounds, each a dnsperf -Q %d -l %d slice per server on hits then on "
                     "new unique names, the order turned each round; each server's slices "
                     "pooled" % (args.latency_slices, args.latency_qps, args.latency_seconds))
    lines.append("pinning: %s" % args.pinning)
    if args.callgrind_queries > 0:
        lines.append("instructions per query: user-space Ir under valgrind --tool=callgrind, "
                     "(Ir(N) - Ir(0)) / N, N = %d, for %s" % (args.callgrind_queries,
                                                             ", ".join(args.callgrind_servers)))
    for r in rows:
        for note in r["notes"]:
            lines.append("NOTE %s: %s" % (r["name"], note))
    for r in rows:
        if r.get("counters"):
            lines.append("%s counters after each workload (/metrics):" % r["name"])
            for label, values in r["counters"]:
                lines.append("  %-10s " % label + "  ".join(
                    "%s=%s" % (k.replace("dns_", "").replace("_total", ""), v)
                    for k, v in values.items()))
    return lines


# --------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemon", required=True, help="the dynamo-gateway binary")
    parser.add_argument("--results", required=True, help="directory for raw outputs")
    parser.add_argument("--runs", type=int, default=3,
                        help="interleaved runs (run 1 of every server, then run 2, ...); the "
                             "final table is their median")
    parser.add_argument("--duration", type=int, default=10, help="seconds per workload")
    parser.add_argument("--clients", type=int, default=10, help="dnsperf -c")
    parser.add_argument("--outstanding", type=int, default=100, help="dnsperf -q")
    parser.add_argument("--latency-qps", type=int, default=5000,
                        help="dnsperf -Q of the fixed-rate loads whose p99 the final table "
                             "gives")
    parser.add_argument("--latency-slices", type=int, default=15,
                        help="rounds of the side-by-side p99 phase (0: none; then add hits-5k "
                             "and misses-5k to --workloads for a p99 per run)")
    parser.add_argument("--latency-seconds", type=int, default=2,
                        help="dnsperf -l of one slice of the p99 phase")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the server to one core and the load to the others")
    parser.add_argument("--max-queries", type=int, default=1000000,
                        help="cap on the queries of one run (and the unique names made)")
    parser.add_argument("--floor", help="the dns-floor binary (default: beside --daemon)")
    parser.add_argument("--servers",
                        default="dynamo-gateway,dynamo-gateway-nostale,dnsmasq,unbound,dnsdist,"
                                "floor",
                        help="comma-separated, in this order")
    parser.add_argument("--callgrind-queries", type=int, default=10000,
                        help="queries per path under callgrind, a multiple of 100 (0: none)")
    parser.add_argument("--callgrind-servers", default="",
                        help="the servers measured under callgrind, comma-separated (default: "
                             "every one of --servers)")
    parser.add_argument("--workloads", help="comma-separated (default: %s)"
                        % ",".join(DEFAULT_WORKLOADS))
    parser.add_argument("--keep-verbose", action="store_true",
                        help="keep dnsperf's per-query lines (gzipped)")
    args = parser.parse_args()
    args.runs = max(1, args.runs)
    args.workloads = args.workloads.split(",") if args.workloads else list(DEFAULT_WORKLOADS)
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        parser.error("unknown workload(s) %s (known: %s)" % (", ".join(unknown),
                                                              ", ".join(WORKLOADS)))
    args.callgrind_servers = (args.callgrind_servers or args.servers).split(",")
    args.callgrind_queries = max(0, args.callgrind_queries // 100 * 100)
    if args.callgrind_queries and callgrind.have_tools():
        print("no %s: no instructions per query" % ", ".join(callgrind.have_tools()))
        args.callgrind_queries = 0
    args.daemon = os.path.abspath(args.daemon)  # servers run with their temp dir as cwd
    args.results = os.path.abspath(args.results)  # valgrind's log goes there
    args.floor = os.path.abspath(args.floor or os.path.join(os.path.dirname(args.daemon),
                                                            "dns-floor"))
    args.pinning = set_pinning(not args.no_pin)
    print("pinning: " + args.pinning, flush=True)
    classes = {"dynamo-gateway": DynamoGateway, "dynamo-gateway-nostale": DynamoGatewayNoStale,
               "dnsmasq": Dnsmasq, "unbound": Unbound, "dnsdist": Dnsdist, "floor": Floor}
    names = args.servers.split(",")
    unknown = [n for n in names if n not in classes]
    if unknown:
        parser.error("unknown server(s) %s" % ", ".join(unknown))

    # SIGTERM (e.g. from make or a CI timeout) unwinds like Ctrl-C: every server is stopped.
    def on_sigterm(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_sigterm)

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    results = os.path.join(args.results, stamp)
    os.makedirs(results)
    latest = os.path.join(args.results, "latest")
    if os.path.islink(latest):
        os.unlink(latest)
    if not os.path.exists(latest):
        os.symlink(stamp, latest)
    workdir = tempfile.mkdtemp(prefix="dynamo-bench-")
    knot = None
    runs = []            # runs[i]: the rows of run i + 1, one per server
    instructions = {}    # server -> {path: instructions per query}
    latency = {}         # server -> {path: percentiles}, from the side-by-side phase
    started = time.monotonic()
    load_before = os.getloadavg()
    summary_parts = []

    def maker(cls, run_results):
        extra = {DynamoGateway: (args.daemon,), Floor: (args.floor,)}
        extra = next((v for k, v in extra.items() if issubclass(cls, k)), ())

        def make(cache=True, tag=""):
            return cls(workdir, run_results, knot.port, *extra, cache=cache, tag=tag)
        return make

    try:
        files = write_queries(workdir, args.max_queries, args.callgrind_queries,
                              min(args.max_queries, args.latency_qps * args.duration * 2),
                              args.latency_slices,
                              min(args.max_queries, args.latency_qps * args.latency_seconds * 2))
        knot = Knot(workdir, results, None)
        knot.start()
        knot_version = knot.version()
        print("upstream: %s on 127.0.0.1:%d, zone bench. (%d names + wildcard)"
              % (knot_version, knot.port, ZONE_NAMES), flush=True)
        # Interleaved: run 1 of every server, then run 2 of every server, ...: a slow spell of
        # the machine spreads over the servers instead of falling on one.
        for run in range(1, args.runs + 1):
            run_results = os.path.join(results, "run%d" % run)
            os.makedirs(run_results)
            rows = []
            print("=== run %d of %d" % (run, args.runs), flush=True)
            # Turned by one each run: whatever the machine does at a run's start or end (the
            # previous run's servers' sockets closing, the results written) falls on each
            # server in turn. The table keeps the given order.
            turn = (run - 1) % len(names)
            for name in names[turn:] + names[:turn]:
                try:
                    rows.append(bench_server(maker(classes[name], run_results), args, files,
                                             run_results))
                except RuntimeError as e:
                    print("   could not run %s: %s" % (name, e), flush=True)
                    rows.append({"name": name, "version": "?", "workloads": {},
                                 "notes": [str(e)]})
            rows.sort(key=lambda row: names.index(row["name"]))
            runs.append(rows)
            text = "\n".join(["run %d of %d" % (run, args.runs)]
                             + render_text(rows, table_rows(rows, args)))
            print("\n" + text + "\n", flush=True)
            summary_parts.append(text)
        if args.latency_slices > 0:
            latency_results = os.path.join(results, "latency")
            os.makedirs(latency_results)
            print("=== p99 at %d qps, every server running at once: %d rounds of a %d s slice "
                  "per server and path" % (args.latency_qps, args.latency_slices,
                                           args.latency_seconds), flush=True)
            try:
                latency = bench_latency({n: maker(classes[n], latency_results) for n in names},
                                        names, args, files, latency_results)
            except RuntimeError as e:
                print("   p99 phase: %s" % e, flush=True)
                summary_parts.append("p99 phase could not run: %s" % e)
        # Instructions do not move with the machine's load: one measure per server is enough.
        if args.callgrind_queries > 0:
            cg_results = os.path.join(results, "callgrind")
            os.makedirs(cg_results)
            for name in names:
                if name not in args.callgrind_servers:
                    continue
                row = next(r for r in runs[-1] if r["name"] == name)
                print("== %s under callgrind" % name, flush=True)
                try:
                    instructions[name] = callgrind_server(
                        maker(classes[name], cg_results), args, files, cg_results, row,
                        classes[name].has_cache_off)
                except RuntimeError as e:
                    print("   callgrind: %s" % e, flush=True)
                    row["notes"].append("callgrind: %s" % e)
                row["instructions"] = instructions.get(name, {})
        knot_cpu = proc_status(knot.proc.pid).get("cpu")
    except KeyboardInterrupt:
        print("interrupted; stopping what was started", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print("benchmark could not run: %s" % e, file=sys.stderr)
        return 1
    finally:
        if knot is not None:
            knot.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    rows = runs[-1]
    for r in rows:
        r["instructions"] = instructions.get(r["name"], {})
    dnsperf_version = next((w["dnsperf_version"] for run in runs for r in run
                            for w in r["workloads"].values()), "?")
    # Other work on the machine skews everything: say how busy it was.
    header = ("Dynamo Gateway benchmark, %s\nmachine: %s\n"
              "load average (1 min) before %.2f, after %.2f\n") % (
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), machine(), load_before[0],
        os.getloadavg()[0])
    notes = footer(rows, args, knot_version, dnsperf_version)
    medians = median_table(runs, names, args, instructions, latency)
    median_title = ("median of %d interleaved run%s (a * marks a cell fewer runs gave); the "
                    "goal column: Dynamo Gateway's CPU at most %.2f × the best of %s"
                    % (args.runs, "s" if args.runs > 1 else "", GOAL_RATIO, ", ".join(PEERS)))
    median_text = "\n".join([median_title] + render_text(names + ["goal"], medians))
    summary = (header + "\n" + "\n\n".join(summary_parts) + "\n\n" + median_text + "\n\n"
               + "\n".join(notes) + "\n")
    print("\n" + median_text + "\n\n" + "\n".join(notes))
    print("(%.0f s; knotd used %.1f CPU s; raw outputs in %s; the median table in %s)"
          % (time.monotonic() - started, knot_cpu or 0, results,
             os.path.join(results, "median.txt")))
    with open(os.path.join(results, "summary.txt"), "w") as f:
        f.write(summary)
    with open(os.path.join(results, "median.txt"), "w") as f:
        f.write(header + "\n" + median_text + "\n\n" + "\n".join(notes) + "\n")
    with open(os.path.join(results, "median.md"), "w") as f:  # for bench/README.md
        f.write(header.replace("\n", "  \n") + "\n" + median_title + ":\n\n"
                + "\n".join(render_markdown(names + ["goal"], medians))
                + "\n\n```\n" + "\n".join(notes) + "\n```\n")
    with open(os.path.join(results, "summary.md"), "w") as f:
        parts = []
        for i, run in enumerate(runs, 1):
            parts.append("**run %d of %d**\n\n" % (i, args.runs)
                         + "\n".join(render_markdown(run, table_rows(run, args))))
        f.write(header.replace("\n", "  \n") + "\n" + "\n\n".join(parts) + "\n")
    with open(os.path.join(results, "results.json"), "w") as f:
        json.dump({"machine": machine(), "args": vars(args), "runs": runs,
                   "instructions": instructions, "latency": latency,
                   "median": [{"path": label, "values": values} for label, values in medians]},
                  f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
