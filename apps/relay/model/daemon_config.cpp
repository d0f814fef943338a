#include "model/daemon_config.hpp"

namespace castor::relay {

bool operator==(const metrics_settings& x, const metrics_settings& y) {
  return x.enabled == y.enabled && x.listen == y.listen;
}

bool operator==(const daemon_config& x, const daemon_config& y) {
  auto& a = x.relay;
  auto& b = y.relay;
  return a.workers == b.workers && a.ingress == b.ingress
         && a.control_socket == b.control_socket && a.log_level == b.log_level
         && a.log_target == b.log_target && x.rules == y.rules
         && x.metrics == y.metrics && x.include == y.include;
}

} // namespace castor::relay
