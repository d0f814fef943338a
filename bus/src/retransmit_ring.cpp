#include "castor/bus/retransmit_ring.hpp"

namespace castor::bus {

retransmit_ring::retransmit_ring(size_t capacity, size_t max_bytes)
    : slots_(capacity > 0 ? capacity : 1), max_bytes_(max_bytes) {}

void retransmit_ring::push(uint64_t seq, const uint8_t* data, size_t size) {
  if (size_ > 0 && seq != lead() + 1) {
    // Out of order: start over rather than hold a ring with holes.
    while (size_ > 0)
      pop_oldest(true);
  }
  if (size_ == 0)
    trail_ = seq;
  // Full: the oldest is in seq's slot (seq = trail + capacity), whose
  // buffer the copy below reuses.
  if (size_ == slots_.size())
    pop_oldest(false);
  slots_[seq % slots_.size()].assign(data, data + size);
  bytes_ += size;
  ++size_;
  while (max_bytes_ > 0 && bytes_ > max_bytes_ && size_ > 1)
    pop_oldest(true);
}

const std::vector<uint8_t>* retransmit_ring::find(uint64_t seq) const noexcept {
  if (size_ == 0 || seq < trail_ || seq > lead())
    return nullptr;
  return &slots_[seq % slots_.size()];
}

void retransmit_ring::pop_oldest(bool release) {
  auto& slot = slots_[trail_ % slots_.size()];
  bytes_ -= slot.size();
  if (release)
    slot = std::vector<uint8_t>{};
  else
    slot.clear();
  ++trail_;
  --size_;
}

} // namespace castor::bus
