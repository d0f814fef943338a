#pragma once

// The subscriber's side of {active, N}: messages wait here for the user's
// credit, in a bounded queue whose drops are counted. Plain C++17, no CAF;
// the subscriber actor (subscriber.hpp) sends what take() gives.
//
// Credit semantics follow the socket layer (castor/net/udp_socket.hpp):
// add(n) adds n, clamped at 0; reaching 0 makes the user passive and it is
// told so once; always(true) is {active, true}; a queue starts passive.
// Credits count messages. When the queue is full the newest messages are
// dropped: what is queued keeps its order, and the protocol underneath
// (NAKs, repairs) goes on regardless.
//
// Memory: the queue keeps each step's payload buffer
// (subscriber_output::bytes) whole, shared read-only with the deliveries
// that point into it, so a message costs no allocation and no copy beyond
// the one into that buffer. A buffer is freed when the queue and the last
// delivery holding it are done with it. A step of which some messages were
// dropped keeps only the bytes of those it queued, so the bytes held are
// bounded by max_queue messages as a queue of strings would be.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "castor/bus/subscriber_core.hpp"

namespace castor::bus {

/// One message handed to the user. `payload` points into the storage of
/// the delivery it came in (message_batch::storage, bus_delivery::storage)
/// and is valid as long as that delivery, or a copy of it, exists.
struct bus_message {
  uint64_t origin = 0;
  uint64_t seq = 0;
  uint16_t index = 0;
  std::string_view payload;
};

/// Payload buffers, shared read-only by the queue and the deliveries.
using payload_storage = std::vector<std::shared_ptr<const std::string>>;

/// One delivery: the messages and the buffers their payloads point into.
struct message_batch {
  std::vector<bus_message> messages;
  payload_storage storage;

  bool empty() const noexcept { return messages.empty(); }
  size_t size() const noexcept { return messages.size(); }
  const bus_message& operator[](size_t i) const { return messages[i]; }
};

class delivery_queue {
public:
  delivery_queue(size_t max_queue, size_t max_batch)
      : max_queue_(max_queue), max_batch_(max_batch > 0 ? max_batch : 1) {}

  /// Queues the messages of `out` (and takes its payload buffer), or drops
  /// and counts those beyond the bound. Leaves out.bytes and out.messages
  /// empty (out.bytes without capacity: reserve the next step's).
  void push(subscriber_output& out);

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
  message_batch take(bool& passive);

  size_t size() const noexcept { return size_; }
  int32_t credit() const noexcept { return credit_; }
  uint64_t dropped() const noexcept { return dropped_; }
  uint64_t delivered() const noexcept { return delivered_; }

private:
  // The messages of one step, in order, and how many were taken.
  struct segment {
    std::shared_ptr<const std::string> bytes;
    std::vector<message_ref> refs;
    size_t taken = 0;
  };

  size_t max_queue_;
  size_t max_batch_;
  std::deque<segment> segments_;
  size_t size_ = 0;
  int32_t credit_ = 0;
  bool always_ = false;
  uint64_t dropped_ = 0;
  uint64_t delivered_ = 0;
};

} // namespace castor::bus
