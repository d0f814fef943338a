#pragma once

// A supervised UDP socket in one call: a child spec whose child is the
// socket's owner, with the socket linked to it.
//
//   auto rx = make_udp_socket_on_shard("rx", shards, opts,
//     [](caf::actor_companion* self, const udp_socket& sock) {
//       auto credit = std::make_shared<udp_credit>(sock, 64);
//       return caf::behavior{
//         [](udp_atom, const udp_batch& b) { /* ... */ },
//         [self, credit](udp_passive_atom) { credit->refill(self); },
//       };
//     });
//   ... supervisor children: {rx.spec, ...}
//
// Each start of the child opens and binds the socket (a bind failure fails
// the start with errc::open_failed), makes the owner, links the two and,
// if asked, joins groups through the group manager on the owner's behalf.
// The owner's exit closes the socket before its replacement starts: a
// restarted child binds the same fixed port on the first try
// (net/src/udp_port_claim.hpp). Port 0 picks a port on the first start and
// keeps it across restarts, as the TCP listener does.
//
// Two kinds of owner, as for open_udp / open_udp_on_shard and
// make_tcp_listener / make_tcp_listener_on_shards:
//   make_udp_socket          the owner is an event_based_actor on CAF's
//                            scheduler;
//   make_udp_socket_on_shard the owner runs on the socket's shard (fastest;
//                            must not block, see udp_socket.hpp).
//
// The spec holds an io_shards_ref: once the shards are stopped or gone, a
// start fails with errc::shutting_down instead of touching them
// (io_shards.hpp).

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include "castor/actors/child_spec.hpp"
#include "castor/net/group_manager.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/udp_socket.hpp"

namespace castor::net {

/// Makes the behavior of a scheduled owner, given the socket it owns.
/// Called once per start, as the owner's first step (before any datagram
/// reaches it); keep state in the lambdas or in a shared object.
using udp_owner_factory = std::function<caf::behavior(
  caf::event_based_actor* self, const udp_socket& sock)>;

struct udp_child_options {
  /// Everything about the socket: address, options, the active mode and
  /// credit it starts with, memberships held by the socket itself.
  udp_options socket;
  /// Memberships held through this group manager instead, with the owner as
  /// holder (so they go when it does). A refused join ends the owner with
  /// the error, and the supervisor's policy applies.
  caf::actor group_manager;
  std::vector<membership_request> groups;
};

namespace detail {
struct udp_child_shared;
} // namespace detail

/// What a supervised socket shows of itself; safe from any thread.
class udp_socket_info {
public:
  /// The bound address; port 0 until the socket first opened.
  udp_endpoint local() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return local_;
  }
  /// The current socket actor (invalid while none is open).
  caf::actor socket() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return caf::actor_cast<caf::actor>(socket_);
  }
  /// Successful opens so far (1 + restarts that bound).
  uint64_t opens() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return opens_;
  }

private:
  // Written by the child's start only (net/src/udp_child.cpp).
  friend struct detail::udp_child_shared;

  mutable std::mutex mtx_;
  udp_endpoint local_;
  caf::actor_addr socket_;
  uint64_t opens_ = 0;
};

/// A child spec (a worker; its handle is the owner) plus what it shows.
struct udp_socket_child {
  child_spec spec;
  std::shared_ptr<udp_socket_info> info;
};

/// A supervised socket whose owner is a scheduled actor made by `owner`.
udp_socket_child make_udp_socket(std::string id, io_shards& shards,
                                 udp_child_options opts,
                                 udp_owner_factory owner);

/// The same with the owner on the socket's shard.
udp_socket_child make_udp_socket_on_shard(std::string id, io_shards& shards,
                                          udp_child_options opts,
                                          udp_shard_owner_factory owner);

} // namespace castor::net
