#pragma once

// What castor-recv counts for one stream, from the sequence numbers and send
// times of the datagrams that arrive:
//
//   received    distinct sequence numbers seen
//   duplicates  arrivals of a sequence number seen before
//   reordered   first arrivals of a sequence number lower than the highest
//               seen before it (it came late, overtaken by a later one)
//   lost        expected - received, where expected is what the caller says
//               (castor-recv --expect-count) or, if it does not know,
//               highest sequence + 1 (the sender counts from 0, so a loss
//               at the end of a stream is invisible without --expect-count)
//   latency     receive time - send time, over every arrival
//
// Sequence numbers are kept in a bitmap that grows with the highest one
// seen, up to max_sequence; beyond that an arrival is counted as
// out_of_range and otherwise ignored, so a corrupt or foreign header can
// not make the receiver allocate without bound.

#include <cstdint>
#include <vector>

#include "latency_histogram.hpp"

namespace castor::tools {

class stream_accounting {
public:
  /// 2^28 sequence numbers: 32 MiB of bitmap, over 40 minutes at 100 kpps.
  static constexpr uint64_t max_sequence = (uint64_t{1} << 28) - 1;

  /// One arrival; latency_ns is receive time - send time (clamped at 0 by
  /// the caller if the clocks disagree).
  void record(uint64_t sequence, uint64_t latency_ns);

  uint64_t received() const noexcept { return received_; }
  uint64_t duplicates() const noexcept { return duplicates_; }
  uint64_t reordered() const noexcept { return reordered_; }
  uint64_t out_of_range() const noexcept { return out_of_range_; }
  /// Highest sequence number + 1; 0 before the first arrival.
  uint64_t span() const noexcept { return received_ == 0 ? 0 : highest_ + 1; }
  /// expected - received, or 0 if more arrived than expected. expected == 0
  /// means "unknown": span() is used instead.
  uint64_t lost(uint64_t expected = 0) const noexcept;

  const latency_histogram& latency() const noexcept { return latency_; }

private:
  /// Sets the bit of `sequence`; true if it was clear.
  bool mark(uint64_t sequence);

  std::vector<uint64_t> seen_;
  uint64_t highest_ = 0;
  uint64_t received_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t reordered_ = 0;
  uint64_t out_of_range_ = 0;
  latency_histogram latency_;
};

} // namespace castor::tools
