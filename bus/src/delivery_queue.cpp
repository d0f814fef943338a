#include "castor/bus/delivery_queue.hpp"

#include <cstddef>
#include <utility>

namespace castor::bus {

void delivery_queue::push(subscriber_output& out) {
  auto n = out.messages.size();
  if (n == 0) {
    out.bytes.clear();
    return;
  }
  auto room = size_ < max_queue_ ? max_queue_ - size_ : 0;
  segment seg;
  if (room >= n) {
    // The buffer is moved (the caller reserves the next one at its
    // size); the refs are copied, so that out.messages keeps its capacity.
    seg.bytes = std::make_shared<const std::string>(std::move(out.bytes));
    seg.refs = out.messages;
  } else {
    // Full: the newest are dropped. Keep the bytes of the queued ones
    // only, so that dropped payloads hold no memory.
    dropped_ += n - room;
    if (room == 0) {
      out.bytes.clear();
      out.messages.clear();
      return;
    }
    std::string kept;
    seg.refs.assign(out.messages.begin(),
                    out.messages.begin() + static_cast<std::ptrdiff_t>(room));
    for (auto& r : seg.refs) {
      auto at = static_cast<uint32_t>(kept.size());
      kept.append(out.bytes, r.offset, r.size);
      r.offset = at;
    }
    seg.bytes = std::make_shared<const std::string>(std::move(kept));
  }
  size_ += seg.refs.size();
  segments_.push_back(std::move(seg));
  out.bytes.clear();
  out.messages.clear();
}

message_batch delivery_queue::take(bool& passive) {
  passive = false;
  message_batch out;
  if (size_ == 0 || (!always_ && credit_ == 0))
    return out;
  auto n = size_ < max_batch_ ? size_ : max_batch_;
  if (!always_ && static_cast<size_t>(credit_) < n)
    n = static_cast<size_t>(credit_);
  out.messages.reserve(n);
  while (out.messages.size() < n) {
    auto& seg = segments_.front();
    out.storage.push_back(seg.bytes);
    const auto* base = seg.bytes->data();
    while (seg.taken < seg.refs.size() && out.messages.size() < n) {
      auto& r = seg.refs[seg.taken++];
      out.messages.push_back(
        {r.origin, r.seq, r.index, std::string_view{base + r.offset, r.size}});
    }
    if (seg.taken == seg.refs.size())
      segments_.pop_front();
  }
  size_ -= n;
  delivered_ += n;
  if (!always_) {
    credit_ -= static_cast<int32_t>(n);
    passive = credit_ == 0;
  }
  return out;
}

} // namespace castor::bus
