#pragma once

// The subscriber's protocol state machine, without CAF or sockets: one
// stream per publisher (origin and session), gap detection, NAKs with
// randomized back-off and suppression, duplicate suppression, in-order
// delivery, and the explicit notice of an unrecoverable gap. The subscriber
// actor (subscriber.hpp) feeds it datagrams and the time and acts on what
// it produces; the unit tests drive it directly.
//
// Per stream: `next`, the first sequence number not yet delivered, and
// `lead`, one past the highest seen (from data, or from a heartbeat's next
// sequence number: loss at the tail). Every number in [next, lead) has a
// slot: held data (arrived out of order), missing, or lost.
//
//   - Late join: a stream starts at the first datagram (or heartbeat) seen
//     from its publisher; nothing before it is asked for. Except at a
//     session's start: first heard at sequence number N <= join_recovery + 1,
//     the stream is taken from 1 and [1, N) is NAKed like any loss. A
//     subscriber that was listening when the publisher started must not
//     lose its first datagrams silently (they are as likely to be dropped
//     as any), and a young session's are still in the publisher's ring. A
//     new session of the same origin (a restarted publisher) starts over
//     the same way.
//   - A missing datagram is NAKed after a random back-off in
//     [0, nak_backoff_max) (PGM's NAK_BO_IVL), consecutive ones in one
//     range, by unicast to the publisher; then again every nak_repeat until
//     it arrives, at most nak_attempts times.
//   - An NCF for a range (another subscriber NAKed it and the publisher
//     confirmed, on the group) resets the back-off of the same missing
//     datagrams to nak_repeat: the repair is on its way, no second NAK.
//   - A datagram becomes lost when the publisher's trail passed it (a
//     heartbeat, or the answer to our NAK), when nak_attempts ran out, or
//     when holding it would exceed `window` datagrams. Delivery goes past
//     lost datagrams with one gap notice per run of them, and never waits
//     for anything else: the subscriber never stalls.
//   - Anything below `next`, or held already, is a duplicate: counted and
//     dropped.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "castor/bus/publisher_core.hpp"
#include "castor/bus/wire.hpp"

namespace castor::bus {

struct subscriber_config {
  uint32_t topic_hash = 0;
  /// Datagrams held per stream between `next` and `lead`.
  size_t window = 8192;
  duration nak_backoff_max = std::chrono::microseconds{500};
  duration nak_repeat = std::chrono::milliseconds{20};
  unsigned nak_attempts = 10;
  /// A stream first heard at sequence number N is taken from its start
  /// (1) if N - 1 <= join_recovery, from N (live) otherwise. 0: always
  /// from live.
  uint64_t join_recovery = 64;
  /// A publisher heard of for this long is forgotten.
  duration stream_timeout = std::chrono::seconds{10};
  uint32_t seed = 1;
};

/// One delivered message: its place in the stream, and where its payload
/// lies in subscriber_output::bytes.
struct message_ref {
  uint64_t origin = 0;
  uint64_t seq = 0;
  uint16_t index = 0;
  uint32_t offset = 0;
  uint32_t size = 0;
};

/// Datagrams [first, last] of `origin` will never be delivered.
struct gap_notice {
  uint64_t origin = 0;
  uint64_t first = 0;
  uint64_t last = 0;
  friend bool operator==(const gap_notice& a, const gap_notice& b) {
    return a.origin == b.origin && a.first == b.first && a.last == b.last;
  }
};

/// A NAK to send by unicast to the publisher `origin`.
struct nak_request {
  uint64_t origin = 0;
  uint32_t session = 0;
  uint64_t first = 0;
  uint32_t count = 0;
};

/// What one step of the state machine produced. The payloads of the
/// messages are copied back to back into one buffer, `bytes`: one copy and
/// no allocation per message (a step is a whole receive batch).
struct subscriber_output {
  std::string bytes;
  std::vector<message_ref> messages;
  std::vector<gap_notice> gaps;
  std::vector<nak_request> naks;

