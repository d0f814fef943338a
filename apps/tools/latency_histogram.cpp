#include "latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace castor::tools {

// Buckets 0..127 hold the values 0..127. A value with its top bit at
// position m >= 7 is shifted right by s = m - 6, which leaves 7 significant
// bits, 64..127; its bucket is 64 * s + (v >> s), which continues the
// linear range without gaps: s = 1 gives 128..191, s = 2 gives 192..255.
unsigned latency_histogram::bucket_of(uint64_t ns) noexcept {
  if (ns < linear_limit)
    return static_cast<unsigned>(ns);
  auto top = 63u - static_cast<unsigned>(__builtin_clzll(ns));
  auto shift = top - sub_bits;
  return (shift << sub_bits) + static_cast<unsigned>(ns >> shift);
}

uint64_t latency_histogram::bucket_upper(unsigned bucket) noexcept {
  if (bucket < linear_limit)
    return bucket;
  auto shift = (bucket >> sub_bits) - 1;
  auto mantissa = static_cast<uint64_t>(bucket - (shift << sub_bits));
  return ((mantissa + 1) << shift) - 1;
}

void latency_histogram::record(uint64_t ns) noexcept {
  ++buckets_[bucket_of(ns)];
  ++count_;
  max_ = std::max(max_, ns);
  min_ = std::min(min_, ns);
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (unsigned i = 0; i < bucket_count; ++i)
    buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

uint64_t latency_histogram::percentile(double q) const noexcept {
  if (count_ == 0)
    return 0;
  if (q >= 1.0)
    return max_;
  // The rank of the sample that q covers, 1-based: ceil(q * n), at least 1.
  auto rank = static_cast<uint64_t>(
    std::ceil(std::max(0.0, q) * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (unsigned i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank)
      // A bucket's upper bound may lie above every sample in it.
      return std::min(bucket_upper(i), max_);
  }
  return max_;
}

} // namespace castor::tools
