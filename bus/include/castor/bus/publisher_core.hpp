#pragma once

// The publisher's protocol state machine, without CAF or sockets: batching,
// sequence numbers, the retransmit ring, heartbeats and the answers to
// NAKs. The publisher actor (publisher.hpp) feeds it messages, NAKs and the
// time, and sends what it produces; the unit tests drive it directly.
//
// Batching: messages go into the open datagram until the next would pass
// max_datagram (the path MTU less IP and UDP headers) or the datagram is
// max_delay old; then it is sealed with the next sequence number, stored
// in the ring and sent (Aeron's and ZeroMQ's batching, bounded in time).
//
// Heartbeats carry the next sequence number and the ring's trail (PGM's
// SPM): after data they come quickly (heartbeat_min), then back off by
// doubling to heartbeat_max while the publisher is idle, so a subscriber
// learns of loss at the tail within heartbeat_min and a late joiner learns
// where live is.
//
// NAKs: a NAK names a range. The publisher confirms it on the group with
// an NCF (which suppresses the same NAK from other subscribers), then sends
// every datagram of the range still in the ring as a repair, except those
// it repaired less than repair_holdoff ago (the repair is on its way; NORM
// ignores such NACKs too). If part of the range has left the ring it also
// answers with a heartbeat, whose trail tells the subscriber that the rest
// is unrecoverable.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "castor/bus/message_pack.hpp"
#include "castor/bus/retransmit_ring.hpp"
#include "castor/bus/token_bucket.hpp"
#include "castor/bus/wire.hpp"

namespace castor::bus {

using datagrams = std::vector<std::vector<uint8_t>>;

/// A 1500-byte path MTU less the IP and UDP headers.
inline constexpr size_t ipv4_max_datagram = 1500 - 20 - 8;
inline constexpr size_t ipv6_max_datagram = 1500 - 40 - 8;

struct publisher_config {
  uint64_t origin = 0;
  uint32_t session = 0;
  uint32_t topic_hash = 0;
  /// The largest datagram: path MTU 1500 - 20 (IPv4) - 8 (UDP). A
  /// publisher on an IPv6 topic left at this default takes 1452 instead
  /// (a 40-byte IPv6 header): a host would fragment anything longer, and
  /// relays drop fragments.
  size_t max_datagram = ipv4_max_datagram;
  /// The batching time bound; 0 sends every message at once.
  duration max_delay = std::chrono::microseconds{500};
  /// The retransmit ring: datagrams and bytes.
  size_t ring_datagrams = 16384;
  size_t ring_bytes = size_t{32} << 20;
  duration heartbeat_min = std::chrono::milliseconds{2};
  duration heartbeat_max = std::chrono::milliseconds{500};
  duration repair_holdoff = std::chrono::milliseconds{2};
  /// Repairs one NAK gets at most; the rest of its range is neither
  /// repaired nor confirmed, and is NAKed again (bounds the burst a
  /// lagging subscriber's wide NAK sets off, and the socket's send queue).
  size_t max_repairs_per_nak = 1024;
  /// The repair rate limit, a token bucket in bytes: repairs refill at
  /// repair_rate bytes/s up to repair_burst (PGM's and NORM's senders bound
  /// their repair rate). A NAK the bucket cannot cover is repaired as far
  /// as it goes and confirmed that far: the rest is NAKed again. A flood of
  /// NAKs thus costs the network at most repair_rate beside the live data,
  /// which is never limited. 0 turns the limit off.
  uint64_t repair_rate = uint64_t{25} << 20;
  uint64_t repair_burst = uint64_t{1} << 20;
};

struct publisher_stats {
  uint64_t messages = 0;
  uint64_t datagrams = 0;
  uint64_t bytes = 0;
  /// Messages refused: longer than a datagram can carry.
  uint64_t oversize = 0;
  uint64_t heartbeats = 0;
  uint64_t naks = 0;
  uint64_t repairs = 0;
  /// NAKed datagrams not repaired again within repair_holdoff.
  uint64_t repairs_held = 0;
  /// NAKed datagrams that had left the ring (answered unrecoverable).
  uint64_t unavailable = 0;
  /// NAKs cut short at max_repairs_per_nak.
  uint64_t naks_capped = 0;
  /// Repairs the rate limit held back (NAKed, in the ring, not sent) and
  /// the NAKs it cut short.
  uint64_t repairs_limited = 0;
  uint64_t naks_limited = 0;
};

/// What a NAK is answered with.
struct nak_answer {
  /// The NCF, for the group.
  std::vector<uint8_t> ncf;
  /// The repairs (flag_repair set), in order.
  datagrams repairs;
  /// A heartbeat naming the trail, if part of the range left the ring.
  std::vector<uint8_t> unavailable;
};

class publisher_core {
public:
  explicit publisher_core(publisher_config cfg, time_point now = {});

