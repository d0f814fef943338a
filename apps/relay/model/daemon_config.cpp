#include "model/daemon_config.hpp"

#include <algorithm>
#include <thread>

namespace castor::relay {

bool operator==(const metrics_settings& x, const metrics_settings& y) {
  return x.enabled == y.enabled && x.listen == y.listen;
}

bool operator==(const daemon_config& x, const daemon_config& y) {
  auto& a = x.relay;
  auto& b = y.relay;
  return a.workers == b.workers && a.ingress == b.ingress
         && a.datapath == b.datapath && a.control_socket == b.control_socket
         && a.control_admin_group == b.control_admin_group
         && a.log_level == b.log_level && a.log_target == b.log_target
         && a.max_frame == b.max_frame
         && a.max_buffer_memory_mib == b.max_buffer_memory_mib
         && x.rules == y.rules && x.metrics == y.metrics
         && x.include == y.include && x.sites == y.sites;
}

unsigned forwarders_per_interface(const relay_settings& s) {
  if (s.ingress == ingress_mode::socket)
    return 1;
  if (s.workers > 0)
    return s.workers;
  return std::max(1u, std::thread::hardware_concurrency());
}

} // namespace castor::relay
