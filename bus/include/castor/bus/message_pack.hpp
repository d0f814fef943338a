#pragma once

// Many small messages in one buffer, for publishing without a string per
// message. A producer of small messages (scalesmall's case: under 100 bytes,
// a million a second) pays more for one allocation and one free per message
// than the bus pays to batch, number and send it; a pack costs one buffer
// for all, reused from batch to batch with clear().
//
// The buffer holds the messages in the bus's own record layout, a 16-bit
// big-endian length then the bytes (wire.hpp's message_overhead and
// message_length), so the publisher copies a run of them into a datagram
// with one memcpy. Plain C++17, no CAF.
//
//   message_pack p;
//   p.add("hello");
//   auto* m = p.extend(32);         // written in place
//   std::memset(m, ' ', 32);
//   self->request(pub, caf::infinite, publish_atom::value, std::move(p));

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "castor/bus/wire.hpp"

namespace castor::bus {

class message_pack {
public:
  /// The longest message a record holds (its length is 16 bits). The
  /// publisher takes at most a datagram's worth (publisher_core::
  /// max_message) and refuses and counts longer ones.
  static constexpr size_t max_record = 65535;

  message_pack() = default;
  message_pack(const message_pack&) = default;
  message_pack& operator=(const message_pack&) = default;
  /// A moved-from pack is empty.
  message_pack(message_pack&& other) noexcept
      : bytes_(std::move(other.bytes_)),
        count_(std::exchange(other.count_, 0)) {
    other.bytes_.clear();
  }
  message_pack& operator=(message_pack&& other) noexcept {
    bytes_ = std::move(other.bytes_);
    count_ = std::exchange(other.count_, 0);
    other.bytes_.clear();
    return *this;
  }

  /// Room for `messages` messages of `payload_bytes` bytes in all.
  void reserve(size_t messages, size_t payload_bytes);

  /// Appends a copy of one message. False (and nothing added) if it is
  /// longer than max_record.
  bool add(const void* data, size_t size);
  bool add(std::string_view m) { return add(m.data(), m.size()); }

  /// Appends one message of `size` bytes for the caller to write in place
  /// (its bytes are zero until written): valid until the next change to
  /// the pack. nullptr (and nothing added) if `size` > max_record.
  uint8_t* extend(size_t size);

  /// Messages in the pack.
  size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  /// The messages' bytes, without their lengths.
  size_t payload_bytes() const noexcept {
    return bytes_.size() - count_ * message_overhead;
  }
  /// Empties the pack and keeps its buffer.
  void clear() noexcept {
    bytes_.clear();
    count_ = 0;
  }

  /// The records, back to back.
  const uint8_t* records() const noexcept { return bytes_.data(); }
  size_t records_size() const noexcept { return bytes_.size(); }

  /// Calls f(const uint8_t*, size_t) for each message, in order.
  template <class F>
  void for_each(F f) const {
    size_t pos = 0;
    while (pos < bytes_.size()) {
      auto len = message_length(bytes_.data() + pos);
      f(bytes_.data() + pos + message_overhead, len);
      pos += message_overhead + len;
    }
  }

private:
  std::vector<uint8_t> bytes_;
  size_t count_ = 0;
};

} // namespace castor::bus
