#!/bin/sh
# dpkg-shlibdeps for the arm64 package (cpack -G DEB in a build tree configured with
# cmake/aarch64-linux-gnu.cmake). The libraries the binary links are not installed on this
# machine but staged by scripts/install-cross-deps.sh, with a dpkg database that says which
# arm64 package each one comes from and holds those packages' shlibs and symbols files. So
# the Depends line is computed from the binary exactly as a native arm64 build would compute it.
set -e
sysroot=${DYNAMO_ARM64_SYSROOT:-$(cd "$(dirname "$0")/.." && pwd)/.cache/arm64-sysroot}
# The host architecture of the binary: library directories, objdump, symbols files.
export DEB_HOST_ARCH=arm64 DEB_HOST_ARCH_CPU=arm64 DEB_HOST_GNU_TYPE=aarch64-linux-gnu \
       DEB_HOST_MULTIARCH=aarch64-linux-gnu
case "$1" in
--version | --help) exec dpkg-shlibdeps "$@" ;;
esac
# A library it cannot place is sometimes only a warning and an empty answer: an arm64 package
# without Depends would install on a Pi and fail to start, so that is an error here.
out=$(dpkg-shlibdeps --admindir="$sysroot/var/lib/dpkg" \
    -l"$sysroot/usr/lib/aarch64-linux-gnu" -l/usr/aarch64-linux-gnu/lib "$@")
case "$out" in
*"libc6 ("*) printf '%s\n' "$out" ;;
*)
    echo "dpkg-shlibdeps-cross.sh: no Depends computed from $* (run scripts/install-cross-deps.sh)" >&2
    exit 1
    ;;
esac
