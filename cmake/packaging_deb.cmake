# The Debian package: `cpack -G DEB` in a build directory makes
# castor_<version>_<arch>.deb from what `cmake --install` lays out
# (packaging_layout.cmake), with the prefix /usr. tests/install/deb_install.sh
# installs it on a clean bookworm root and starts the relay.
#
# One package, castor, with the daemon, the tools, the man pages and the
# development files (static libraries, headers, the CMake package): they are
# small, and one package is one thing to install and test.

set(CASTOR_PACKAGE_MAINTAINER "castor developers <castor-dev@example.org>"
    CACHE STRING "The Maintainer: field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME castor)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "supervised UDP multicast relay and Erlang/OTP-style actor runtime")
set(CPACK_PACKAGE_DESCRIPTION
    "castor-relay forwards UDP multicast between interfaces where kernel
multicast routing cannot: sources that fail the RPF check, TTL=1 sources,
group or port rewrites, multicast to unicast. castorctl controls it at
runtime. The package also holds castor-send and castor-recv, measuring
traffic tools, and the castor::actors and castor::net runtime (static
libraries, headers, CMake package) it is built on, with castor::testkit
for unit tests on CAF's test DSL.")
set(CPACK_PACKAGE_CONTACT "${CASTOR_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

# castor_<version>_<arch>.deb, as dpkg-buildpackage would name it.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CASTOR_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps on the installed binaries;
# adduser is what the postinst calls, and a minimal bookworm lacks it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst
    ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm
    ${PROJECT_SOURCE_DIR}/packaging/conffiles)
# Executables without their debug info (RelWithDebInfo's are 3 to 4 times
# larger); CMake strips only executables and shared libraries, so the static
# libraries keep the symbols a consumer links against.
set(CPACK_STRIP_FILES ON)
# Maintainer scripts 0755, conffiles 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
