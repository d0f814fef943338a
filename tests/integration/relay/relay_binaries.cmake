# Where the relay tests and bench/relay find castor-relay and castorctl:
# the targets when they exist, otherwise the paths they would be built at,
# where the scripts find nothing and skip (77). Sets _relay and _ctl.
if(TARGET castor-relay)
  set(_relay $<TARGET_FILE:castor-relay>)
else()
  set(_relay ${CMAKE_BINARY_DIR}/apps/relay/castor-relay)
endif()
if(TARGET castorctl)
  set(_ctl $<TARGET_FILE:castorctl>)
else()
  set(_ctl ${CMAKE_BINARY_DIR}/apps/relay/castorctl)
endif()
