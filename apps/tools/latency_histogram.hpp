#pragma once

// Latency percentiles without keeping every sample: a log-linear histogram
// (the HdrHistogram idea). Values below 128 ns have a bucket each; above
// that every power of two is split into 64 buckets, so a reported
// percentile is within 1/64 (1.6 %) of the true sample, always at or above
// it. The maximum and minimum are exact. Fixed size, no allocation per
// sample: recording is one index computation and an increment, cheap enough
// for a receiver doing a million packets a second.

#include <array>
#include <cstdint>

namespace castor::tools {

class latency_histogram {
public:
  void record(uint64_t ns) noexcept;
  /// Adds another histogram's samples (for the total over all streams).
  void merge(const latency_histogram& other) noexcept;

  uint64_t count() const noexcept { return count_; }
  uint64_t max() const noexcept { return max_; }
  uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }

  /// The smallest bucket value v such that at least fraction q (0..1) of
  /// the samples are <= v; the exact max for q == 1; 0 when empty.
  uint64_t percentile(double q) const noexcept;

  /// Exposed for tests: the bucket of a value and the largest value that
  /// bucket holds.
  static unsigned bucket_of(uint64_t ns) noexcept;
  static uint64_t bucket_upper(unsigned bucket) noexcept;

private:
  static constexpr unsigned sub_bits = 6; // 64 buckets per power of two
  static constexpr unsigned linear_limit = 2u << sub_bits; // 128
  static constexpr unsigned bucket_count = (64 - sub_bits + 1) << sub_bits;

  std::array<uint64_t, bucket_count> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

} // namespace castor::tools
