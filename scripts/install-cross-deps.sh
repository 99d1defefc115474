#!/usr/bin/env bash
# Installs what `make deb-arm64` and `make test-arm64` need, and only what is missing, so a second
# run costs nothing. Needs root (or sudo) when something is missing.
#
#   host packages   g++-aarch64-linux-gnu (Debian's cross compiler, with the arm64 glibc and
#                   libstdc++ under /usr/aarch64-linux-gnu), qemu-user (qemu-aarch64 runs the arm64
#                   unit tests), dpkg-dev (dpkg-shlibdeps for the package's Depends)
#   arm64 libraries the -dev and runtime packages of c-ares, libevent, OpenSSL, yaml-cpp and
#                   GoogleTest, unpacked into a staging directory (default .cache/arm64-sysroot,
#                   the path cmake/aarch64-linux-gnu.cmake reads), never installed into the host.
#
# Why unpacked and not `apt-get install libevent-dev:arm64`: in Debian 12 libevent-dev and
# libyaml-cpp-dev are not "Multi-Arch: same" (event2/event-config.h differs per architecture), so
# apt would remove the amd64 -dev packages to make room and break the native build. The staging
# directory also keeps the arm64 versions independent of the host's: an upgrade of the host's
# libssl3 cannot hold back or be held back by an arm64 twin.
set -euo pipefail

root_dir="$(cd "$(dirname "$0")/.." && pwd)"
sysroot="${DYNAMO_ARM64_SYSROOT:-$root_dir/.cache/arm64-sysroot}"

host=(g++-aarch64-linux-gnu qemu-user dpkg-dev)
arm64=(libc-ares-dev libc-ares2
       libevent-dev libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
       libevent-pthreads-2.1-7 libevent-openssl-2.1-7
       libssl-dev libssl3
       libyaml-cpp-dev libyaml-cpp0.7
       libgtest-dev libgmock-dev
       libcrypt-dev libcrypt1)
# glibc, libstdc++ and libgcc come with the cross compiler; of their Debian packages only the
# control information is kept, for the package's Depends (below).
arm64_info_only=(libc6 libstdc++6 libgcc-s1)

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in "${host[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

updated=false
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "adding the arm64 architecture to dpkg (package lists only; nothing arm64 is installed)" >&2
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -qq
    updated=true
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing: ${missing[*]}" >&2
    $updated || $sudo apt-get update -qq
    updated=true
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Each unpacked package leaves .stamps/<name> holding its version; only packages without a stamp
# (or without their control information, from an older version of this script) are fetched (rm -rf the staging directory to take newer versions), so a second run asks apt
# nothing. apt-get download takes each package's candidate version for arm64.
mkdir -p "$sysroot/.stamps"
fetch=()
for pkg in "${arm64[@]}" "${arm64_info_only[@]}"; do
    [[ -s "$sysroot/.stamps/$pkg" && -s "$sysroot/var/lib/dpkg/control/$pkg/control" ]] ||
        fetch+=("$pkg:arm64")
done
[[ ${#fetch[@]} -eq 0 ]] && exit 0
$updated || apt-cache policy libc-ares2:arm64 | grep -q 'Candidate: [0-9]' || $sudo apt-get update -qq

echo "unpacking into $sysroot: ${fetch[*]}" >&2
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
# apt-get download runs as the invoking user and needs a directory the _apt user can write to.
chmod 0777 "$downloads"
(cd "$downloads" && apt-get download -qq "${fetch[@]}")
info_only=" ${arm64_info_only[*]} "
for deb in "$downloads"/*.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    control="$sysroot/var/lib/dpkg/control/$name"
    rm -rf "$control"
    mkdir -p "$control"
    dpkg-deb -e "$deb" "$control"
    if [[ "$info_only" == *" $name "* ]]; then
        # Its libraries as the cross toolchain installs them.
        dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n 's|^\./\(usr/\)\{0,1\}lib/aarch64-linux-gnu/\([^/]*\.so[^/]*\)$|/usr/aarch64-linux-gnu/lib/\2|p' >"$control/files"
    else
        dpkg-deb -x "$deb" "$sysroot"
        dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n "s|^\./\(.\{1,\}\)|$sysroot/\1|p" | sed 's|/$||' >"$control/files"
    fi
    dpkg-deb -f "$deb" Version >"$sysroot/.stamps/$name"
done

# libcrypt1 ships its library in /lib (Debian 12's packages are not usr-merged) and
# libcrypt-dev links to it by an absolute path: as on a usr-merged Pi, the staged /lib's
# libraries are also in /usr/lib (where the linker and qemu's LD_LIBRARY_PATH look), and
# absolute links point inside the staging directory.
libdir="$sysroot/usr/lib/aarch64-linux-gnu"
if [[ -d "$sysroot/lib/aarch64-linux-gnu" ]]; then
    for file in "$sysroot/lib/aarch64-linux-gnu"/*; do
        [[ -e "$libdir/$(basename "$file")" ]] ||
            ln -s "../../../lib/aarch64-linux-gnu/$(basename "$file")" "$libdir/$(basename "$file")"
    done
fi
find "$libdir" -maxdepth 1 -type l -lname '/*' | while read -r link; do
    ln -sfn "../../..$(readlink "$link")" "$link"
done

# A dpkg database that describes the staged packages, for `dpkg-shlibdeps --admindir` (see
# cmake/dpkg-shlibdeps-cross.sh): each staged library belongs to its arm64 package, whose
# shlibs and symbols files give the Depends entry and its minimum version, exactly as on a Pi.
admin="$sysroot/var/lib/dpkg"
rm -rf "$admin/info" "$admin/status" "$admin/updates"
mkdir -p "$admin/info" "$admin/updates"
: >"$admin/status"
for control in "$admin"/control/*; do
    name=$(basename "$control")
    info="$admin/info/$name"
    grep -qx 'Multi-Arch: same' "$control/control" && info="$info:arm64"
    { sed -n '1p' "$control/control"; echo "Status: install ok installed"; sed '1d' "$control/control"; echo; } >>"$admin/status"
    cp "$control/files" "$info.list"
    for part in shlibs symbols; do
        if [[ -f "$control/$part" ]]; then cp "$control/$part" "$info.$part"; fi
    done
done
touch "$admin/available"
echo 1 >"$admin/info/format"  # the multiarch layout: info/<package>:arm64.list
