# Cross-compiling for 64-bit Raspberry Pi OS (Debian 12 arm64) with Debian's cross toolchain:
#
#   scripts/install-cross-deps.sh      # g++-aarch64-linux-gnu, qemu-user, the arm64 libraries
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# (`make deb-arm64` and `make test-arm64` do exactly that.)
#
# glibc and libstdc++ for arm64 come with the cross compiler (/usr/aarch64-linux-gnu). The
# other libraries are Debian's arm64 packages unpacked by install-cross-deps.sh into a staging
# directory, DYNAMO_ARM64_SYSROOT (default .cache/arm64-sysroot), because libevent-dev and
# libyaml-cpp-dev cannot be co-installed as :arm64 next to their amd64 twins (see the script).
# Tests run through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR), so ctest and
# gtest_discover_tests work unchanged.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(NOT DYNAMO_ARM64_SYSROOT)
  if(DEFINED ENV{DYNAMO_ARM64_SYSROOT})
    set(DYNAMO_ARM64_SYSROOT $ENV{DYNAMO_ARM64_SYSROOT})
  else()
    get_filename_component(DYNAMO_ARM64_SYSROOT ${CMAKE_CURRENT_LIST_DIR}/../.cache/arm64-sysroot
                           ABSOLUTE)
  endif()
endif()
if(NOT EXISTS ${DYNAMO_ARM64_SYSROOT}/usr/include/ares.h)
  message(FATAL_ERROR "No arm64 libraries in ${DYNAMO_ARM64_SYSROOT}: run scripts/install-cross-deps.sh")
endif()
# Try-compile projects (CMake's compiler and feature checks) must see the same settings.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DYNAMO_ARM64_SYSROOT)
set(_arm64_libdir ${DYNAMO_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu)

# Headers and libraries: the staging directory first, then the cross toolchain's own; never the
# host's x86-64 libraries. Programs (python3, cpack) are the host's.
set(CMAKE_FIND_ROOT_PATH ${DYNAMO_ARM64_SYSROOT} /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The cross compiler also searches the host's /usr/include last: the staged headers
# (event2/event-config.h is per architecture) must come before it. yaml-cpp's CMake package
# names no include directory, so this is also how its headers are found.
# usr/include/aarch64-linux-gnu holds the per-architecture headers (openssl/opensslconf.h).
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES
    ${DYNAMO_ARM64_SYSROOT}/usr/include/aarch64-linux-gnu ${DYNAMO_ARM64_SYSROOT}/usr/include)
set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES ${CMAKE_C_STANDARD_INCLUDE_DIRECTORIES})
# -rpath-link: the staged libraries' own dependencies (libevent_openssl -> libssl) resolve at
# link time. Nothing is baked into the binary: on the Pi the libraries are in the default path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-L${_arm64_libdir} -Wl,-rpath-link,${_arm64_libdir}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-L${_arm64_libdir} -Wl,-rpath-link,${_arm64_libdir}")

# pkg-config (c-ares, libevent): only the staged arm64 .pc files, paths rebased onto the staging
# directory.
set(ENV{PKG_CONFIG_LIBDIR} ${_arm64_libdir}/pkgconfig:${DYNAMO_ARM64_SYSROOT}/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${DYNAMO_ARM64_SYSROOT})
set(ENV{PKG_CONFIG_PATH} "")

# Run arm64 test binaries with qemu-aarch64 (Debian's qemu-user): glibc and libstdc++ from the
# cross toolchain's tree (-L), the other libraries from the staging directory.
find_program(DYNAMO_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(DYNAMO_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      ${DYNAMO_QEMU_AARCH64} -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=${_arm64_libdir})
endif()

# The package: Architecture arm64, and Depends computed with the staged packages' shlibs and
# symbols files (cmake/dpkg-shlibdeps-cross.sh), not this machine's amd64 ones.
set(DYNAMO_DEB_ARCHITECTURE arm64)
set(DYNAMO_SHLIBDEPS_EXECUTABLE ${CMAKE_CURRENT_LIST_DIR}/dpkg-shlibdeps-cross.sh)
