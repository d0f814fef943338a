#pragma once

// The egress queue of one output socket: a fixed ring of mmsghdr/iovec
// slots with preallocated payload buffers, flushed with one sendmmsg per
// contiguous run of slots.
//
// Payloads are *copied* into the slot buffers rather than pointed at the
// receive ring. A copy of a datagram (<= 1472 bytes on a 1500 MTU) costs
// tens of ns; pointing into the ring would tie the return of a whole
// receive block to the slowest output's queue, and a blocked output would
// then stall the input and every other output. Copying keeps the outputs
// independent, which is the point of per-output queues.
//
// Semantics, all counted per output (an index the caller assigns, below
// max_outputs):
//   - enqueue on a full ring first flushes it through the sender it is
//     given, so that the ring's size bounds memory and batch size, never
//     what one read may fan out to: a read of 256 frames relayed to 50
//     outputs of one interface is 12,800 datagrams, sent in batches as the
//     ring fills. Only when that flush stops at EAGAIN (the kernel's send
//     buffer is full: real back-pressure) is the datagram dropped:
//     queue_full. Without a sender (enqueue's short form) a full ring drops
//     at once. After a flush that blocked, a full ring drops without trying
//     again until the next explicit flush(), so that back-pressure costs
//     one system call per flush, not one per datagram;
//   - a payload larger than a slot is dropped: too_big; so is one the
//     kernel refuses with EMSGSIZE (larger than the output's MTU, on a
//     socket that does not fragment: udp_egress.hpp);
//   - flush sends in order; EAGAIN stops it and leaves the rest queued
//     (bounded by the ring), so the caller waits for writability;
//   - ENOBUFS (the output's queue discipline or device dropped it, which
//     the kernel reports with IP_RECVERR) drops that datagram: qdisc_drop;
//   - an error an ICMP message left pending on the socket (a unicast
//     output's ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, with
//     IP_RECVERR) fails whatever datagram is sent next, of any output: the
//     datagram is sent once more, and dropped only if that fails too;
//   - any other error drops only the datagram that failed: send_error,
//     and the flush goes on with the next one, so one unreachable
//     destination does not hold up the others.
// Nothing here allocates after construction or takes a lock; one thread
// owns a ring.
//
// Segmentation (off unless enable_segmentation() is called; udp_egress
// turns it on where the kernel supports it): a run of queued datagrams to
// one destination, all of one size but the last, which may be shorter,
// leaves as one message with a UDP_SEGMENT (UDP GSO) control message. The
// kernel then takes it through udp_sendmsg, the route lookup, skb
// allocation and the IP output path once, and cuts it into datagrams at
// the device (or in the NIC). A profile of the relay at 100 kpps put ~65 %
// of its CPU in that per-datagram send path. The receiver sees the same
// datagrams; batching adds no wait, since only what is already queued is
// joined. If the kernel refuses a segmented message, the run is sent one
// datagram at a time, and for errors that mean "no segmentation here"
// (EIO: no checksum offload; EINVAL: segment above the path MTU;
// EOPNOTSUPP/ENOPROTOOPT) segmentation stays off for this ring.
//
// Grouping (with segmentation): interleaved streams queue runs of one
// (239.1.1.1, 239.1.1.2, 239.1.1.3, 239.1.1.1, ...), which no message can
// join, and every datagram then pays the kernel's whole send path: five
// interleaved streams cost 1.7x one stream's CPU per packet, and the
// relay fell behind (bench/relay/streams.sh). So before it
// joins, a flush groups what is queued by destination, in place and
// stably: each destination's datagrams keep their order and move up to
// where its first one stood (the queue's slots are permuted, not copied;
// O(n) with a hash of the destinations, nothing allocated). Order between
// different destinations was never promised (they are different
// receivers); order within one is kept.
//
// Slots and bytes are sized apart. A slot is a datagram's header (its
// mmsghdr, iovec, destination, ~200 bytes with the grouping tables); its
// payload is copied into a byte arena shared by all slots, in enqueue
// order, and the arena starts over when the ring empties. So the ring is
// full at `slots` datagrams or at `payload_bytes` bytes, whichever comes
// first: many small datagrams (the many-streams case) fit in the memory
// that a few jumbo frames take, and grouping has a window wide enough to
// join them. 150 interleaved streams in a 256-datagram ring have 1-2
// datagrams per destination per flush (nothing to join); in a 2048-slot
// ring, ~13.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