  const publisher_config& config() const noexcept { return cfg_; }
  const publisher_stats& stats() const noexcept { return stats_; }
  const retransmit_ring& ring() const noexcept { return ring_; }
  /// The sequence number the next datagram gets.
  uint64_t next_seq() const noexcept { return next_seq_; }
  /// Messages waiting in the open datagram.
  size_t pending() const noexcept { return count_; }

  /// The largest message a datagram carries.
  size_t max_message() const noexcept {
    return cfg_.max_datagram - header_size - message_overhead;
  }

  /// Adds one message; sealed datagrams go to `out`. False (and counted)
  /// if the message is longer than max_message().
  bool publish(const uint8_t* data, size_t size, time_point now,
               datagrams& out);

  /// Adds every message of `pack`, in order, as publish() would one by
  /// one: a run of messages that fits the open datagram is copied in one
  /// piece. Messages longer than max_message() are refused and counted.
  /// Returns the messages taken.
  size_t publish(const message_pack& pack, time_point now, datagrams& out);

  /// Seals the open datagram, if any.
  void flush(time_point now, datagrams& out);

  /// Runs the timers: seals a datagram older than max_delay, sends a
  /// heartbeat when one is due.
  void tick(time_point now, datagrams& out);

  /// When tick() next has something to do.
  time_point next_wakeup() const noexcept;

  /// Answers a NAK for [first, first + count) of this publisher's session
  /// (a NAK for another session or topic gets an empty answer).
  nak_answer on_nak(const header& nak, uint32_t count, time_point now);

  /// A heartbeat now (also sent by tick()).
  std::vector<uint8_t> heartbeat();

  /// Buffers for the datagrams to come (e.g. those the socket has sent,
  /// net::send_buffers): each new datagram is written into one of them,
  /// whatever it held, instead of a new allocation. Takes those of `bufs`
  /// whose capacity fits a datagram, up to max_spare held; leaves `bufs`
  /// empty.
  void add_spare_buffers(std::vector<std::vector<uint8_t>>& bufs);
  /// Spare buffers held; at most max_spare.
  size_t spare_buffers() const noexcept { return spare_.size(); }
  static constexpr size_t max_spare = 256;

private:
  header make_header(msg_type type) const noexcept;
  void open_batch(time_point now);
  bool batch_full_for(size_t size) const noexcept {
    return count_ > 0
           && (batch_.size() + message_overhead + size > cfg_.max_datagram
               || count_ == UINT16_MAX);
  }
  publisher_config cfg_;
  publisher_stats stats_;
  retransmit_ring ring_;
  std::vector<time_point> repaired_at_;
  uint64_t next_seq_ = 1;
  std::vector<uint8_t> batch_;
  std::vector<std::vector<uint8_t>> spare_;
  uint16_t count_ = 0;
  time_point batch_opened_;
  duration hb_interval_;
  time_point next_hb_;
  token_bucket repair_bucket_;
};

} // namespace castor::bus