  /// Appends a message (its payload copied into `bytes`).
  void add(uint64_t origin, uint64_t seq, uint16_t index, const uint8_t* data,
           size_t size) {
    messages.push_back({origin, seq, index, static_cast<uint32_t>(bytes.size()),
                        static_cast<uint32_t>(size)});
    bytes.append(reinterpret_cast<const char*>(data), size);
  }

  std::string_view payload(const message_ref& m) const noexcept {
    return {bytes.data() + m.offset, m.size};
  }

  void clear() {
    bytes.clear();
    messages.clear();
    gaps.clear();
    naks.clear();
  }
};

struct subscriber_stats {
  uint64_t datagrams = 0;
  uint64_t messages = 0;
  uint64_t duplicates = 0;
  /// Datagrams that arrived after being given up.
  uint64_t late = 0;
  uint64_t repairs = 0;
  uint64_t naks = 0;
  /// NAKs held back by another subscriber's NCF.
  uint64_t suppressed = 0;
  uint64_t gaps = 0;
  uint64_t lost = 0;
  uint64_t streams = 0;
  /// Undecodable datagrams, or another topic's on the same group and port.
  uint64_t malformed = 0;
  uint64_t foreign = 0;
};

class subscriber_core {
public:
  explicit subscriber_core(subscriber_config cfg);

  const subscriber_stats& stats() const noexcept { return stats_; }

  /// Handles one datagram from the group (or a unicast repair). Returns
  /// the decoded header's type, or nullopt if it was not ours.
  std::optional<header> on_datagram(const uint8_t* data, size_t size,
                                    time_point now, subscriber_output& out);

  /// Runs the NAK timers.
  void tick(time_point now, subscriber_output& out);

  /// When tick() next has something to do (time_point::max() if nothing).
  /// O(1): asked after every receive batch, where walking the window (up
  /// to `window` slots, most of them held behind a gap under heavy loss)
  /// took half the subscriber's CPU. It may be early (a repair came
  /// meanwhile, or a stream went away): that tick finds nothing due and
  /// sets it right.
  time_point next_wakeup() const noexcept;

  /// Streams known now.
  size_t streams() const noexcept { return streams_.size(); }
  /// The next sequence number `origin`'s stream delivers (0 if unknown).
  uint64_t next_of(uint64_t origin) const noexcept;

private:
  enum class slot_state : uint8_t { held, missing, lost };
  struct slot {
    slot_state state = slot_state::missing;
    unsigned attempts = 0;
    time_point due;
    std::vector<uint8_t> data;
  };
  struct stream {
    uint32_t session = 0;
    uint64_t next = 0;
    uint64_t lead = 0;
    time_point heard;
    std::map<uint64_t, slot> slots;
  };

  stream* find_or_start(const header& h, time_point now, bool may_start);
  void on_data(const header& h, const uint8_t* data, size_t size,
               time_point now, subscriber_output& out);
  void on_heartbeat(const header& h, uint64_t trail, time_point now,
                    subscriber_output& out);
  void on_ncf(const header& h, uint32_t count, time_point now);
  /// Makes [lead, end) missing; gives up what no longer fits the window.
  void extend(uint64_t origin, stream& s, uint64_t end, time_point now,
              subscriber_output& out);
  void deliver(uint64_t origin, uint64_t seq, uint16_t count,
               const uint8_t* data, size_t size, subscriber_output& out);
  /// Delivers from `next` while held or lost; with `force`, also gives up
  /// missing ones until next reaches `until`.
  void drain(uint64_t origin, stream& s, subscriber_output& out,
             uint64_t until = 0);
  duration backoff();

  subscriber_config cfg_;
  subscriber_stats stats_;
  std::unordered_map<uint64_t, stream> streams_;
  /// No missing slot is due before this (see next_wakeup).
  time_point next_due_ = time_point::max();
  std::minstd_rand rng_;
};

} // namespace castor::bus
