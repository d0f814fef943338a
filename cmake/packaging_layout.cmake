# What `cmake --install` lays out for an operator, next to the libraries,
# headers and CMake package the top-level file installs: the man pages, the
# systemd unit, the config files and the examples. The executables install
# themselves (apps/*/CMakeLists.txt): castor-relay to sbin, the rest to bin.
#
#   share/man/man8/castor-relay.8.gz, castorctl.8.gz, man5/castor.conf.5.gz
#   share/doc/castor/examples/*.toml        config/relay.toml and examples/
#   share/doc/castor/copyright              LICENSE (Debian policy's name)
#   lib/systemd/system/castor-relay.service CASTOR_SYSTEMD_UNIT_DIR
#   etc/castor/relay.toml                   /etc for a /usr prefix (the .deb)
#   etc/default/castor-relay                (likewise)
#   etc/logrotate.d/castor-relay            (likewise)

# -- man pages: scdoc sources in docs/man, built at build time ----------------
# scdoc (Debian `scdoc`, scripts/install-deps.sh) is a small C program with no
# dependencies; the pages are generated into the build tree, never committed.
find_program(CASTOR_SCDOC scdoc)
set(_castor_man_pages castor-relay.8 castorctl.8 castor.conf.5)
if(CASTOR_SCDOC)
  set(_castor_man_outputs "")
  foreach(page IN LISTS _castor_man_pages)
    set(src ${PROJECT_SOURCE_DIR}/docs/man/${page}.scd)
    set(out ${PROJECT_BINARY_DIR}/docs/man/${page}.gz)
    # gzip -n: no name or time stamp in the header, so the same source gives
    # the same bytes (the page's own date comes from SOURCE_DATE_EPOCH, if
    # set). Debian installs man pages compressed.
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/docs/man
      COMMAND sh -c "\"$0\" < \"$1\" | gzip -9n > \"$2.tmp\" && mv \"$2.tmp\" \"$2\""
              ${CASTOR_SCDOC} ${src} ${out}
      DEPENDS ${src}
      COMMENT "scdoc ${page}"
      VERBATIM)
    list(APPEND _castor_man_outputs ${out})
    string(REGEX MATCH "[0-9]$" section ${page})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(castor_man_pages ALL DEPENDS ${_castor_man_outputs})
else()
  message(WARNING "scdoc not found: the man pages are not built or "
                  "installed (apt-get install scdoc, or "
                  "scripts/install-deps.sh)")
endif()

# -- the systemd unit ---------------------------------------------------------
set(CASTOR_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit goes: relative to the install prefix, or absolute")
# Written apart from the packaging (config/); installed once it exists.
if(EXISTS ${PROJECT_SOURCE_DIR}/config/castor-relay.service)
  install(FILES ${PROJECT_SOURCE_DIR}/config/castor-relay.service
          DESTINATION ${CASTOR_SYSTEMD_UNIT_DIR})
endif()

# -- license: where Debian policy (12.5) expects it in a package -------------
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright)

# -- examples -----------------------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/config/relay.toml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/examples/
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.toml")

# -- files under etc ----------------------------------------------------------
# GNUInstallDirs decides SYSCONFDIR at configure time: /etc only when the
# prefix is /usr. But one build serves both `cmake --install --prefix
# /opt/castor` (which must stay inside its prefix) and cpack, which installs
# with the prefix /usr into a staging DESTDIR. So the same rule is applied
# at install time instead: /etc for a /usr or / prefix, PREFIX/etc otherwise.
# file(INSTALL) prepends DESTDIR itself.
function(castor_install_etc src subdir name)
  install(CODE "
    if(CMAKE_INSTALL_PREFIX MATCHES \"^/(usr/?)?$\")
      set(_castor_etc /etc)
    else()
      set(_castor_etc \"\${CMAKE_INSTALL_PREFIX}/etc\")
    endif()
    file(INSTALL DESTINATION \"\${_castor_etc}/${subdir}\" TYPE FILE
         RENAME \"${name}\" FILES \"${src}\")
  ")
endfunction()

# The packaged defaults: no rules (the service starts idle), and the
# environment file the unit reads.
castor_install_etc(${PROJECT_SOURCE_DIR}/packaging/relay.toml castor relay.toml)
castor_install_etc(${PROJECT_SOURCE_DIR}/packaging/castor-relay.default
                   default castor-relay)
# logrotate's snippet for a file log target (SIGUSR2 reopens the file).
castor_install_etc(${PROJECT_SOURCE_DIR}/packaging/castor-relay.logrotate
                   logrotate.d castor-relay)
