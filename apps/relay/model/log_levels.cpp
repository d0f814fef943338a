#include "model/log_levels.hpp"

#include <algorithm>

namespace castor::relay {

const std::vector<std::string>& log_levels() {
  static const std::vector<std::string> levels{"none",   "err",  "warn",
                                               "notice", "info", "debug"};
  return levels;
}

bool is_log_level(const std::string& level) {
  auto& xs = log_levels();
  return std::find(xs.begin(), xs.end(), level) != xs.end();
}

} // namespace castor::relay
