#!/usr/bin/env bash
# `make run`: the token-API emulator on 127.0.0.1:8246 and the gateway in the foreground with
# config/dev.yaml, everything on loopback and unprivileged ports. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p "$build/dev-state"
chmod 700 "$build/dev-state"
# dev.yaml holds a (dummy) password and token: keep it from other users as a real one would be.
chmod 640 config/dev.yaml 2>/dev/null || true

token=$(sed -n 's/^ *token: *"\([A-Za-z0-9]\{42\}\)".*/\1/p' config/dev.yaml | head -1)
printf '# written by scripts/dev-run.sh\n%s ok\n' "$token" > "$build/dev-tokens.txt"

"$build/dynamo-emulator" --listen 127.0.0.1:8246 --tokens "$build/dev-tokens.txt" \
    --ready-file "$build/dev-emulator.port" > /dev/null &
emulator=$!
gateway=""
# Ctrl-C reaches both through the terminal; a SIGTERM to this script (make killed by a
# timeout, say) must not leave either behind.
trap 'kill $emulator $gateway 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

cat <<EOT
Dynamo Gateway (dev): DNS on 127.0.0.1:5053, DynDNS on http://127.0.0.1:8245 and
https://127.0.0.1:8443, the token-API emulator on http://127.0.0.1:8246. Try, in another shell:

  dig @127.0.0.1 -p 5053 members.dyndns.org A          # answered with this gateway's address
  curl -u dev-user:dev-pass 'http://127.0.0.1:8245/nic/update?hostname=home.example&myip=1.2.3.4'
  curl -u dev-user:wrong    'http://127.0.0.1:8245/nic/update?hostname=home.example'   # badauth
  curl http://127.0.0.1:8246/_control/calls           # what the emulated service received

Other names are forwarded to the nameservers of /etc/resolv.conf (see config/dev.yaml).
Ctrl-C stops.

EOT
"$build/dynamo-gateway" --config config/dev.yaml &
gateway=$!
wait "$gateway"
