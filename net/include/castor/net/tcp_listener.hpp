#pragma once

// A Ranch-like TCP listener that embeds in any castor supervision tree.
//
// make_tcp_listener() returns a child_spec; put it in your supervisor's
// children and the listener starts, restarts and stops with your tree.
// Its subtree:
//
//   <id>                  supervisor, rest_for_one
//   ├─ connections        connection supervisor: starts a handler and a
//   │                     connection actor per accepted socket, counts
//   │                     connections, throttles the acceptors
//   ├─ listen_socket      holds the bound listening socket; closes it on exit
//   └─ acceptors          supervisor, one_for_one
//      ├─ acceptor_0      accept loops on io shards, all on the same
//      └─ acceptor_N-1    listening socket
//
// rest_for_one: a crashed acceptor is restarted alone and open connections
// stay up; a new listening socket restarts the acceptors; only a crash of
// the connection supervisor takes the connections with it (as in Ranch,
// where ranch_conns_sup comes first).
//
// For each accepted socket the connection supervisor calls the handler
// factory, which spawns the connection's owner (Ranch's protocol process),
// then creates the connection actor owned by and linked to it, and sends
// the handler (tcp_accepted_atom, tcp_endpoint peer) as the connection
// before any data. The connection starts in the active mode of
// `connection.active`; the handler drives it per tcp_connection.hpp. A
// handler that dies closes its connection; ownership may move with
// controlling_atom.
//
// max_connections is a hard limit on open connections. At the limit, an
// acceptor's freshly accepted socket is parked in the connection supervisor
// and the acceptor is not told to accept again; once every acceptor waits
// like that, new connections stay in the kernel's accept queue (and then
// SYNs are dropped), which is TCP's own back-pressure. Each closing
// connection starts one parked socket and wakes its acceptor.
//
// On shutdown the connection supervisor sends every connection and handler
// user_shutdown, waits up to `shutdown` for the connections to end and
// kills what is left.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_companion.hpp>
#include <caf/behavior.hpp>
#include <caf/local_actor.hpp>

#include "castor/actors/child_spec.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/tcp_connection.hpp"

namespace castor::net {

/// Spawns the owner of one accepted connection, from inside the connection
/// supervisor (use `sup->spawn(...)`). An invalid handle refuses the
/// connection (the socket is closed). Exceptions count as a refusal.
using tcp_handler_factory =
  std::function<caf::actor(caf::local_actor* sup, const tcp_endpoint& peer)>;

/// Makes the behavior of one accepted connection's owner that runs on the
/// connection's own io shard, as an actor_companion: the connection and its
/// handler then talk without leaving the shard's thread (no scheduler
/// wake-up per batch; bench_tcp shows what that is worth). It is a full
/// actor (link, monitor, send, quit) without state helpers: keep state in
/// the lambdas. It shares its thread with every socket on the shard, so it
/// must not block.
using tcp_shard_handler_factory = std::function<caf::behavior(
  caf::actor_companion* self, const tcp_endpoint& peer)>;

struct tcp_listener_options {
  /// Where to listen. Port 0 picks a free port once; restarts of the
  /// listening socket keep it (see tcp_listener_info::local).
  tcp_endpoint local{boost::asio::ip::address_v4::loopback(), 0};
  /// Acceptor actors, spread over the io shards round robin.
  size_t num_acceptors = 4;
  size_t max_connections = 1024;
  int backlog = 1024;
  /// SO_REUSEADDR, so a restarted listener can bind again at once.
  bool reuse_address = true;
  /// Options of every accepted connection.
  tcp_options connection;
  /// How long open connections get to end when the listener stops.
  std::chrono::milliseconds shutdown{5000};
  /// Restart intensity of the listener and of its acceptor supervisor.
  int intensity = 5;
  std::chrono::milliseconds period{10000};
};

namespace detail {
struct listener_shared;
} // namespace detail

/// What a listener shows of itself: read-only, safe to read from any thread.
class tcp_listener_info {
public:
  /// The bound address; port 0 until the listening socket first opened.
  tcp_endpoint local() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return local_;
  }
  /// Open connections now.
  uint64_t connections() const noexcept { return connections_.load(); }
  /// Accepted sockets waiting for a free slot (max_connections).
  uint64_t parked() const noexcept { return parked_.load(); }
  /// Connections started since the listener was created.
  uint64_t accepted() const noexcept { return accepted_.load(); }

private:
  // Written by the listener's actors only, through their shared state
  // (net/src/tcp_listener_shared.hpp).
  friend struct detail::listener_shared;

  mutable std::mutex mtx_;
  tcp_endpoint local_;
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> parked_{0};
  std::atomic<uint64_t> accepted_{0};
};

struct tcp_listener {
  /// A supervisor child spec (type supervisor) to put in any tree.
  child_spec spec;
  std::shared_ptr<tcp_listener_info> info;
};

/// Builds a listener. Nothing opens until a supervisor starts `spec`; a bind
/// failure then fails that start with errc::open_failed. The spec holds an
/// io_shards_ref, not `shards` itself: once the shards are stopped or
/// destroyed, its starts fail with errc::shutting_down (io_shards.hpp).
/// Same shape as make_udp_socket (udp_child.hpp).
tcp_listener make_tcp_listener(std::string id, io_shards& shards,
                               tcp_listener_options opts,
                               tcp_handler_factory handler);

/// The same with handlers that run on their connection's shard.
tcp_listener make_tcp_listener_on_shards(std::string id, io_shards& shards,
                                         tcp_listener_options opts,
                                         tcp_shard_handler_factory handler);

} // namespace castor::net
