#pragma once

// How castor-send spreads its streams over --threads sender threads so that
// every (stream, sequence) is sent exactly once:
//   - streams >= threads: each thread owns whole streams (stream i goes to
//     thread i % threads), so every stream stays in order;
//   - streams < threads: every thread sends every stream, taking every
//     threads-th sequence number. The receiver will count reordering (the
//     threads race), never loss or duplicates.
// A lane is one thread's share of one stream.

#include <cstdint>
#include <vector>

namespace castor::tools {

struct send_lane {
  uint32_t stream_index = 0; ///< index into the destination list
  uint64_t first = 0;        ///< first sequence number
  uint64_t stride = 1;       ///< distance between its sequence numbers
  uint64_t end = UINT64_MAX; ///< sequence numbers stay below this
};

struct thread_plan {
  std::vector<send_lane> lanes;
  /// This thread's part of the total rate, 0..1.
  double rate_share = 0;
};

/// count_per_stream == 0: unbounded lanes (the sender stops by time).
/// threads is clamped to at least 1.
std::vector<thread_plan> plan_threads(uint32_t streams, unsigned threads,
                                      uint64_t count_per_stream);

} // namespace castor::tools
