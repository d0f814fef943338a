#pragma once

// What a reload changed: decided by config/config_reload.hpp, answered to
// `castorctl reload` by the control protocol. Here, in the model, so that
// the config code does not include the control protocol. It keeps the
// protocol's namespace, where its JSON form (control_protocol.hpp) is.

#include <cstdint>
#include <string>
#include <vector>

namespace castor::relay::control {

/// What a reload changed (names of rules).
struct reload_summary {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  uint64_t unchanged = 0;
  /// Settings the file changed that take effect only after a restart.
  std::vector<std::string> restart_needed;
};

} // namespace castor::relay::control
