#include "stream_accounting.hpp"

#include <algorithm>

namespace castor::tools {

bool stream_accounting::mark(uint64_t sequence) {
  auto word = static_cast<std::size_t>(sequence / 64);
  if (word >= seen_.size()) {
    // Grow geometrically so that an in-order stream reallocates O(log n)
    // times, not once per 64 packets.
    auto size = seen_.size() < 1024 ? std::size_t{1024} : seen_.size() * 2;
    seen_.resize(std::max(size, word + 1), 0);
  }
  auto bit = uint64_t{1} << (sequence % 64);
  if (seen_[word] & bit)
    return false;
  seen_[word] |= bit;
  return true;
}

void stream_accounting::record(uint64_t sequence, uint64_t latency_ns) {
  if (sequence > max_sequence) {
    ++out_of_range_;
    return;
  }
  latency_.record(latency_ns);
  if (!mark(sequence)) {
    ++duplicates_;
    return;
  }
  if (received_ > 0 && sequence < highest_)
    ++reordered_;
  if (received_ == 0 || sequence > highest_)
    highest_ = sequence;
  ++received_;
}

uint64_t stream_accounting::lost(uint64_t expected) const noexcept {
  auto want = expected == 0 ? span() : expected;
  return want > received_ ? want - received_ : 0;
}

} // namespace castor::tools
