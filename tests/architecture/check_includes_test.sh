#!/usr/bin/env bash
# The include-rule check must catch a violation, not just pass: a throwaway tree where net/
# includes gateway/ (forbidden) and gateway/ includes net/ (allowed).
set -euo pipefail
checker="$(dirname "$0")/check_includes.sh"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/docs" "$tree/net" "$tree/gateway/http"
cat >"$tree/docs/architecture.md" <<'RULES'
| room | may include |
|---|---|
| `net/` | |
| `gateway/` | `net/` |
| `gateway/http/` | `net/` `gateway/` |
RULES
printf '#include "net/a.h"\n#include "version.h"\n' >"$tree/gateway/g.cc"
printf '#include "gateway/g.h"\n' >"$tree/gateway/http/h.cc"
printf '#include <vector>\n#include "net/b.h"\n' >"$tree/net/a.h"
bash "$checker" "$tree" || { echo "FAIL: a tree that keeps the rules was refused"; exit 1; }

printf '#include <vector>\n\n#include "gateway/http/h.h"\n' >"$tree/net/bad.cc"
printf '#include "gateway/http/h.h"\n' >"$tree/gateway/worse.h"
if output=$(bash "$checker" "$tree"); then
    echo "FAIL: net/ including gateway/ was not reported"
    exit 1
fi
expected=$'gateway/worse.h:1: includes gateway/http/h.h (room gateway/ may not include room gateway/http/)\nnet/bad.cc:3: includes gateway/http/h.h (room net/ may not include room gateway/http/)'
if [[ $output != "$expected" ]]; then
    printf 'FAIL: expected\n%s\ngot\n%s\n' "$expected" "$output"
    exit 1
fi
echo "the check reports exactly the two violations"
