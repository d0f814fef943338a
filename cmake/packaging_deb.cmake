# The Debian packages: `cpack -G DEB` in a build directory makes, from what
# `cmake --install` lays out (packaging_layout.cmake), with the prefix /usr:
#
#   castor_<version>_<arch>.deb      install component "daemon": castor-relay,
#                                    castorctl, castor-send, castor-recv,
#                                    castor-bus, the man pages, the systemd units, the config
#                                    and logrotate files, shell completion
#   castor-dev_<version>_<arch>.deb  install component "dev": the headers,
#                                    static libraries, CMake package and
#                                    pkg-config file of castor::actors, net,
#                                    packet, bus and testkit
#
# Every install() names no component unless it is the daemon's: the top-level
# CMakeLists.txt makes "dev" the default and apps/ and packaging_layout.cmake
# switch to "daemon", so that a library added later lands in -dev by itself.
# tests/install/deb_install.sh installs each package alone on a clean
# bookworm root: the daemon starts, and the -dev files build a program.

set(CASTOR_PACKAGE_MAINTAINER "castor developers <castor-dev@example.org>"
    CACHE STRING "The Maintainer: field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME castor)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${CASTOR_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CASTOR_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

# One package per install component.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon dev)
# <name>_<version>_<arch>.deb, as dpkg-buildpackage would name them.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Executables without their debug info (RelWithDebInfo's are 3 to 4 times
# larger); CMake strips only executables and shared libraries, so the static
# libraries keep the symbols a consumer links against.
set(CPACK_STRIP_FILES ON)
# Maintainer scripts 0755, conffiles 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# -- castor: the daemon and its tools ------------------------------------------
set(CPACK_COMPONENT_DAEMON_DISPLAY_NAME "castor-relay and its tools")
set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME castor)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SECTION net)
set(CPACK_COMPONENT_DAEMON_DESCRIPTION
    "supervised UDP multicast relay
castor-relay forwards UDP multicast between interfaces where kernel
multicast routing cannot: sources that fail the RPF check, TTL=1 sources,
group or port rewrites, multicast to unicast. castorctl controls it at
runtime. The package also holds castor-send and castor-recv, measuring
traffic tools, castor-bus (publish and subscribe on castor's multicast
bus from a shell), a systemd unit (and a template for several instances),
a logrotate snippet and bash and zsh completion.")
# Library dependencies come from dpkg-shlibdeps on the installed binaries;
# adduser is what the postinst calls, and a minimal bookworm lacks it.
set(CPACK_DEBIAN_DAEMON_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_DAEMON_PACKAGE_SUGGESTS "logrotate, bash-completion")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst
    ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm
    ${PROJECT_SOURCE_DIR}/packaging/conffiles)

# -- castor-dev: build against castor::actors, net, packet, bus, testkit --------
set(CPACK_COMPONENT_DEV_DISPLAY_NAME "castor development files")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME castor-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "Erlang/OTP-style actor runtime on CAF - development files
castor::actors (supervisors, applications, a registry), castor::net
(supervised UDP and TCP on Boost.Asio), castor::packet (AF_PACKET ingress,
BPF filters, send rings), castor::bus (reliable publish/subscribe on
multicast) and castor::testkit (unit tests on CAF's test
DSL): headers, static libraries, a CMake package (find_package(castor))
and a pkg-config file (castor.pc).")
# Static libraries: what their headers include and what a program linking
# them needs, from the same bookworm packages the build used.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libcaf-dev (>= 0.17.6), libcaf-dev (<< 0.18), libboost-dev (>= 1.74), libspdlog-dev, libfmt-dev, nlohmann-json3-dev (>= 3.10)")

include(CPack)
