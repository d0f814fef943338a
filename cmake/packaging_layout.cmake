# What `cmake --install` lays out for an operator, next to the libraries,
# headers and CMake package the top-level file installs: the man pages, the
# systemd unit, the config files and the examples. The executables install
# themselves (apps/*/CMakeLists.txt): castor-relay to sbin, the rest to bin.
#
#   share/man/man8/castor-relay.8.gz, castorctl.8.gz, man5/castor.conf.5.gz,
#   man1/castor-bus.1.gz
#   share/doc/castor/examples/*.toml        config/relay.toml and examples/
#   share/doc/castor/copyright              LICENSE (Debian policy's name)
#   lib/systemd/system/castor-relay.service CASTOR_SYSTEMD_UNIT_DIR
#   lib/systemd/system/castor-relay@.service  the same, one per instance
#   share/bash-completion/completions/castorctl, castor-relay
#   share/zsh/vendor-completions/_castorctl, _castor-relay
#   etc/castor/relay.toml                   /etc for a /usr prefix (the .deb)
#   etc/default/castor-relay                (likewise)
#   etc/logrotate.d/castor-relay            (likewise)
#
# All of it is the "daemon" install component (the castor package); the
# pkg-config file at the end is "dev" (castor-dev).
set(CMAKE_INSTALL_DEFAULT_COMPONENT_NAME daemon)

# -- man pages: scdoc sources in docs/man, built at build time ----------------
# scdoc (Debian `scdoc`, scripts/install-deps.sh) is a small C program with no
# dependencies; the pages are generated into the build tree, never committed.
find_program(CASTOR_SCDOC scdoc)
set(_castor_man_pages castor-relay.8 castorctl.8 castor.conf.5 castor-bus.1)
if(CASTOR_SCDOC)
  set(_castor_man_outputs "")
  foreach(page IN LISTS _castor_man_pages)
    set(src ${PROJECT_SOURCE_DIR}/docs/man/${page}.scd)
    set(out ${PROJECT_BINARY_DIR}/docs/man/${page}.gz)
    # gzip -n: no name or time stamp in the header, so the same source gives
    # the same bytes (the page's own date comes from SOURCE_DATE_EPOCH, if
    # set). Debian installs man pages compressed. scdoc writes to a file
    # first: in a pipe its error (a malformed page) would be lost behind
    # gzip's success, and an empty page installed.
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/docs/man
      COMMAND sh -c "\"$0\" < \"$1\" > \"$2.roff\" && gzip -9n < \"$2.roff\" > \"$2.tmp\" && mv \"$2.tmp\" \"$2\" && rm -f \"$2.roff\""
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

# -- the systemd units ----------------------------------------------------------
set(CASTOR_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit goes: relative to the install prefix, or absolute")

# castor_instance_unit(SRC OUT): writes OUT, the template unit
# castor-relay@.service, from the single-instance unit SRC, so that the two
# cannot drift apart: the same hardening, with per-instance names. Each
# replacement must match exactly once, or the configure fails.
function(castor_instance_unit src out)
  file(READ ${src} text)
  set(pairs
    "Description=castor multicast relay\n"
    "Description=castor multicast relay, instance %i\n"
    "EnvironmentFile=-/etc/default/castor-relay\n"
    "EnvironmentFile=-/etc/default/castor-relay\nEnvironmentFile=-/etc/default/castor-relay@%i\n"
    "ExecStart=/usr/sbin/castor-relay -n -f /etc/castor/relay.toml $DAEMON_ARGS\n"
    "ExecStart=/usr/sbin/castor-relay -n -f /etc/castor/%i.toml -u /run/castor-%i/relay.sock $DAEMON_ARGS\n"
    "ExecReload=/usr/bin/castorctl -u /run/castor/relay.sock reload\n"
    "ExecReload=/usr/bin/castorctl -u /run/castor-%i/relay.sock reload\n"
    "RuntimeDirectory=castor\n"
    "RuntimeDirectory=castor-%i\n"
    "StateDirectory=castor\n"
    "StateDirectory=castor/%i\n")
  list(LENGTH pairs n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET pairs ${i} from)
    list(GET pairs ${j} to)
    string(FIND "${text}" "${from}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${src} has no line '${from}': update "
                          "castor_instance_unit in ${CMAKE_CURRENT_LIST_FILE}")
    endif()
    string(REPLACE "${from}" "${to}" text "${text}")
  endforeach()
  file(WRITE ${out}.tmp
"# castor-relay@.service: one castor-relay per instance name, e.g.
#   systemctl enable --now castor-relay@site-a
# runs /etc/castor/site-a.toml with the control socket
# /run/castor-site-a/relay.sock (castorctl -u /run/castor-site-a/relay.sock;
# the -u given here overrides the file's control_socket), the state
# directory /var/lib/castor/site-a and extra options from
# /etc/default/castor-relay and /etc/default/castor-relay@site-a.
# Generated from castor-relay.service by cmake/packaging_layout.cmake:
# everything else is the same.
#
${text}")
  # Rewritten only when it changes: installs and cpack stay incremental.
  configure_file(${out}.tmp ${out} COPYONLY)
  file(REMOVE ${out}.tmp)
endfunction()

# Written apart from the packaging (config/); installed once it exists.
set(_castor_unit ${PROJECT_SOURCE_DIR}/config/castor-relay.service)
if(EXISTS ${_castor_unit})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_castor_unit})
  castor_instance_unit(${_castor_unit}
                       ${PROJECT_BINARY_DIR}/systemd/castor-relay@.service)
  install(FILES ${_castor_unit}
                ${PROJECT_BINARY_DIR}/systemd/castor-relay@.service
          DESTINATION ${CASTOR_SYSTEMD_UNIT_DIR})
endif()

# -- shell completion ---------------------------------------------------------------
# Where Debian's bash-completion and zsh look for them.
set(_castor_completion ${PROJECT_SOURCE_DIR}/packaging/completion)
install(FILES ${_castor_completion}/castorctl.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME castorctl)
install(FILES ${_castor_completion}/castor-relay.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME castor-relay)
install(FILES ${_castor_completion}/_castorctl ${_castor_completion}/_castor-relay
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)

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

# -- castor-dev: the pkg-config file and the package's copyright ---------------------
set(CMAKE_INSTALL_DEFAULT_COMPONENT_NAME dev)
file(RELATIVE_PATH CASTOR_PC_TO_PREFIX
     /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/castor.pc.in
               ${PROJECT_BINARY_DIR}/castor.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/castor.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/castor-dev RENAME copyright)
