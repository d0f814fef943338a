#pragma once

// castor nodes: named actor systems that talk over CAF's own distribution
// (the caf::io middleman, BASP), with mutual TLS (caf::openssl) by default.
//
// A node has a name and listens on an address. It publishes named actors,
// connects to named peers and looks up what a peer published, like OTP's
// `whereis` on another node. Every peer is a supervised connection: one
// child of the node's peer supervisor, restarted with exponential backoff
// when the connection is lost or cannot be made. Subscribers learn of
// peers going up and down; watches on a peer's published names are
// re-resolved after each reconnect. docs/nodes.md has the details and the
// threat model.
//
// Set-up, in this order (CAF loads its network modules with the config):
//
//   caf::actor_system_config cfg;
//   castor::configure(cfg);
//   if (auto err = castor::node::configure(cfg, opts)) ...;
//   caf::actor_system sys{cfg};
//   castor::node::node n{sys, opts};
//   auto port = n.start();
//
// Messages a subscriber gets (subscribe_node_events, from the node's actor):
//   (node_up_atom, std::string peer)
//   (node_down_atom, std::string peer, caf::error reason)
// and for a watch(subscriber, peer, name):
//   (name_up_atom, std::string peer, std::string name, caf::actor remote)
//   (name_down_atom, std::string peer, std::string name, caf::error reason)
//
// The node's actor (handle()) takes the same requests as the facade, for
// actors that must not block:
//   (caf::publish_atom, std::string name, caf::actor)        -> ok_atom
//   (caf::unpublish_atom, std::string name)                  -> ok_atom
//   (whereis_atom, std::string peer, std::string name)       -> caf::actor
//   (subscribe_atom, caf::actor subscriber)                  -> ok_atom
//   (watch_atom, caf::actor subscriber, std::string peer,
//    std::string name)                                       -> ok_atom
//   (peers_atom)                        -> std::vector<std::string> (up)
//   (cast_atom, std::string peer, caf::actor target, caf::message)
//   (cast_atom, std::string peer, caf::actor target,
//    std::vector<caf::message>)          bounded sends, no answer
//   (flows_atom)                        -> std::vector<peer_flow>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

#include "castor/actors/atoms.hpp"
#include "castor/actors/backoff_spec.hpp"
#include "castor/node/errors.hpp"

