#pragma once

// The subscriber's side of {active, N}: messages wait here for the user's
// credit, in a bounded queue whose drops are counted. Plain C++17, no CAF;
// the subscriber actor (subscriber.hpp) sends what take() gives.
//
// Credit semantics follow the socket layer (castor/net/udp_socket.hpp):
// add(n) adds n, clamped at 0; reaching 0 makes the user passive and it is
// told so once; always(true) is {active, true}; a queue starts passive.
// Credits count messages. When the queue is full the newest message is
// dropped: what is queued keeps its order, and the protocol underneath
// (NAKs, repairs) goes on regardless.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "castor/bus/subscriber_core.hpp"

namespace castor::bus {

class delivery_queue {
public:
  delivery_queue(size_t max_queue, size_t max_batch)
      : max_queue_(max_queue), max_batch_(max_batch > 0 ? max_batch : 1) {}

  /// Queues `m`, or drops and counts it when the queue is full.
  void push(bus_message&& m) {
    if (queue_.size() >= max_queue_) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(m));
  }

  /// {active, N}: adds n (clamped at 0). True if the credit is 0 now (the
  /// user is to be told it is passive).
  bool add(int32_t n) {
    always_ = false;
    auto c = int64_t{credit_} + n;
    credit_ = c < 0 ? 0 : (c > INT32_MAX ? INT32_MAX : static_cast<int32_t>(c));
    return credit_ == 0;
  }

  /// {active, true} or, with false, passive.
  void always(bool on) {
    always_ = on;
    credit_ = 0;
  }

  /// The next delivery the credit allows (at most max_batch messages),
  /// empty if none. `passive` becomes true if it used up the credit.
  std::vector<bus_message> take(bool& passive) {
    passive = false;
    std::vector<bus_message> out;
    if (queue_.empty() || (!always_ && credit_ == 0))
      return out;
    auto n = queue_.size() < max_batch_ ? queue_.size() : max_batch_;
    if (!always_ && static_cast<size_t>(credit_) < n)
      n = static_cast<size_t>(credit_);
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    delivered_ += n;
    if (!always_) {
      credit_ -= static_cast<int32_t>(n);
      passive = credit_ == 0;
    }
    return out;
  }

  size_t size() const noexcept { return queue_.size(); }
  int32_t credit() const noexcept { return credit_; }
  uint64_t dropped() const noexcept { return dropped_; }
  uint64_t delivered() const noexcept { return delivered_; }

private:
  size_t max_queue_;
  size_t max_batch_;
  std::deque<bus_message> queue_;
  int32_t credit_ = 0;
  bool always_ = false;
  uint64_t dropped_ = 0;
  uint64_t delivered_ = 0;
};

} // namespace castor::bus
