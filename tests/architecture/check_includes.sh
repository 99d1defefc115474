#!/usr/bin/env bash
# Checks every `#include "room/file.h"` of the sources against the include rules of
# docs/architecture.md, the one place they are written down: its table with the header
# "| room | may include |" lists each room (a folder, e.g. `gateway/http/`) and the rooms its files
# may include besides their own. A file belongs to the longest room that is a prefix of its path;
# so does an included path. Includes without a folder (generated "version.h", a test's own
# helpers) are not checked.
#
# Usage: check_includes.sh SOURCE_DIR [RULES_FILE]
# Prints each violation as "file:line: includes X (room Y may not include room Z)" and exits 1.
set -euo pipefail
source_dir=${1:?usage: check_includes.sh SOURCE_DIR [RULES_FILE]}
rules=${2:-$source_dir/docs/architecture.md}

declare -A allowed
rooms=()
in_table=0
while IFS= read -r line; do
    if [[ $line =~ ^\|[[:space:]]*room[[:space:]]*\|[[:space:]]*may\ include ]]; then
        in_table=1
        continue
    fi
    [[ $in_table == 1 ]] || continue
    [[ $line == \|* ]] || break
    [[ $line =~ ^\|[[:space:]-]+\| ]] && continue  # the |---|---| line
    room_cell=$(cut -d'|' -f2 <<<"$line")
    include_cell=$(cut -d'|' -f3 <<<"$line")
    room=$({ grep -o '`[^`]*`' <<<"$room_cell" || true; } | head -1 | tr -d '`')
    [[ -n $room ]] || continue
    rooms+=("$room")
    allowed[$room]=" $({ grep -o '`[^`]*`' <<<"$include_cell" || true; } | tr -d '`' | tr '\n' ' ')"
done <"$rules"
if [[ ${#rooms[@]} -eq 0 ]]; then
    echo "$rules: no '| room | may include |' table found" >&2
    exit 2
fi

room_of() {
    local path=$1 best=""
    for room in "${rooms[@]}"; do
        if [[ $path == "$room"* && ${#room} -gt ${#best} ]]; then best=$room; fi
    done
    printf '%s' "$best"
}

violations=0
cd "$source_dir"
for room in "${rooms[@]}"; do
    [[ -d $room ]] || { echo "$rules: room $room does not exist" >&2; violations=1; }
done
while IFS= read -r file; do
    own=$(room_of "$file")
    [[ -n $own ]] || continue
    while IFS=: read -r number target; do
        [[ $target == */* ]] || continue
        theirs=$(room_of "$target")
        [[ -z $theirs || $theirs == "$own" ]] && continue
        if [[ ${allowed[$own]} != *" $theirs "* ]]; then
            echo "$file:$number: includes $target (room $own may not include room $theirs)"
            violations=1
        fi
    done < <(awk '/^[ \t]*#[ \t]*include[ \t]*"/ {
                      split($0, parts, "\""); print FNR ":" parts[2] }' "$file")
done < <(find . -path ./build -prune -o -path './build-*' -prune -o -path ./.git -prune -o \
              \( -name '*.h' -o -name '*.cc' \) -print | sed 's#^\./##' | sort)
exit $violations
