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
include(GNUInstallDirs)

# A system daemon with a packaged unit: the default prefix is /usr, not /usr/local, so that a
# plain `cmake --install` matches the unit file. GNUInstallDirs then maps sysconfdir to /etc.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
  include(GNUInstallDirs)  # recompute the FULL_ paths for the new prefix
endif()
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_dynamo_unitdir_default /lib/systemd/system)
else()
  set(_dynamo_unitdir_default ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(DYNAMO_SYSTEMD_UNITDIR ${_dynamo_unitdir_default} CACHE PATH "Where the systemd unit is installed")
set(DYNAMO_SYSUSERSDIR ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d CACHE PATH "Where the sysusers.d file is installed")
set(DYNAMO_CONFIGDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/dynamo-gateway)

install(FILES ${PROJECT_SOURCE_DIR}/systemd/dynamo-gateway.service
        DESTINATION ${DYNAMO_SYSTEMD_UNITDIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/dynamo-gateway.sysusers
        DESTINATION ${DYNAMO_SYSUSERSDIR} RENAME dynamo-gateway.conf
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(DIRECTORY DESTINATION ${DYNAMO_CONFIGDIR}
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                              WORLD_READ WORLD_EXECUTE)
install(FILES ${PROJECT_SOURCE_DIR}/config/example.yaml
        DESTINATION ${DYNAMO_CONFIGDIR} RENAME config.yaml
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

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
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# /etc and /lib are absolute destinations: install into the staging tree through DESTDIR, never
# into this machine's /etc.
set(CPACK_SET_DESTDIR ON)
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
  set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/cmake/cpack-project-config.cmake)
endif()
include(CPack)
