#pragma once

// One control client's connection (control_server.hpp has the whole
// picture). It lives on the io thread: it reads, splits lines, enforces the
// per-client limits and timeouts, and writes the replies; each complete line
// goes to the client's actor in one message (line_atom), and the actor's
// encoded answer comes back through reply(). The listener
// (control_server.cpp) accepts connections and owns the open ones.

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include "control/control_options.hpp"
#include "service/rate_limited_log.hpp"
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/logger.h>

namespace castor::relay::detail {

class connection;
using connection_ptr = std::shared_ptr<connection>;
/// Shared by the listener, its connections and the client actors, any of
/// which may outlive the others briefly during shutdown.
using options_ptr = std::shared_ptr<const control_server_options>;

} // namespace castor::relay::detail

// Connections travel between the io thread and actors of this process only.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::relay::detail::connection_ptr)

namespace castor::relay::detail {

namespace asio = boost::asio;
using unix_socket = asio::local::stream_protocol::socket;
using clock = std::chrono::steady_clock;

// io thread -> server: a new connection to give an actor.
using accepted_atom = caf::atom_constant<caf::atom("ctl_acc")>;
// io thread -> client actor: one complete request line.
using line_atom = caf::atom_constant<caf::atom("ctl_line")>;
// io thread -> client actor: the connection is gone.
using closed_atom = caf::atom_constant<caf::atom("ctl_closed")>;

/// The "control" component's logger (castorctl log-level control ...).
std::shared_ptr<spdlog::logger> log();

/// What clients do wrong is theirs to repeat: a thousand misbehaving
/// clients must not write a thousand lines (rate_limited_log.hpp).
rate_limited_log& client_log();

/// "10 s", or "250 ms" when not whole seconds.
std::string seconds_text(std::chrono::milliseconds d);

/// One client connection. Lives on the io thread: every member below is
/// touched only there, except through the post()ing entry points.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(unix_socket sock, std::function<void(connection*)> on_closed,
             options_ptr opts)
      : sock_(std::move(sock)), timer_(sock_.get_executor()),
        on_closed_(std::move(on_closed)), opts_(std::move(opts)),
        peer_(peer_of(sock_.native_handle())) {
    // nop
  }

  /// The client's credentials at connect (SO_PEERCRED); set once, so any
  /// thread may read them.
  const peer_credentials& peer() const noexcept { return peer_; }

  // -- entry points for any thread --------------------------------------------

  /// The client's actor is ready: start reading.
  void attach(const caf::actor& client) {
    auto weak = caf::actor_cast<caf::weak_actor_ptr>(client);
    asio::post(sock_.get_executor(),
               [self = shared_from_this(), weak] { self->start(weak); });
  }

  /// The answer to the oldest outstanding request (one JSON line).
  void reply(std::string text) {
    asio::post(sock_.get_executor(),
               [self = shared_from_this(), text = std::move(text)]() mutable {
                 self->on_reply(std::move(text));
               });
  }

  /// Close from outside (the actor ended, the server stops).
  void close_soon() {
    asio::post(sock_.get_executor(),
               [self = shared_from_this()] { self->close(); });
  }

  // -- io thread --------------------------------------------------------------

  void close();

private:
  void start(caf::weak_actor_ptr client);

  caf::actor client() const;

  void arm_read();

  void on_read(boost::system::error_code ec, size_t n);

  /// After EOF: closes when the client hung up altogether (see the .cpp).
  void watch_hangup();

  /// Hands complete lines to the actor while the pipeline has room.
  void process_input();

  void on_reply(std::string text);

  /// Ends the session with an error line.
  void fail(std::string message);

  /// Once closing: flush, then close.
  void maybe_finish();

  void queue(std::string text);

  void write_next();

  void on_write(boost::system::error_code ec);

  void arm_timer(clock::time_point when);

  /// One timer covers both limits: a write stuck too long, and no complete
  /// request for too long while nothing is owed to the client.
  void on_timer();

  unix_socket sock_;
  asio::steady_timer timer_;
  /// Tells the listener that this connection is gone.
  std::function<void(connection*)> on_closed_;
  options_ptr opts_;
  const peer_credentials peer_;
  caf::weak_actor_ptr client_;
  bool attached_ = false;
  std::array<char, 4096> buf_;
  // Received bytes not yet split into lines.
  std::string in_;
  std::deque<std::string> out_;
  size_t out_bytes_ = 0;
  // Requests handed to the actor and not yet answered.
  size_t in_flight_ = 0;
  std::string pending_error_;
  clock::time_point last_activity_;
  clock::time_point write_started_;
  bool reading_ = false;
  bool writing_ = false;
  bool eof_ = false;
  // No more requests are taken; close once everything owed is written.
  bool closing_ = false;
  bool closed_ = false;
};

} // namespace castor::relay::detail
