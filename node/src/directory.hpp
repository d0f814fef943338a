#pragma once

// The node's actor: what it published, which peers are up, who subscribed
// to node events and which remote names they watch. Peers reach it over
// BASP for `hello` and `whereis`; everything else is refused to them.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>

#include "castor/node/node.hpp"

namespace castor::node::detail {

/// A peer actor's hello and the remote node's answer (its name).
using hello_atom = caf::atom_constant<caf::atom("nd_hello")>;
/// From a peer actor to the directory: the connection is up.
using peer_up_atom = caf::atom_constant<caf::atom("nd_peerup")>;
/// To a peer's node actor: acknowledges n bounded sends.
using ack_atom = caf::atom_constant<caf::atom("nd_ack")>;

struct peer_entry {
  /// The supervised peer actor; its end is the peer's node-down.
  caf::actor_addr peer_actor;
  /// The peer's node actor (a proxy).
  caf::actor remote;
};

struct watch_entry {
  caf::actor subscriber;
  std::string peer;
  std::string name;
  /// The resolved remote actor, invalid while unresolved.
  caf::actor current;
  /// Bumped on each resolution, so that a late answer to an old lookup is
  /// ignored.
  uint64_t generation = 0;
};

/// Bounded sends to one peer.
struct flow_entry {
  peer_flow counters;
  /// Sent since the last ack request.
  uint64_t since_ack = 0;
  /// Bumped when the peer goes up or down: acks of an older connection
  /// are ignored.
  uint64_t epoch = 0;
};

struct directory_state {
  std::string node_name;
  std::chrono::milliseconds lookup_timeout{5000};
  uint64_t max_in_flight = 65536;
  uint64_t ack_every = 1024;
  std::map<std::string, flow_entry> flows;
  std::map<std::string, caf::actor> published;
  std::map<std::string, peer_entry> peers;
  std::vector<caf::actor> subscribers;
  std::vector<watch_entry> watches;
  static inline const char* name = "castor.node";
};

caf::behavior directory(caf::stateful_actor<directory_state>* self,
                        std::string node_name,
                        std::chrono::milliseconds lookup_timeout,
                        uint64_t max_in_flight, uint64_t ack_every);

} // namespace castor::node::detail
