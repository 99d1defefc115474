#!/usr/bin/env bash
# Installs the Debian packages Dynamo Gateway needs to build, test and benchmark, but only those
# that are missing, so a second `make` costs nothing. Needs root (or sudo) when something is missing.
set -euo pipefail

build=(build-essential cmake ninja-build pkg-config
       libc-ares-dev libevent-dev libssl-dev libyaml-cpp-dev libgtest-dev libgmock-dev
       libcrypt-dev)
# The peers the tests talk to: real DNS clients and servers, real DynDNS clients, TLS tools.
# Packages are installed without their Recommends, so whatever a test needs from a peer's
# Recommends is named here: ddclient only recommends IO::Socket::SSL (libio-socket-ssl-perl),
# which its HTTPS test needs; tests/integration/harness.py checks it (PEER_PERL_MODULES). Its
# other Recommends serve what no test uses (ipv6=yes, other protocols; Digest::SHA and JSON::PP
# come with perl). inadyn and knot recommend nothing; Chromium's fonts come with its Depends.
test=(dnsutils knot-dnsutils dnsmasq-base knot unbound curl wget openssl ddclient inadyn python3 iproute2
      clang libclang-rt-14-dev chromium systemd file
      libio-socket-ssl-perl miniupnpd-nftables nodejs npm
      valgrind dnsperf)  # the performance guard (tests/perf): callgrind, and dnsperf's load

# `make run` tries the gateway with these.
run=(dnsutils curl)

want=("${build[@]}")
case "${1:-}" in
    --test) want+=("${test[@]}") ;;
    --run) want+=("${run[@]}") ;;
esac

missing=()
for pkg in "${want[@]}"; do
    # A Node.js from elsewhere (NodeSource's nodejs carries npm and conflicts with Debian's npm)
    # does what the browser test needs: node and npm on PATH.
    if [[ $pkg == nodejs || $pkg == npm ]] && command -v node >/dev/null && command -v npm >/dev/null; then
        continue
    fi
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# knot's, ddclient's and inadyn's packages ship services the tests do not want running (knotd
# on port 53, ddclient calling dyndns.org): while they install, a policy-rc.d answering 101
# ("action forbidden") keeps invoke-rc.d and deb-systemd-invoke from starting them. One already
# there (containers have one) is left alone.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 0755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
for svc in knot ddclient inadyn; do
    if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null &&
        systemctl is-enabled "$svc" >/dev/null 2>&1; then
        echo "note: the $svc package enabled its own system service; the tests do not use it" \
            "('systemctl disable --now $svc' turns it off)" >&2
    fi
done
