#pragma once

// The standard process_* metrics of Prometheus's client libraries
// (prometheus-cpp has none built in), read from /proc/self:
//   process_cpu_seconds_total      user + system CPU time
//   process_resident_memory_bytes  RSS
//   process_virtual_memory_bytes   VSZ
//   process_open_fds               entries of /proc/self/fd
//   process_max_fds                the soft RLIMIT_NOFILE
//   process_start_time_seconds     since the Unix epoch
// CAF-free.

#include <cstdint>

namespace castor::relay {

struct process_sample {
  double cpu_seconds = 0;
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
  double start_time_seconds = 0;
  /// False if /proc/self/stat could not be read (then all is 0).
  bool valid = false;
};

process_sample read_process_sample();

} // namespace castor::relay
