#include "castor/bus/message_pack.hpp"

namespace castor::bus {

void message_pack::reserve(size_t messages, size_t payload_bytes) {
  bytes_.reserve(messages * message_overhead + payload_bytes);
}

uint8_t* message_pack::extend(size_t size) {
  if (size > max_record)
    return nullptr;
  auto at = bytes_.size();
  bytes_.resize(at + message_overhead + size);
  bytes_[at] = static_cast<uint8_t>(size >> 8);
  bytes_[at + 1] = static_cast<uint8_t>(size);
  ++count_;
  return bytes_.data() + at + message_overhead;
}

bool message_pack::add(const void* data, size_t size) {
  if (size > max_record)
    return false;
  // Copied in, not extended and then overwritten: extend() zero-fills,
  // which at 32 B a message cost as much as the copy.
  const uint8_t len[message_overhead] = {static_cast<uint8_t>(size >> 8),
                                         static_cast<uint8_t>(size)};
  auto at = bytes_.size();
  try {
    bytes_.insert(bytes_.end(), len, len + message_overhead);
    auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  } catch (...) {
    // No length without its bytes: the pack stays as it was.
    bytes_.resize(at);
    throw;
  }
  ++count_;
  return true;
}

} // namespace castor::bus
