#pragma once

// castor-relay's control server: JSON lines (control_protocol.hpp) over a
// unix stream socket, one actor per client.
//
// Threads and hops: all socket I/O runs on an
// io_context the caller supplies and runs. Reading, line splitting, size
// limits, timeouts and write queues live on that thread. Each complete line
// reaches the client's actor in one message; the actor decodes it, asks the
// handler, and posts the encoded answer back to the io thread. Nothing is
// re-armed per byte from an actor.
//
//   acceptor (io) --(new connection)--> server actor --spawns--> client actor
//   connection (io) --(line)--> client actor --(control_atom, request)-->
//   handler --(response)--> client actor --(post)--> connection (io)
//
// Isolation: a client's actor waits only for its own requests, so a slow,
// silent or malicious client delays no one else. Limits per client: a line
// longer than max_line_bytes gets an error line and the connection closes;
// idle_timeout without a complete request closes it (with an error line);
// a reply queue over max_output_bytes (a client that does not read) or a
// write stuck for write_timeout closes it; at most max_pipelined requests
// are decoded ahead of their replies (reading pauses meanwhile). At most
// max_clients connections at once; one more gets an error line and is
// closed.
//
// Handler protocol: the handler is any actor that answers
//
//   (control_atom, control::request) -> control::response
//
// once per request (a response promise may defer the answer). Requests of
// one client reach it one at a time, in order; requests of different
// clients arrive interleaved. A caf::error answer, or none within
// request_timeout, becomes {"ok":false,"error":...} for the client. The
// handler may restart: it is looked up through `handler_source` for every
// request.
//
// Server actor protocol (besides supervision):
//   (control_clients_atom) -> uint64_t    clients connected right now
// It exits when its supervisor says so; then the socket file is removed
// and every client connection closes.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>

#include "control/control_options.hpp"
#include "control/control_protocol.hpp"
#include "model/atoms.hpp"
#include <boost/asio/io_context.hpp>
#include <sys/types.h>

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// Asks the server actor how many clients are connected.
using control_clients_atom = caf::atom_constant<caf::atom("ctl_count")>;

/// Yields the handler for each request (an invalid handle makes the request
/// fail with "the control handler is not running").
using handler_source = std::function<caf::actor()>;

/// A handler_source that always yields `handler`.
handler_source fixed_handler(caf::actor handler);

/// Binds and listens on the socket now, on the calling thread, so that a
/// bad path or a live socket is an error here; then spawns the server actor
/// (via `spawner`, e.g. a supervisor: the server is then linked to it).
/// `io` must be run by some thread and outlive the server.
caf::expected<caf::actor> start_control_server(caf::event_based_actor* spawner,
                                               boost::asio::io_context& io,
                                               handler_source handler,
                                               control_server_options opts);

/// The same for non-actor code (tests, tools): spawns with `sys`.
caf::expected<caf::actor> start_control_server(caf::actor_system& sys,
                                               boost::asio::io_context& io,
                                               handler_source handler,
                                               control_server_options opts);

/// A child spec for a supervision tree: a permanent worker that binds the
/// socket in its start function (so a bind failure fails the start cleanly)
/// and is restarted with a fresh socket after a crash.
child_spec control_server_child(std::string id, boost::asio::io_context& io,
                                handler_source handler,
                                control_server_options opts);

} // namespace castor::relay
