#pragma once

// Reloads counted for /metrics (castor_reloads_total{result},
// castor_last_reload_timestamp_seconds): the rule store counts, the
// metrics actor reads. Process-wide atomics, as there is one relay per
// process. CAF-free.

#include <atomic>
#include <cstdint>

namespace castor::relay::control {

struct reload_counters {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> failed{0};
  /// Unix time of the last reload attempt, either outcome; 0: none yet.
  std::atomic<double> last_time{0};
};

/// The one instance.
reload_counters& reloads();

/// Counts one reload that succeeded (`ok`) or was rejected.
void count_reload(bool ok);

} // namespace castor::relay::control