namespace castor::packet {

/// Where one datagram goes, IPv4 or IPv6: what its message's msg_name
/// points at. Made implicitly from a sockaddr_in or a sockaddr_in6. A ring
/// takes either family (its socket decides which it can send).
struct destination {
  union {
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  destination() noexcept : v6{} {}
  destination(const sockaddr_in& a) noexcept : v6{} { v4 = a; } // NOLINT
  destination(const sockaddr_in6& a) noexcept : v6{a} {}        // NOLINT
  bool is_v6() const noexcept { return v4.sin_family == AF_INET6; }
  socklen_t size() const noexcept {
    return is_v6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }
  /// The grouping key: the address and port for IPv4; for IPv6 a hash of
  /// them, which may collide (grouping then keeps two destinations
  /// together; a join still compares whole destinations).
  uint64_t key() const noexcept {
    if (!is_v6())
      return uint64_t{v4.sin_addr.s_addr} << 16 | v4.sin_port;
    uint64_t w[2];
    static_assert(sizeof w == sizeof v6.sin6_addr);
    __builtin_memcpy(w, &v6.sin6_addr, sizeof w);
    return (w[0] * 0x9e3779b97f4a7c15ull ^ w[1]) * 0xff51afd7ed558ccdull
           ^ v6.sin6_port;
  }
  friend bool operator==(const destination& x, const destination& y) noexcept {
    if (x.is_v6() != y.is_v6())
      return false;
    if (!x.is_v6())
      return x.v4.sin_addr.s_addr == y.v4.sin_addr.s_addr
             && x.v4.sin_port == y.v4.sin_port;
    return __builtin_memcmp(&x.v6.sin6_addr, &y.v6.sin6_addr, 16) == 0
           && x.v6.sin6_port == y.v6.sin6_port
           && x.v6.sin6_scope_id == y.v6.sin6_scope_id;
  }
};

struct output_counters {
  uint64_t packets = 0;    ///< handed to the kernel
  uint64_t bytes = 0;      ///< payload bytes of those
  uint64_t queue_full = 0; ///< dropped: ring full
  uint64_t too_big = 0;    ///< dropped: larger than a slot or the MTU
  uint64_t send_error = 0; ///< dropped: the kernel refused it
  int last_error = 0;      ///< errno of the latest send_error
  /// Dropped before the ring: TTL decremented to 0 (counted by the caller).
  uint64_t ttl_expired = 0;
  /// Dropped after the kernel took it: by the output's queue discipline or
  /// device (ENOBUFS, reported with IP_RECVERR; udp_egress.hpp).
  uint64_t qdisc_drop = 0;
};

/// Per-datagram IP header fields, for rings with enable_ip_marks(): sent as
/// IP_TTL / IP_TOS control messages (IPV6_HOPLIMIT / IPV6_TCLASS on an
/// IPv6 ring) in the datagram's own preallocated control buffer. -1: the
/// socket's value (IP_MULTICAST_TTL, IP_TOS).
struct ip_marks {
  int16_t ttl = -1;
  int16_t tos = -1;
  friend bool operator==(ip_marks x, ip_marks y) {
    return x.ttl == y.ttl && x.tos == y.tos;
  }
};

/// UDP_SEGMENT, the UDP GSO option (level IPPROTO_UDP; Linux 4.18). Its
/// header <linux/udp.h> clashes with glibc's <netinet/udp.h>; the value is
/// ABI.
inline constexpr int udp_segment_option = 103;

/// Sends `count` messages like sendmmsg(2): the number sent, or -1 with
/// errno set. Production passes a wrapper of ::sendmmsg; tests pass fakes.
using send_batch_fn = int (*)(void* context, mmsghdr* msgs, unsigned count);

struct flush_result {
  std::size_t sent = 0;   ///< datagrams the kernel took
  std::size_t failed = 0; ///< datagrams dropped on send errors
  bool blocked = false;   ///< stopped at EAGAIN with datagrams still queued
};

class send_ring {
public:
  /// Allocates everything: `slots` datagram slots, `payload_bytes` of
  /// payload storage shared by them (0: `slots` x `slot_bytes`, a slot's
  /// worth of bytes each), counters for `max_outputs` outputs, and batches
  /// of at most `max_batch` messages per send call. `slot_bytes` is the
  /// largest payload taken (larger ones: too_big).
  send_ring(std::size_t slots, std::size_t slot_bytes, std::size_t max_outputs,
            std::size_t max_batch = 256, std::size_t payload_bytes = 0);

