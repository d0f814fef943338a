#pragma once

// One supervised peer connection: checks that the peer's port answers,
// connects through the middleman (TLS or plaintext), checks the remote
// node's name, tells the node's actor that the peer is up, and ends when
// the connection goes. Its supervisor restarts it with backoff, which is
// the reconnect.

#include <chrono>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/io/middleman_actor.hpp>

#include "castor/actors/child_spec.hpp"
#include "castor/node/node.hpp"

namespace castor::node::detail {

/// What every peer actor of a node shares.
struct peer_context {
  std::string node_name;
  /// caf::openssl's middleman actor, or the plaintext one.
  caf::io::middleman_actor middleman;
  /// The node's actor; weak, so that the peer supervisor's specs do not
  /// keep it alive.
  caf::actor_addr directory;
  std::chrono::milliseconds connect_timeout{5000};
  /// node_options::reach_timeout.
  std::chrono::milliseconds reach_timeout{1000};
  bool tls = true;
};

/// The child spec "peer:<name>" of one peer.
child_spec peer_child(std::shared_ptr<const peer_context> ctx, peer_spec peer);

} // namespace castor::node::detail
