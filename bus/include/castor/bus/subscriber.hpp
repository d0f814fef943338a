#pragma once

// A subscriber: a supervised actor that owns one UDP socket joined to its
// topic's group, repairs loss with NAKs (subscriber_core.hpp has the
// protocol) and hands the messages, in order per publisher, to a user actor
// under {active, N} credit, with the socket layer's semantics:
//
//   S -> U  (bus_atom, bus_delivery)     up to the credit's worth of messages
//   S -> U  (bus_passive_atom)           the credit reached 0
//   S -> U  (bus_gap_atom, bus_gap)      an unrecoverable gap (not counted
//                                        against the credit)
//   -> S    (net::active_atom, int32_t n)   adds n (clamped at 0)
//   -> S    (net::active_atom, bool)        {active, true} / passive
//   -> S    (bus_stats_atom) -> subscriber_report
//
// The subscriber runs on its socket's io shard (make_udp_socket_on_shard),
// so a receive batch is parsed and repaired on the thread that read it, and
// reaches the user in one hop. A user that is itself on that shard
// (net::spawn_on_shard, with io_shards of one shard as castor-bus has)
// gets it with no thread hop at all, the lowest latency the bus offers; it
// must then never block. A delivery's payloads are views into buffers
// it shares (bus_delivery::storage), one per receive batch, not a string
// per message.
//
// Credits count messages. While the user has no credit, messages wait in a
// queue of max_queue; beyond it the newest are dropped and counted
// (subscriber_report::dropped). The protocol itself (NAKs, repairs,
// heartbeats) keeps running meanwhile, so a slow user never makes the
// subscriber lose its place, and never floods its own mailbox.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>

#include "castor/actors/child_spec.hpp"
#include "castor/bus/atoms.hpp"
#include "castor/bus/child_info.hpp"
#include "castor/bus/endpoint_options.hpp"
#include "castor/bus/subscriber_core.hpp"
#include "castor/net/active_mode.hpp"
#include "castor/net/io_shards.hpp"

namespace castor::bus {

struct subscriber_options : endpoint_options {
  /// Window, NAK timing; topic_hash is filled in by the subscriber.
  subscriber_config core;
  /// Who gets the messages.
  caf::actor user;
  /// The credit it starts with (passive by default, as sockets do).
  net::active_mode active = net::active_mode::passive();
  /// Messages waiting for credit, at most.
  size_t max_queue = 65536;
  /// Messages in one delivery, at most.
  size_t max_batch = 1024;
  /// UDP GRO on the socket (net::udp_options::gro): a run of datagrams a
  /// publisher sent with segmentation (or a NIC joined) is queued, woken
  /// for and read once instead of once a datagram. Receive slots become
  /// 64 KB, and at most 8 are read at a time (a block of 512 KB).
  bool gro = false;
};

struct subscriber_child {
  child_spec spec;
  std::shared_ptr<child_info> info;
};

subscriber_child make_subscriber(std::string id, net::io_shards& shards,
                                 subscriber_options opts);

} // namespace castor::bus
