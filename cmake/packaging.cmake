# Installation layout and the Debian package (CPack DEB). Included last by the top-level
# CMakeLists.txt, so every target exists here.
#
#   cmake --install build                  installs into / with the prefix /usr (what the unit's
#                                          ExecStart=/usr/sbin/dynamo-gateway expects)
#   DESTDIR=/tmp/root cmake --install build  the same tree under /tmp/root
#   cd build && cpack -G DEB               dynamo-gateway_<version>_<arch>.deb (make deb)
#
# What is installed, and where:
#   /usr/sbin/dynamo-gateway                    0755  (install rule in gateway/CMakeLists.txt)
#   /lib/systemd/system/dynamo-gateway.service  0644  Debian 12 packages still ship units in /lib
#   /usr/lib/sysusers.d/dynamo-gateway.conf     0644  the system user, see systemd/deb/postinst
#   /etc/dynamo-gateway/config.yaml             0640  config/example.yaml; a conffile. Owned
#                                                     root:root in the archive (no window in
#                                                     which the secrets are world-readable); the
#                                                     postinst gives it to group dynamo-gateway.
#   /var/lib/dynamo-gateway                     0700  made by the postinst, not shipped, so that
#                                                     dpkg never owns the queue's files.
# A system daemon with a packaged unit: the default prefix of a new build tree is /usr, not
# /usr/local, so that a plain `cmake --install` matches the unit's ExecStart=/usr/sbin/...
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
endif()

# The paths outside the prefix are chosen when installing, from that run's prefix, the way
# GNUInstallDirs maps /usr to /etc: prefix /usr -> /etc/dynamo-gateway and /lib/systemd/system,
# any other prefix P -> P/etc/dynamo-gateway and P/lib/systemd/system. So `cpack`, which installs
# with the prefix /usr, makes the same package whatever prefix the build tree was configured with.
# file(INSTALL) honours DESTDIR and records each file in install_manifest.txt.
install(CODE "set(_dynamo_source \"${PROJECT_SOURCE_DIR}\")")
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_dynamo_etc /etc)
    set(_dynamo_unitdir /lib/systemd/system)
  else()
    set(_dynamo_etc "${CMAKE_INSTALL_PREFIX}/etc")
    set(_dynamo_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
  set(_dynamo_0644 OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  set(_dynamo_0755 OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                   WORLD_READ WORLD_EXECUTE)
  file(INSTALL "${_dynamo_source}/systemd/dynamo-gateway.service"
       DESTINATION "${_dynamo_unitdir}" PERMISSIONS ${_dynamo_0644}
       DIR_PERMISSIONS ${_dynamo_0755})
  file(INSTALL "${_dynamo_source}/systemd/dynamo-gateway.sysusers"
       DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" RENAME dynamo-gateway.conf
       PERMISSIONS ${_dynamo_0644} DIR_PERMISSIONS ${_dynamo_0755})
  # 0640: config.yaml holds device passwords and tokens.
  file(INSTALL "${_dynamo_source}/config/example.yaml"
       DESTINATION "${_dynamo_etc}/dynamo-gateway" RENAME config.yaml
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ DIR_PERMISSIONS ${_dynamo_0755})
]])

# ---- CPack: one .deb -------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dynamo-gateway)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Dynamo Gateway maintainers <dynamo-gateway@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "DynDNS-protocol gateway and DNS interceptor for DNS Dynamo")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "DynDNS-protocol gateway and DNS interceptor for DNS Dynamo\n\
 Routers, IP cameras and NAS boxes that only speak the DynDNS.org protocol to\n\
 members.dyndns.org use this appliance as their DNS server. It answers that name\n\
 with its own address, forwards every other query upstream with a cache, and turns\n\
 their /nic/update calls into DNS Dynamo token-API calls (rate window respected,\n\
 durable queue, retries).")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # dynamo-gateway_0.1.0_amd64.deb
# Install into the staging tree through DESTDIR with the prefix /usr, so that the absolute /etc
# and /lib destinations above land in the package, never in this machine's /etc.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Debian strips binaries; the build tree keeps the debug information.
set(CPACK_STRIP_FILES ON)
# The architecture of the binary: amd64 natively, arm64 with cmake/aarch64-linux-gnu.cmake.
if(DEFINED DYNAMO_DEB_ARCHITECTURE)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${DYNAMO_DEB_ARCHITECTURE})
endif()
# Depends from the binary's libraries (dpkg-shlibdeps, in dpkg-dev): libc6, libc-ares2,
# libevent-*-2.1-7, libssl3, libyaml-cpp0.7, libstdc++6, libgcc-s1, with their minimum versions.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The postinst creates the user with systemd-sysusers, or with adduser where systemd is missing.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "dnsutils")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/systemd/deb/conffiles
    ${PROJECT_SOURCE_DIR}/systemd/deb/postinst
    ${PROJECT_SOURCE_DIR}/systemd/deb/prerm
    ${PROJECT_SOURCE_DIR}/systemd/deb/postrm)
# Maintainer scripts 0755, conffiles 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Cross builds: the toolchain file names a dpkg-shlibdeps wrapper that knows the staged arm64
# libraries and their packages (scripts/install-cross-deps.sh).
if(DEFINED DYNAMO_SHLIBDEPS_EXECUTABLE)
  set(CPACK_DYNAMO_SHLIBDEPS_EXECUTABLE ${DYNAMO_SHLIBDEPS_EXECUTABLE})
  set(CPACK_DYNAMO_ARM64_SYSROOT ${DYNAMO_ARM64_SYSROOT})
  set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/cmake/cpack-project-config.cmake)
endif()
include(CPack)
