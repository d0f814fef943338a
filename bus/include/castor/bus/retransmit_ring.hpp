#pragma once

// The publisher's bounded retransmit ring: the last `capacity` data
// datagrams it sent, by sequence number, for repair (PGM's transmit window,
// NORM's sender buffer, Aeron's term buffers). Plain C++17, no CAF.
//
// Sequence numbers enter in order, +1 each. The oldest one still held is
// the trail, which heartbeats advertise: a NAK for anything older cannot be
// repaired, and the publisher says so with a heartbeat instead.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace castor::bus {

class retransmit_ring {
public:
  /// Holds up to `capacity` datagrams (at least 1) and `max_bytes` bytes
  /// of them (0: no byte bound).
  explicit retransmit_ring(size_t capacity, size_t max_bytes = 0);

  /// Stores a copy of datagram `seq`, which must be lead() + 1 (or
  /// anything, when empty); evicts the oldest beyond either bound. Once
  /// the ring is full, each datagram is copied into the buffer of the one
  /// it evicts: the publisher's steady state does not allocate for it.
  void push(uint64_t seq, const uint8_t* data, size_t size);
  void push(uint64_t seq, const std::vector<uint8_t>& datagram) {
    push(seq, datagram.data(), datagram.size());
  }

  /// The datagram of `seq`, or nullptr if it left the ring (or never was).
  const std::vector<uint8_t>* find(uint64_t seq) const noexcept;

  bool empty() const noexcept { return size_ == 0; }
  size_t size() const noexcept { return size_; }
  size_t bytes() const noexcept { return bytes_; }
  /// The oldest and newest sequence numbers held; valid when not empty.
  uint64_t trail() const noexcept { return trail_; }
  uint64_t lead() const noexcept { return trail_ + size_ - 1; }

private:
  /// `release`: give the slot's buffer back (evicted for the byte bound,
  /// or the ring starting over), rather than keep it for the next push.
  void pop_oldest(bool release);

  std::vector<std::vector<uint8_t>> slots_;
  size_t max_bytes_;
  size_t size_ = 0;
  size_t bytes_ = 0;
  uint64_t trail_ = 0;
};

} // namespace castor::bus
