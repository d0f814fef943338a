#pragma once

// A publisher: a supervised actor that owns one UDP socket and runs on
// that socket's io shard (castor::net's make_udp_socket_on_shard), batches what it is given into datagrams of its topic's
// group, keeps them in a bounded retransmit ring and answers NAKs
// (publisher_core.hpp has the protocol).
//
//   auto pub = make_publisher("pub", shards, opts);
//   ... supervisor children: {pub.spec, ...}
//   auto p = pub.info->wait_actor(std::chrono::seconds{5});
//   caf::anon_send(p, publish_atom::value, std::string{"hi"});
//
// Protocol (publisher = P):
//   -> P  (publish_atom, std::string)                one message
//   -> P  (publish_atom, std::vector<std::string>)   several, in order
//   -> P  (publish_atom, message_pack)               several, in order, in
//         one buffer (message_pack.hpp): no string per message
//         either sent as a request, answered with (uint32_t n) once the n
//         messages are accepted: the producer's credit (see below)
//   -> P  (flush_atom)                               seal the open datagram
//         (the publisher also sends it to itself: flush_when_idle)
//   -> P  (bus_stats_atom) -> publisher_report
// A message longer than one datagram carries is refused and counted
// (publisher_stats::oversize). Raw topics send each message as one plain
// datagram, with no header and no repair.
//
// Flow control, in the socket layer's terms. The publisher hands its socket
// at most `socket_window` datagrams it has not seen leave (the socket's
// counters, asked for with (stats_atom), say how many did), so the socket's
// own send queue (udp_options::max_send_queue) never drops what the ring
// holds. Sealed datagrams wait in a backlog of at most `max_backlog`; while
// it is full the publisher accepts no message: one sent with anon_send /
// send is dropped and counted (publisher_report::refused), and a request
// is answered only when the backlog has room again (it waits, in order,
// with the publisher's other waiting requests). A producer that keeps at
// most K publish requests unanswered (castor-bus pub keeps one) thus holds
// at most K batches in the publisher's mailbox, however fast it produces:
// the producer's {active, K}.
//
// Each start of the child takes the next session number, so subscribers
// take a restarted publisher's stream afresh, from its first datagram
// (subscriber_config::join_recovery); the origin (random, made with the
// spec) stays.

#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>

#include "castor/actors/child_spec.hpp"
#include "castor/bus/atoms.hpp"
#include "castor/bus/child_info.hpp"
#include "castor/bus/endpoint_options.hpp"
#include "castor/bus/publisher_core.hpp"
#include "castor/net/io_shards.hpp"

namespace castor::bus {

struct publisher_options : endpoint_options {
  /// Batching, ring and heartbeats; origin, session and topic_hash are
  /// filled in by the publisher.
  publisher_config core;
  /// Repairs go to the group (PGM's RDATA; every subscriber that missed
  /// the datagram, NAKed or suppressed, gets it) or, if false, by unicast
  /// to the subscriber that NAKed only.
  bool multicast_repairs = true;
  /// The origin; 0 picks a random one.
  uint64_t origin = 0;
  /// Datagrams handed to the socket and not yet seen leave it (at most the
  /// socket's max_send_queue, 4096).
  uint32_t socket_window = 1024;
  /// Sealed datagrams waiting for the socket window; while full, messages
  /// are refused (anon) or wait (requests).
  size_t max_backlog = 4096;
  /// Natural batching (Aeron's, and the LMAX disruptor's "smart
  /// batching"): once the publish requests already in the mailbox are in
  /// the open datagram and the socket has nothing waiting for it, the
  /// datagram is sealed at once instead of lingering up to
  /// core.max_delay. A publisher that keeps up thus adds no batching delay,
  /// and one that falls behind still fills its datagrams. False: only the
  /// size and max_delay seal a datagram.
  bool flush_when_idle = true;
  /// The most the publisher sends, in bytes/s of UDP payload, everything
  /// counted (data, repairs, NCFs, heartbeats): PGM's TXW_MAX_RTE. What
  /// it holds back waits in the backlog, so a producer faster than the
  /// rate is slowed (requests) or refused (anon) as by a slow socket. An
  /// operator keeps the offer under what the subscribers absorb with it.
  /// 0: no limit.
  uint64_t max_rate = 0;
  /// UDP GSO on the publisher's socket (udp_options::segmentation): a run
  /// of datagrams of one size (full batches, or equal messages) goes to
  /// the kernel as one message, routed and queued once. Bus datagrams fit
  /// the path MTU (core.max_datagram), as GSO needs. Off by default: a
  /// veth (containers, namespaces) carries such a message to the other
  /// side whole, where a raw-socket reader (castor-relay's packet path, a
  /// capture) sees one large frame instead of datagrams; links that leave
  /// the host segment it (the NIC, or the kernel before it).
  bool segmentation = false;
  /// Bytes that may leave at once under max_rate (at least one datagram).
  uint64_t max_rate_burst = 65536;
};

/// A publisher's child_info, with its origin.
class publisher_info : public child_info {
public:
  explicit publisher_info(uint64_t origin) : origin_(origin) {}
  uint64_t origin() const noexcept { return origin_; }

private:
  uint64_t origin_;
};

struct publisher_child {
  child_spec spec;
  std::shared_ptr<publisher_info> info;
};

publisher_child make_publisher(std::string id, net::io_shards& shards,
                               publisher_options opts);

} // namespace castor::bus
