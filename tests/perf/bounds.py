"""The bounds of the performance regression guard (tests/perf/perf_guard.py), in one place.

Instructions per query (user space, callgrind Ir, see bench/callgrind.py), RelWithDebInfo build
(-O2), gcc of Debian 12, the daemon at log_level info with a dnsmasq upstream on loopback:

  intercept     members.dyndns.org A, answered by the gateway itself
  hit           100 names, answered from the cache
  miss          unique names, cache off (dns.cache.size 0): parse, forward, relay
  miss_insert   unique names into a full cache (size 1000): the real miss, with insert and
                eviction

2,000 queries per path from one dnsperf client with 10 in flight (-c 1 -q 10): the daemon under
callgrind is the slower side, so its socket always holds a few queries and each turn of its
event loop serves several (with -q 1, one query a turn, every path costs ~11% more).

MEASURED is what `make perf-bounds` printed on the commit named below (it rewrites this file);
a bound is MEASURED * (1 + MARGIN). The guard fails when a path costs more than its bound.
"""

# Measured at cb7d240 (4 December 2026) by `make perf-bounds`.
MEASURED = {
    "intercept": 2968,
    "hit": 1788,
    "miss": 9300,
    "miss_insert": 10722,
}

# Callgrind counts move by up to ~3% between runs of one build (how many queries each turn of
# the event loop finds waiting depends on timing; idle timers cost next to nothing: ~1k
# instructions a second); the rest of the margin is for toolchain and library updates (gcc,
# c-ares, libevent, glibc) that this tree does not control.
MARGIN = 0.15

BOUNDS = {path: int(figure * (1 + MARGIN)) for path, figure in MEASURED.items()}
