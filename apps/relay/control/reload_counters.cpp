#include "control/reload_counters.hpp"

#include <chrono>

namespace castor::relay::control {

reload_counters& reloads() {
  static reload_counters instance;
  return instance;
}

void count_reload(bool ok) {
  auto& r = reloads();
  (ok ? r.ok : r.failed).fetch_add(1, std::memory_order_relaxed);
  r.last_time.store(std::chrono::duration<double>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count(),
                    std::memory_order_relaxed);
}

} // namespace castor::relay::control