  /// Queues a copy of the payload for `dest`. False if it was dropped (and
  /// counted), or if `output` is out of range (not counted anywhere).
  bool enqueue(uint32_t output, const destination& dest, const uint8_t* data,
               std::size_t size, ip_marks marks = {}) noexcept;

  /// The same, but a full ring is flushed through `send` first (see above);
  /// queue_full only if that flush is blocked by the kernel. `marks` apply
  /// only to a ring with enable_ip_marks().
  bool enqueue(uint32_t output, const destination& dest, const uint8_t* data,
               std::size_t size, send_batch_fn send, void* context,
               ip_marks marks = {}) noexcept;

  /// Gives every slot a control buffer for per-datagram TTL and TOS
  /// (ip_marks): no system call and no allocation per datagram, a few
  /// stores at enqueue. Segmentation joins only datagrams with equal
  /// marks. It allocates: call it once, before use. `ipv6`: the marks
  /// are IPV6_HOPLIMIT and IPV6_TCLASS (the ring's socket is AF_INET6).
  void enable_ip_marks(bool ipv6 = false);
  bool marking() const noexcept { return !slot_controls_.empty(); }

  /// Sends what is queued, in order, through `send`.
  flush_result flush(send_batch_fn send, void* context) noexcept;

  /// Whether the last flush stopped at EAGAIN with datagrams still queued.
  bool blocked() const noexcept { return blocked_; }

  /// Joins runs of datagrams into segmented messages from now on (see
  /// above): at most `max_segments` datagrams of at most `max_segment_bytes`
  /// each and at most `max_message_bytes` in all per message. The kernel's
  /// limits: 64 segments (UDP_MAX_SEGMENTS before Linux 6.9), the path MTU
  /// minus headers per segment, 64 KiB minus headers per message.
  void enable_segmentation(std::size_t max_segment_bytes,
                           std::size_t max_segments = 64,
                           std::size_t max_message_bytes = 65000) noexcept;
  bool segmenting() const noexcept { return gso_max_segments_ > 1; }

  /// Bytes a slot costs besides its payload: its headers, its share of
  /// the grouping tables, and its marks (with enable_ip_marks()).
  static constexpr std::size_t slot_overhead_bytes =
    sizeof(mmsghdr) + 2 * sizeof(iovec) + 2 * sizeof(destination)
    + 2 * sizeof(uint32_t)    /* owner, moved */
    + 2 * sizeof(uint32_t)    /* group_next, group_of */
    + 2 * 16                  /* two grouping-table entries */
    + 2 * sizeof(int16_t) * 2 /* marks, moved */
    + 2 * CMSG_SPACE(sizeof(int)) /* marks' control */;

  std::size_t queued() const noexcept { return count_; }
  std::size_t capacity() const noexcept { return slots_; }
  std::size_t payload_capacity() const noexcept { return payload_bytes_; }
  /// Whether waiting for more before a flush would let segmentation join
  /// more: the ring segments, has room, and what is queued is interleaved
  /// (most neighbours go to different destinations). A caller that knows
  /// more datagrams are already waiting (a full read) may then hold the
  /// flush; one stream, or a ring that joins nothing, is never held.
  bool worth_holding() const noexcept {
    return segmenting() && count_ < slots_
           && payload_used_ + slot_bytes_ <= payload_bytes_
           && 2 * switches_ > count_;
  }
  std::size_t slot_bytes() const noexcept { return slot_bytes_; }
  std::size_t max_outputs() const noexcept { return counters_.size(); }

