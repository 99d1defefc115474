#!/usr/bin/env bash
# Benchmark Dynamo Gateway side by side with dnsmasq, unbound, dnsdist and a floor responder
# (see bench/README.md).
# It measures and prints; it never passes or fails.
#
#   bench/run.sh [bench.py options]      e.g. --duration 5, --servers dynamo-gateway,unbound
#
# 1. installs the missing Debian packages it uses (apt-get; root, or sudo),
# 2. builds the daemon and bench/floor's dns-floor in $BENCH_BUILD_DIR (default build-bench,
#    RelWithDebInfo) first, never while measuring,
# 3. runs bench/bench.py: knotd upstream and every server on free loopback ports, the server
#    pinned to one core, dnsperf loads bounded in time and count, --runs (3) interleaved runs,
#    a table per run and the median table at the end (median.txt); raw outputs in
#    $BENCH_BUILD_DIR/bench-results/<date>/ (and .../latest).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR="${BENCH_BUILD_DIR:-build-bench}"

packages=(dnsperf dnsmasq-base unbound dnsdist knot valgrind python3)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "bench: installing ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
    for svc in unbound dnsdist; do
        if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null &&
            systemctl is-enabled "$svc" >/dev/null 2>&1; then
            echo "bench: note: the $svc package enabled its own system service;" \
                "the benchmark does not use it ('systemctl disable --now $svc' to turn it off)"
        fi
    done
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" --target dynamo-gateway dns-floor -j "$(nproc)"

exec python3 bench/bench.py --daemon "$BUILD_DIR/dynamo-gateway" --floor "$BUILD_DIR/dns-floor" \
    --results "$BUILD_DIR/bench-results" "$@"