namespace castor::node {

using node_up_atom = caf::atom_constant<caf::atom("node_up")>;
using node_down_atom = caf::atom_constant<caf::atom("node_down")>;
using name_up_atom = caf::atom_constant<caf::atom("name_up")>;
using name_down_atom = caf::atom_constant<caf::atom("name_down")>;
using subscribe_atom = caf::atom_constant<caf::atom("nd_subscr")>;
using watch_atom = caf::atom_constant<caf::atom("nd_watch")>;
using peers_atom = caf::atom_constant<caf::atom("nd_peers")>;
using cast_atom = caf::atom_constant<caf::atom("nd_cast")>;
using flows_atom = caf::atom_constant<caf::atom("nd_flows")>;
using castor::whereis_atom;

/// PEM files for mutual TLS. Every node of a cluster has a certificate
/// signed by the cluster's CA (scripts/make-certs.sh makes them).
struct tls_options {
  /// This node's certificate (chain), PEM.
  std::string cert;
  /// Its private key, PEM.
  std::string key;
  /// The CA that signs the peers' certificates, PEM. Only peers with a
  /// certificate that chains to it are accepted, in both directions.
  std::string ca;
  /// For an encrypted key; empty otherwise.
  std::string passphrase;
};

/// The bounded send counters of one peer (node::flows). They survive
/// reconnects.
struct peer_flow {
  std::string peer;
  /// Messages handed to the connection.
  uint64_t sent = 0;
  /// Messages dropped: the peer was not up, or had `max_in_flight`
  /// messages unacknowledged.
  uint64_t dropped = 0;
  /// Sent and not yet acknowledged by the peer's node.
  uint64_t in_flight = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_flow& x) {
  return f(caf::meta::type_name("peer_flow"), x.peer, x.sent, x.dropped,
           x.in_flight);
}

/// A peer: its node name and where it listens.
struct peer_spec {
  std::string name;
  std::string host;
  uint16_t port = 0;
};

struct node_options {
  /// This node's name; peers check it when they connect.
  std::string name;
  /// Where the node listens for peers. Port 0: the kernel picks one
  /// (node::port() tells which).
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;
  /// Mutual TLS, required unless `insecure`.
  tls_options tls;
  /// Plaintext BASP, no authentication. Both ends must say so: a plaintext
  /// node and a TLS node cannot talk to each other.
  bool insecure = false;
  /// Peers to connect to at start; node::connect adds more later.
  std::vector<peer_spec> peers;
  /// Reconnect backoff of each peer: the n-th consecutive attempt waits
  /// min(initial * multiplier^(n-1), max).
  backoff_spec reconnect{std::chrono::milliseconds{100},
                         std::chrono::milliseconds{5000}, 2.0,
                         std::chrono::milliseconds{10000}};
  /// One connection attempt (TCP, TLS and BASP handshakes, name check).
  std::chrono::milliseconds connect_timeout{5000};
  /// Each attempt first checks, for at most this long, that the peer's
  /// port answers a TCP connect of its own (closed at once). CAF's
  /// middleman connects with a blocking connect(): on a path that drops
  /// packets it would hold the middleman, and every other connect and
  /// lookup of this node, until the kernel gives up (about two minutes),
  /// and notice a returning path only at its next SYN retransmission.
  std::chrono::milliseconds reach_timeout{1000};
  /// A remote lookup (whereis, watch resolution).
  std::chrono::milliseconds lookup_timeout{5000};
  /// Bounded sends (node::cast): at most this many messages per peer sent
  /// and not yet acknowledged by the peer's node; more are dropped and
  /// counted, never queued. The peer's node acknowledges every `ack_every`
  /// messages (at most max_in_flight / 2).
  uint64_t max_in_flight = 65536;
  uint64_t ack_every = 1024;
  /// BASP heartbeat interval; 0 disables heartbeats.
  std::chrono::milliseconds heartbeat{1000};
  /// The peer supervisor's name in trees and logs.
  std::string supervisor_name() const { return "node:" + name; }
};

/// Checks `opts` and prepares `cfg` for a node: loads CAF's middleman, and
/// unless `opts.insecure` also caf::openssl with the certificate, key and CA
/// of `opts.tls` (whose files must exist and be readable). Call it before
/// building the actor system, after castor::configure.
caf::error configure(caf::actor_system_config& cfg, const node_options& opts);

/// A node on an actor system prepared by configure(). Not copyable. Its
/// blocking members are for non-actor threads (they answer
/// errc::would_deadlock on an actor's thread); actors use handle().
class node {
public:
  node(caf::actor_system& sys, node_options opts);
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Spawns the node's actor and its peer supervisor, listens, and starts
  /// connecting to the configured peers (not waiting for them). Returns the
  /// port it listens on.
  caf::expected<uint16_t> start();

  /// Stops the peers (in order), closes the port and ends the node's actors.
  /// Called by the destructor; call it earlier to control the order of
  /// shutdown. Idempotent.
  void stop();

  const std::string& name() const noexcept;
  /// The listening port, 0 before start.
  uint16_t port() const noexcept;
  /// The node's actor (see the protocol above); invalid before start.
  caf::actor handle() const;
  /// The peer supervisor (one child "peer:<name>" per peer).
  caf::actor peer_supervisor() const;

  /// Adds a supervised peer and starts connecting to it.
  caf::error connect(const peer_spec& peer);

  /// Publishes `whom` under `name` for peers' whereis. The name is dropped
  /// when the actor ends.
  caf::error publish(const std::string& name, const caf::actor& whom);
  caf::error unpublish(const std::string& name);

  /// Looks `name` up on `peer`: a handle to the remote actor, or
  /// castor::errc::not_found, errc::not_connected, a timeout.
  caf::expected<caf::actor> whereis(const std::string& peer,
                                    const std::string& name);

  /// `subscriber` gets node_up/node_down messages for every peer, starting
  /// with a node_up for each peer that is up now.
  caf::error subscribe_node_events(const caf::actor& subscriber);

  /// `subscriber` gets name_up with a handle each time `name` on `peer`
  /// resolves (now if the peer is up, and after every reconnect), and
  /// name_down when that handle's actor or the connection goes.
  caf::error watch(const caf::actor& subscriber, const std::string& peer,
                   const std::string& name);

  /// Sends `msg` to `target` (an actor on `peer`) within the peer's bound:
  /// dropped and counted when the peer is not up or has max_in_flight
  /// messages unacknowledged. Does not block; the sender of the message is
  /// the node's actor.
  void cast(const std::string& peer, const caf::actor& target,
            caf::message msg);

  /// The bounded send counters, one row per peer that was cast to.
  caf::expected<std::vector<peer_flow>> flows();

  /// The peers that are connected now.
  caf::expected<std::vector<std::string>> connected_peers();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace castor::node
