// The CAF unit-test runner's main(); the suites live in the other TUs.
#define CAF_SUITE group
#define FAIL CAF_FAIL
#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>
