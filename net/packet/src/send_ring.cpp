#include "castor/packet/send_ring.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace castor::packet {

send_ring::send_ring(std::size_t slots, std::size_t slot_bytes,
                     std::size_t max_outputs, std::size_t max_batch)
  : slots_(slots),
    slot_bytes_(slot_bytes),
    max_batch_(max_batch),
    buffers_(new uint8_t[slots * slot_bytes]),
    msgs_(slots),
    iovs_(slots),
    dests_(slots),
    owners_(slots),
    counters_(max_outputs) {
  if (slots == 0 || slot_bytes == 0 || max_batch == 0)
    throw std::invalid_argument("send_ring: slots, slot size and batch must "
                                "be positive");
  // The message headers point at fixed per-slot storage once and for all;
  // enqueue only fills in the lengths and bytes.
  for (std::size_t i = 0; i < slots; ++i) {
    iovs_[i].iov_base = buffers_.get() + i * slot_bytes;
    iovs_[i].iov_len = 0;
    msgs_[i] = mmsghdr{};
    msgs_[i].msg_hdr.msg_name = &dests_[i];
    msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

bool send_ring::enqueue(uint32_t output, const sockaddr_in& dest,
                        const uint8_t* data, std::size_t size) noexcept {
  if (output >= counters_.size())
    return false;
  auto& c = counters_[output];
  if (size > slot_bytes_) {
    ++c.too_big;
    return false;
  }
  if (count_ == slots_) {
    ++c.queue_full;
    return false;
  }
  std::size_t i = head_ + count_;
  if (i >= slots_)
    i -= slots_;
  std::memcpy(iovs_[i].iov_base, data, size);
  iovs_[i].iov_len = size;
  dests_[i] = dest;
  owners_[i] = output;
  ++count_;
  return true;
}

void send_ring::release(std::size_t n) noexcept {
  head_ += n;
  if (head_ >= slots_)
    head_ -= slots_;
  count_ -= n;
}

flush_result send_ring::flush(send_batch_fn send, void* context) noexcept {
  flush_result result;
  while (count_ > 0) {
    // sendmmsg needs a contiguous array: send up to the ring's end, then
    // wrap around on the next pass.
    std::size_t run = slots_ - head_;
    if (run > count_)
      run = count_;
    if (run > max_batch_)
      run = max_batch_;
    const int sent = send(context, &msgs_[head_], static_cast<unsigned>(run));
    if (sent > 0) {
      for (int k = 0; k < sent; ++k) {
        const std::size_t i = head_ + static_cast<std::size_t>(k);
        auto& c = counters_[owners_[i]];
        ++c.packets;
        c.bytes += iovs_[i].iov_len;
      }
      result.sent += static_cast<std::size_t>(sent);
      release(static_cast<std::size_t>(sent));
      // A short count means the next message failed; the next pass gets
      // its error as -1.
      continue;
    }
    if (sent < 0 && errno == EINTR)
      continue;
    if (sent == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
      result.blocked = true;
      break;
    }
    // This one datagram is refused (no route, EMSGSIZE, EPERM from a
    // firewall, ENOBUFS...): drop it alone and go on with the rest.
    auto& c = counters_[owners_[head_]];
    ++c.send_error;
    c.last_error = errno;
    ++result.failed;
    release(1);
  }
  return result;
}

void send_ring::reset_counters(uint32_t output) noexcept {
  if (output < counters_.size())
    counters_[output] = output_counters{};
}

} // namespace castor::packet
