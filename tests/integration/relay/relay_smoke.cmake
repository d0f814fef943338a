# castor-relay's own smoke test (relay_smoke_netns.sh), included by this
# directory's CMakeLists.txt; uses its _tools_dir, _relay and _ctl.
add_test(NAME relay_smoke_netns
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/relay_smoke_netns.sh
                 ${_tools_dir} ${_relay} ${_ctl})
set_tests_properties(relay_smoke_netns PROPERTIES
  SKIP_RETURN_CODE 77 TIMEOUT 120 RUN_SERIAL TRUE
  LABELS "integration;relay;netns")
