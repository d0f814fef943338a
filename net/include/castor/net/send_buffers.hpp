#pragma once
// send_buffers: the byte buffers a socket has sent, handed back for its
// owner to fill again. A producer that hands its socket one
// std::vector<uint8_t> per datagram (the bus's publisher) otherwise
// allocates a buffer per datagram and the socket frees it once sent; with
// send_buffers attached (udp_options::recycle) the socket puts each buffer
// it has sent here, with its capacity, and the producer takes them back:
// one lock per send batch and per take, no allocation per datagram.
//
// Bounded: beyond `max_buffers` (or for a buffer larger than
// `max_capacity`) the buffer is freed as before. Thread-safe: the socket's
// io thread puts, the owner takes, on whatever thread it runs.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace castor::net {

class send_buffers {
public:
  explicit send_buffers(size_t max_buffers = 1024, size_t max_capacity = 65536)
      : max_buffers_(max_buffers), max_capacity_(max_capacity) {}

  send_buffers(const send_buffers&) = delete;
  send_buffers& operator=(const send_buffers&) = delete;

  /// Keeps the buffers of `spent` (emptied, their capacity kept) as far as
  /// the bounds allow, frees the rest; leaves `spent` empty.
  void put(std::vector<std::vector<uint8_t>>& spent);

  /// Moves up to `n` kept buffers (empty, with capacity) to the back of
  /// `into`; returns how many.
  size_t take(std::vector<std::vector<uint8_t>>& into, size_t n);

  /// Buffers kept now.
  size_t size() const;

private:
  const size_t max_buffers_;
  const size_t max_capacity_;
  mutable std::mutex mtx_;
  std::vector<std::vector<uint8_t>> kept_;
};

} // namespace castor::net
