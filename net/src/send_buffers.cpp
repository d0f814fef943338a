#include "castor/net/send_buffers.hpp"

#include <algorithm>
#include <utility>

namespace castor::net {

void send_buffers::put(std::vector<std::vector<uint8_t>>& spent) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& b : spent) {
      if (kept_.size() >= max_buffers_)
        break;
      if (b.capacity() == 0 || b.capacity() > max_capacity_)
        continue;
      b.clear();
      kept_.push_back(std::move(b));
    }
  }
  // What was not kept is freed here, outside the lock.
  spent.clear();
}

size_t send_buffers::take(std::vector<std::vector<uint8_t>>& into, size_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  n = std::min(n, kept_.size());
  for (size_t i = 0; i < n; ++i) {
    into.push_back(std::move(kept_.back()));
    kept_.pop_back();
  }
  return n;
}

size_t send_buffers::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return kept_.size();
}

} // namespace castor::net