  /// Counters of one output; `output` must be below max_outputs().
  const output_counters& counters(uint32_t output) const noexcept {
    return counters_[output];
  }
  /// Zeroes an output's counters, for reusing its index for a new output.
  void reset_counters(uint32_t output) noexcept;
  /// Makes room for the counters of `n` outputs (it only grows). It
  /// allocates: call it when outputs are set up, not per datagram.
  void reserve_outputs(std::size_t n);

private:
  // Room for the IP_TTL and IP_TOS control messages of one slot.
  struct marks_control {
    alignas(cmsghdr) unsigned char bytes[2 * CMSG_SPACE(sizeof(int))];
  };
  // Room for one UDP_SEGMENT control message, after a slot's marks.
  struct segment_control {
    alignas(cmsghdr) unsigned char bytes[sizeof(marks_control)
                                         + CMSG_SPACE(sizeof(uint16_t))];
  };

  // Writes slot i's marks into its control buffer.
  void mark(std::size_t i, ip_marks marks) noexcept;

  void release(std::size_t n) noexcept;
  // Permutes the `run` contiguous queued slots at head_ so that each
  // destination's datagrams are adjacent, in their order (see above).
  void group_run(std::size_t run) noexcept;
  // Fills joined_ from the `run` contiguous queued slots at head_; returns
  // the number of messages.
  unsigned join_run(std::size_t run) noexcept;

  // Whether `size` more payload bytes fit in the arena.
  bool payload_fits(std::size_t size) const noexcept {
    return payload_used_ + size <= payload_bytes_;
  }

  std::size_t slots_;
  std::size_t slot_bytes_;
  std::size_t max_batch_;
  std::size_t payload_bytes_;
  std::unique_ptr<uint8_t[]> buffers_; ///< the payload arena
  std::size_t payload_used_ = 0;       ///< arena bytes in use (bump)
  // Queued neighbours with different destinations, for worth_holding().
  std::size_t switches_ = 0;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<destination> dests_;
  std::vector<uint32_t> owners_; ///< output index of each slot
  std::vector<output_counters> counters_;
  std::size_t head_ = 0;  ///< oldest queued slot
  std::size_t count_ = 0; ///< queued slots
  // Segmentation: the messages of one send call, their controls, and how
  // many datagrams (slots) each carries.
  std::vector<mmsghdr> joined_;
  std::vector<segment_control> controls_;
  std::vector<uint32_t> joined_count_;
  std::size_t gso_max_bytes_ = 0;
  std::size_t gso_max_segments_ = 0; ///< <= 1: off
  std::size_t gso_max_message_ = 0;
  // Per-slot marks and their control buffers; empty unless marking.
  std::vector<ip_marks> marks_;
  std::vector<marks_control> slot_controls_;
  bool split_next_ = false; ///< send the next run unjoined (after a refusal)
  bool marks_v6_ = false;   ///< marks are IPV6_HOPLIMIT / IPV6_TCLASS
  // Grouping: an open-addressed table of the destinations of one run
  // (slots valid while their stamp is the current generation), each
  // destination's count and next position, each slot's destination, and
  // room for the permuted slots. All sized at construction.
  struct group_slot {
    uint64_t key = 0;
    uint32_t stamp = 0;
    uint32_t group = 0;
  };
  std::vector<group_slot> group_table_;
  std::vector<uint32_t> group_next_;
  std::vector<uint32_t> group_of_;
  std::vector<iovec> scratch_iovs_;
  std::vector<destination> scratch_dests_;
  std::vector<uint32_t> scratch_owners_;
  // Sized by enable_ip_marks(): a marking ring's marks move with the slots.
  std::vector<ip_marks> scratch_marks_;
  uint32_t group_stamp_ = 0;
  bool retried_ = false; ///< the head datagram failed once (ICMP error)
  bool blocked_ = false; ///< the last flush stopped at EAGAIN
};

} // namespace castor::packet
