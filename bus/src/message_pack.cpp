#include "castor/bus/message_pack.hpp"

#include <cstring>

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
  auto* p = extend(size);
  if (p == nullptr)
    return false;
  if (size > 0)
    std::memcpy(p, data, size);
  return true;
}

} // namespace castor::bus
