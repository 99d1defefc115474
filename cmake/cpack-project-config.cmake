# Read by cpack for each package it makes (CPACK_PROJECT_CONFIG_FILE, set in
# cmake/packaging.cmake for cross builds only): CPackDeb looks dpkg-shlibdeps up as
# SHLIBDEPS_EXECUTABLE, so naming the wrapper here makes it compute the arm64 Depends.
if(CPACK_DYNAMO_SHLIBDEPS_EXECUTABLE)
  set(SHLIBDEPS_EXECUTABLE "${CPACK_DYNAMO_SHLIBDEPS_EXECUTABLE}")
  set(ENV{DYNAMO_ARM64_SYSROOT} "${CPACK_DYNAMO_ARM64_SYSROOT}")
endif()
