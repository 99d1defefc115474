#!/usr/bin/env python3
"""Performance regression guard: instructions per query of the real daemon, per DNS path.

Not a timing (bench/ measures time): the daemon runs under callgrind, dnsperf sends it a fixed
number of queries per path, and the instructions per query are compared with the bounds in
tests/perf/bounds.py. A change that makes a path cost more than its bound fails here, whatever
the machine's load. Method and the two-run difference: bench/callgrind.py.

  perf_guard.py --build-dir BUILD [--build-type T] [--sanitize ON|OFF] [--crosscompiling ON|OFF]
                [--queries N] [--scale F] [--write-bounds]

Exit status: 0 within bounds, 1 over a bound (or the measure failed), 77 skipped (ctest's
SKIP_RETURN_CODE): valgrind/dnsperf/dnsmasq missing, a sanitizer, fuzz or debug build (its
counts say nothing about a release build), or a cross build (under qemu).

--write-bounds measures and rewrites MEASURED in bounds.py (`make perf-bounds`).
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
SKIP = 77
PATHS = ("intercept", "hit", "miss", "miss_insert")
MEASURED_BUILD_TYPES = ("RelWithDebInfo", "Release")
CACHE_SIZE = 1000    # small, so the fill before the miss_insert path is cheap under callgrind
HIT_NAMES = 100
WARM_UNIQUE = 100    # unique names asked before the cache-off miss path (channel warm-up)
ZONE = "perf.test"


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--build-type", default="RelWithDebInfo")
    parser.add_argument("--sanitize", default="OFF")
    parser.add_argument("--fuzz", default="OFF")
    parser.add_argument("--crosscompiling", default="OFF")
    parser.add_argument("--queries", type=int, default=2000, help="measured queries per path")
    parser.add_argument("--outstanding", type=int, default=10,
                        help="dnsperf -q: queries in flight at once")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every bound (e.g. 0.5 to see the guard fail)")
    parser.add_argument("--write-bounds", action="store_true",
                        help="measure and rewrite MEASURED in bounds.py instead of checking")
    return parser.parse_args()


def on(value):
    return str(value).upper() in ("ON", "1", "TRUE", "YES")


def check_applicable(args):
    if on(args.crosscompiling):
        skip("a cross build: callgrind counts of the host build are what is bounded")
    if on(args.sanitize) or on(args.fuzz):
        skip("a sanitizer/fuzz build: instrumented code says nothing about the release build")
    if args.build_type not in MEASURED_BUILD_TYPES:
        skip("CMAKE_BUILD_TYPE %s: the bounds are for an optimised build (%s)"
             % (args.build_type, ", ".join(MEASURED_BUILD_TYPES)))
    missing = [p for p in ("valgrind", "dnsperf", "dnsmasq") if shutil.which(p) is None
               and not os.path.exists("/usr/sbin/" + p)]
    if missing:
        skip("%s not installed (scripts/install-deps.sh --test installs them)" % ", ".join(missing))


def main():
    args = parse_args()
    check_applicable(args)
    os.environ["DYNAMO_BUILD_DIR"] = os.path.abspath(args.build_dir)
    os.environ.setdefault("DYNAMO_SOURCE_DIR", SOURCE_DIR)
    sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
    sys.path.insert(0, os.path.join(SOURCE_DIR, "bench"))
    sys.path.insert(0, HERE)
    import bounds
    import callgrind
    import dns_peers
    import harness

    workdir = tempfile.mkdtemp(prefix="dynamo-perf-")
    upstream = dns_peers.DnsmasqPeer(records=["address=/%s/192.0.2.2" % ZONE], local=(ZONE,),
                                     local_ttl=3600)
    started = time.monotonic()
    try:
        upstream.start()
        files = write_query_files(workdir, args.queries)
        figures = {}
        for cache_size, paths in ((CACHE_SIZE, ("intercept", "hit", "miss_insert")),
                                  (0, ("miss",))):
            ir0 = run(harness, callgrind, upstream, workdir, files, cache_size, None, 0,
                      args.outstanding)
            for path in paths:
                ir = run(harness, callgrind, upstream, workdir, files, cache_size, path,
                         args.queries, args.outstanding)
                figures[path] = callgrind.per_query(ir0, ir, 0, args.queries)
    finally:
        upstream.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started

    if args.write_bounds:
        write_bounds(bounds.__file__, figures)
        print("measured (instructions per query): %s; %s rewritten (%.0f s)"
              % (", ".join("%s %.0f" % (p, figures[p]) for p in PATHS), bounds.__file__, elapsed))
        return 0
    failed = []
    print("%-12s %12s %12s %12s" % ("path", "Ir/query", "bound", "measured at"))
    for path in PATHS:
        bound = bounds.BOUNDS[path] * args.scale
        verdict = "ok" if figures[path] <= bound else "OVER"
        print("%-12s %12.0f %12.0f %12.0f  %s" % (path, figures[path], bound,
                                                   bounds.MEASURED[path], verdict))
        if figures[path] > bound:
            failed.append(path)
    print("(%d queries per path, %.0f s)" % (args.queries, elapsed))
    if failed:
        print("FAIL: %s cost more instructions per query than tests/perf/bounds.py allows. If "
              "the growth is meant, re-derive the bounds with `make perf-bounds` and say why in "
              "the commit." % ", ".join(failed))
        return 1
    return 0


def write_query_files(workdir, n):
    """One file per path, plus the warm-ups. Unique names never repeat between a warm-up and a
    measured load, so a miss is a miss."""
    files = {}

    def write(name, lines):
        path = os.path.join(workdir, name + ".txt")
        with open(path, "w") as f:
            f.writelines(lines)
        files[name] = path

    write("fill", ["f%05d.%s A\n" % (i, ZONE) for i in range(CACHE_SIZE + CACHE_SIZE // 10)])
    write("warm_unique", ["w%05d.%s A\n" % (i, ZONE) for i in range(WARM_UNIQUE)])
    write("hit", ["h%03d.%s A\n" % (i, ZONE) for i in range(HIT_NAMES)])
    write("intercept", ["members.dyndns.org A\n"] * 100)
    write("unique", ["m%06d.%s A\n" % (i, ZONE) for i in range(n)])
    return files


def run(harness, callgrind, upstream, workdir, files, cache_size, path, n, outstanding):
    """One daemon under callgrind: the warm-up of its config, then n queries of path; its Ir."""
    run_dir = tempfile.mkdtemp(prefix="run-", dir=workdir)
    out_file = os.path.join(run_dir, "callgrind.out")
    prefix = callgrind.callgrind_prefix(out_file, os.path.join(run_dir, "valgrind.log"))
    daemon = harness.Daemon.for_dns(["127.0.0.1:%d" % upstream.port], prefix=prefix,
                                    cache={"size": cache_size}, upstream_timeout="5s")
    daemon.config["gateway"]["https_listen"] = []  # no certificate to make: RSA keygen is random
    daemon.config["log_level"] = "info"             # no per-query lines; "ready" is info
    port = daemon.dns_port
    try:
        daemon.start(timeout=120)
        # The warm-up every run of a config shares, so it cancels out of the difference: with
        # the cache on, the cache full, the hot names in it, the intercepted name asked once.
        if cache_size:
            send(callgrind, port, files["fill"], 1, daemon, outstanding)
            send(callgrind, port, files["hit"], 1, daemon, outstanding)
            send(callgrind, port, files["intercept"], 1, daemon, outstanding)
        else:
            send(callgrind, port, files["warm_unique"], 1, daemon, outstanding)
        if path == "intercept":
            send(callgrind, port, files["intercept"], n // 100, daemon, outstanding)
        elif path == "hit":
            send(callgrind, port, files["hit"], n // HIT_NAMES, daemon, outstanding)
        elif path in ("miss", "miss_insert"):
            send(callgrind, port, files["unique"], 1, daemon, outstanding)
        # callgrind writes its totals when the process exits: give it time to.
        status = harness.stop_process(daemon.proc, timeout=120)
        if status != 0:
            raise RuntimeError("dynamo-gateway exited with %s under callgrind; stderr:\n%s"
                               % (status, daemon.stderr_text()[-3000:]))
        return callgrind.total_instructions(out_file)
    finally:
        daemon.stop()


def send(callgrind, port, query_file, passes, daemon, outstanding):
    with open(query_file) as f:
        expected = passes * sum(1 for _ in f)
    sent, completed, lost = callgrind.send_queries(port, query_file, passes,
                                                   outstanding=outstanding)
    if completed != expected or lost:
        raise RuntimeError("%s: %d of %d answered (%d lost); stderr:\n%s"
                           % (os.path.basename(query_file), completed, expected, lost,
                              daemon.stderr_text()[-3000:]))


def write_bounds(path, figures):
    with open(path) as f:
        text = f.read()
    commit = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    body = "".join('    "%s": %d,\n' % (p, round(figures[p])) for p in PATHS)
    text = re.sub(r"# Measured at .*\n(?:#.*\n)*MEASURED = \{\n(?:.*\n)*?\}",
                  "# Measured at %s (%s) by `make perf-bounds`.\nMEASURED = {\n%s}"
                  % (commit, datetime.date.today().strftime("%-d %B %Y"), body), text)
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
