#include "child_table.hpp"

namespace castor::detail {

const char* to_cstr(child_state x) {
  switch (x) {
  case child_state::stopped:
    return "stopped";
  case child_state::starting:
    return "starting";
  case child_state::running:
    return "running";
  case child_state::stopping:
    return "stopping";
  case child_state::restarting:
    return "restarting";
  }
  return "?";
}

} // namespace castor::detail
