"""Instructions per query from callgrind: a figure that does not move with machine noise.

Shared by bench/bench.py (the "instructions per query" rows) and tests/perf/perf_guard.py (the
regression guard). Standard library only.

Method: the server runs under `valgrind --tool=callgrind`; a run is start, the same warm-up,
`count` queries sent by dnsperf, SIGTERM; callgrind writes the instructions the whole process
executed (Ir, user space, all threads) when it exits. Two runs that differ only in `count`
(N0 and N) give

    instructions per query = (Ir(N) - Ir(N0)) / (N - N0)

so start-up, warm-up and shutdown cancel out. System calls are the kernel's and not counted.
"""

import re
import shutil
import subprocess

DNSPERF_TIMEOUT = 30  # seconds dnsperf waits for one answer: a server under callgrind is slow


def have_tools():
    """The programs a measure needs that are missing, as a list of names."""
    return [p for p in ("valgrind", "dnsperf") if shutil.which(p) is None]


def callgrind_prefix(out_file, log_file):
    """The argv prefix that runs a server under callgrind, its totals into out_file. Only
    totals are needed: no per-instruction data, no cache simulation."""
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out_file,
            "--log-file=" + log_file, "--dump-line=no", "--dump-instr=no",
            "--compress-strings=no", "--trace-children=no", "--vgdb=no"]


def total_instructions(out_file):
    """Ir of the whole run from a callgrind output file (its `totals:`/`summary:` line)."""
    with open(out_file) as f:
        text = f.read()
    m = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
    if m is None:
        raise RuntimeError("no totals in %s (did the server exit by its signal?)" % out_file)
    return int(m.group(1))


def send_queries(port, query_file, passes, out_path=None, outstanding=10, popen=subprocess.Popen,
                 time_limit=600):
    """dnsperf through query_file `passes` times, one client, few queries outstanding (the server
    is slow under callgrind and must lose none). Returns (sent, completed, lost)."""
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", query_file,
            "-n", str(passes), "-c", "1", "-q", str(outstanding), "-t", str(DNSPERF_TIMEOUT),
            "-l", str(time_limit)]
    proc = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=time_limit + DNSPERF_TIMEOUT + 30)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    text = out.decode("utf-8", "replace")
    if out_path:
        with open(out_path, "w") as f:
            f.write("# %s\n%s" % (" ".join(argv), text))
    figures = []
    for pattern in (r"Queries sent:\s+(\d+)", r"Queries completed:\s+(\d+)",
                    r"Queries lost:\s+(\d+)"):
        m = re.search(pattern, text)
        if m is None:
            raise RuntimeError("dnsperf printed no statistics:\n" + text[-2000:])
        figures.append(int(m.group(1)))
    return tuple(figures)


def per_query(ir_n0, ir_n, n0, n):
    return (ir_n - ir_n0) / float(n - n0)
