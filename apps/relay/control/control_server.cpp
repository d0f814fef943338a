#include "control/control_server.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "control/control_connection.hpp"
#include "service/logging.hpp"
#include "service/rate_limited_log.hpp"
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "castor/actors/errors.hpp"

namespace castor::relay {

namespace detail {

using control::decode_request;
using control::encode_response;
using control::make_error;
using unix_acceptor = asio::local::stream_protocol::acceptor;

/// The listening socket and the set of open connections. Created and opened
/// on the starting thread; afterwards lives on the io thread, except stop().
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(asio::io_context& io, control_server_options opts)
      : io_(io), acceptor_(io), retry_(io),
        opts_(std::make_shared<const control_server_options>(std::move(opts))) {
    // nop
  }

  ~listener() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  const options_ptr& options() const noexcept { return opts_; }

  /// Creates the socket file and listens. Calling thread.
  caf::error open();

  /// Starts accepting for `server`. Any thread.
  void start(const caf::actor& server) {
    auto weak = caf::actor_cast<caf::weak_actor_ptr>(server);
    asio::post(io_, [self = shared_from_this(), weak] {
      self->server_ = weak;
      self->accept_next();
    });
  }

  /// Stops at once for new clients, then closes every connection on the io
  /// thread. Any thread; idempotent.
  void stop();

  /// Io thread.
  void remove(connection* c) {
    for (auto i = conns_.begin(); i != conns_.end(); ++i)
      if (i->get() == c) {
        conns_.erase(i);
        return;
      }
  }

private:
  void accept_next() {
    if (stopped_)
      return;
    acceptor_.async_accept([self = shared_from_this()](
                             boost::system::error_code ec, unix_socket sock) {
      self->on_accept(ec, std::move(sock));
    });
  }

  void on_accept(boost::system::error_code ec, unix_socket sock) {
    if (stopped_)
      return;
    if (ec) {
      // Out of descriptors or memory: clients wait in the backlog while we
      // back off, instead of a busy accept loop.
      client_log().warn("control socket: accept failed: {}", ec.message());
      retry_.expires_after(std::chrono::milliseconds{100});
      retry_.async_wait(
        [self = shared_from_this()](boost::system::error_code e) {
          if (!e)
            self->accept_next();
        });
      return;
    }
    if (conns_.size() >= opts_->max_clients) {
      refuse(sock, "too many control clients (" + std::to_string(conns_.size())
                     + " connected, the limit is "
                     + std::to_string(opts_->max_clients)
                     + "); try again later");
    } else if (auto server = caf::actor_cast<caf::actor>(server_.lock())) {
      auto conn = std::make_shared<connection>(
        std::move(sock),
        [weak = weak_from_this()](connection* c) {
          if (auto self = weak.lock())
            self->remove(c);
        },
        opts_);
      conns_.insert(conn);
      caf::anon_send(server, accepted_atom::value, conn);
    }
    accept_next();
  }

  /// One best-effort error line, never waiting for the client.
  static void refuse(unix_socket& sock, const std::string& message) {
    auto line = encode_response(make_error(message)) + "\n";
    auto rc = ::send(sock.native_handle(), line.data(), line.size(),
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)rc; // a client that cannot take one line loses the explanation
    boost::system::error_code ignored;
    sock.close(ignored);
  }

  asio::io_context& io_;
  unix_acceptor acceptor_;
  asio::steady_timer retry_;
  options_ptr opts_;
  caf::weak_actor_ptr server_;
  std::unordered_set<connection_ptr> conns_;
  bool stopped_ = false; // io thread
  // For stop() from other threads: the listening descriptor, and the
  // identity of the socket file we created (so we never unlink a successor).
  int fd_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::once_flag stop_once_;
};

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

caf::error open_error(std::string message) {
  return caf::make_error(caf::sec::cannot_open_port, std::move(message));
}

/// mkdir -p with mode 0755 for missing components.
caf::error make_parent_dirs(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0)
    return caf::none;
  auto dir = path.substr(0, slash);
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/')
      continue;
    auto part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      return open_error("cannot create directory " + part
                        + " for the "
                          "control socket: "
                        + errno_text(errno));
  }
  return caf::none;
}

/// Whether a process listens on the socket file `path`.
bool someone_listens(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  auto rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  // EAGAIN: the backlog is full, which means somebody listens.
  bool live = rc == 0 || errno == EAGAIN;
  ::close(fd);
  return live;
}

} // namespace

caf::error listener::open() {
  auto& path = opts_->socket_path;
  if (path.empty())
    return open_error("the control socket path is empty");
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return open_error("control socket path " + path + " is "
                      + std::to_string(path.size())
                      + " bytes long; a unix socket path holds at most "
                      + std::to_string(sizeof(sockaddr_un::sun_path) - 1));
  if (auto err = make_parent_dirs(path))
    return err;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return open_error(path
                        + " exists and is not a socket; not replacing "
                          "it");
    if (someone_listens(path))
      return open_error("control socket " + path
                        + " is in use by another process (another "
                          "castor-relay running?)");
    // Left behind by a process that died: replace it.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return open_error("cannot remove stale control socket " + path + ": "
                        + errno_text(errno));
  }
  boost::system::error_code ec;
  acceptor_.open(asio::local::stream_protocol{}, ec);
  if (!ec)
    acceptor_.bind(asio::local::stream_protocol::endpoint{path}, ec);
  if (ec)
    return open_error("cannot bind control socket " + path + ": "
                      + ec.message());
  // Before listen(): nobody can connect through a wider mode meanwhile.
  if (::chmod(path.c_str(), opts_->socket_mode) != 0) {
    auto err = errno;
    ::unlink(path.c_str());
    return open_error("cannot set the mode of control socket " + path + ": "
                      + errno_text(err));
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    ::unlink(path.c_str());
    return open_error("cannot listen on control socket " + path + ": "
                      + ec.message());
  }
  if (::stat(path.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  fd_ = acceptor_.native_handle();
  return caf::none;
}

void listener::stop() {
  std::call_once(stop_once_, [this] {
    // Synchronously, from the stopping actor's thread: refuse new
    // connections and remove the socket file now, so that a restarted
    // server can bind the path at once. shutdown() is safe next to the io
    // thread's pending accept; only the io thread closes the descriptor,
    // and only after this, so fd_ cannot have been reused.
    if (fd_ >= 0)
      ::shutdown(fd_, SHUT_RDWR);
    struct stat st {};
    auto& path = opts_->socket_path;
    if (ino_ != 0 && ::lstat(path.c_str(), &st) == 0 && st.st_dev == dev_
        && st.st_ino == ino_)
      ::unlink(path.c_str());
    asio::post(io_, [self = shared_from_this()] {
      self->stopped_ = true;
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_.cancel(ignored);
      auto conns = std::move(self->conns_);
      self->conns_.clear();
      for (auto& c : conns)
        c->close();
    });
  });
}

// -- actors -------------------------------------------------------------------

struct client_state {
  connection_ptr conn;
  /// Who is on the other end (SO_PEERCRED at connect).
  peer_credentials peer;
  /// Request lines not yet sent to the handler. The connection hands over
  /// at most max_pipelined lines ahead of their replies, which bounds this.
  std::deque<std::string> queued;
  /// A request to the handler is outstanding.
  bool busy = false;
  static inline const char* name = "control_client";
};

std::string describe_failure(const caf::error& err,
                             const control_server_options& opts) {
  if (err == caf::sec::request_timeout)
    return "the daemon's control handler did not answer within "
           + seconds_text(opts.request_timeout);
  if (err == caf::sec::request_receiver_down)
    return "the daemon's control handler stopped while handling the request";
  return describe(err);
}

/// Sends the client's queued requests to the handler one at a time, so that
/// replies keep request order. Not `await`: an awaiting actor leaves every
/// other message in its mailbox, so a client that hung up on a stuck handler
/// would keep its actor until the request timed out. With `then` the actor
/// still sees `closed_atom` and ends at once; a late answer is dropped.
void serve_next(caf::stateful_actor<client_state>* self,
                const handler_source& handler, const options_ptr& opts) {
  auto& st = self->state;
  while (!st.busy && !st.queued.empty()) {
    auto line = std::move(st.queued.front());
    st.queued.pop_front();
    auto req = decode_request(line);
    if (!req) {
      st.conn->reply(encode_response(make_error(req.error)));
      continue;
    }
    if (control::changes_state(*req.value)) {
      // Least privilege: reading is for anyone who can connect, changing
      // for admins (control_access.hpp); who changed what is logged.
      const auto what = control::describe(*req.value);
      const bool admin =
        opts->admin ? opts->admin(st.peer) : is_admin(st.peer, ::geteuid(), {});
      if (!admin) {
        client_log().warn("control: refused '{}' from uid {} pid {}: not an "
                          "admin",
                          what, st.peer.uid, st.peer.pid);
        st.conn->reply(encode_response(make_error(refusal(st.peer, what))));
        continue;
      }
      spdlog::info("control: {} (uid {} pid {})", what, st.peer.uid,
                   st.peer.pid);
    }
    auto hdl = handler ? handler() : caf::actor{};
    if (!hdl) {
      st.conn->reply(encode_response(
        make_error("the daemon's control handler is not running")));
      continue;
    }
    st.busy = true;
    auto done = [self, handler, opts](const control::response& resp) {
      self->state.conn->reply(encode_response(resp));
      self->state.busy = false;
      serve_next(self, handler, opts);
    };
    self
      ->request(hdl, opts->request_timeout, control_atom::value,
                std::move(*req.value))
      .then([done](control::response& resp) { done(resp); },
            [done, opts](caf::error& err) {
              done(make_error(describe_failure(err, *opts)));
            });
  }
}

caf::behavior client_actor(caf::stateful_actor<client_state>* self,
                           connection_ptr conn, handler_source handler,
                           options_ptr opts) {
  self->state.conn = conn;
  self->state.peer = conn->peer();
  // However the actor ends, its connection ends with it.
  self->attach_functor([conn] { conn->close_soon(); });
  conn->attach(caf::actor_cast<caf::actor>(self));
  return {
    [self, handler, opts](line_atom, std::string& line) {
      self->state.queued.push_back(std::move(line));
      serve_next(self, handler, opts);
    },
    [self](closed_atom) { self->quit(); },
  };
}

struct server_state {
  std::shared_ptr<listener> lst;
  /// The server owns its clients. These are the only strong references to
  /// them: links and the connections' weak handles do not keep an actor
  /// alive, and CAF ends an actor nobody references (exit reason
  /// `unreachable`), which would close its connection before the first
  /// request.
  std::unordered_map<caf::actor_addr, caf::actor> clients;
  static inline const char* name = "control_server";
};

caf::behavior server_actor(caf::stateful_actor<server_state>* self,
                           std::shared_ptr<listener> lst,
                           handler_source handler) {
  self->state.lst = lst;
  self->attach_functor([lst] { lst->stop(); });
  // Clients are linked so that they end with the server. Their own ends
  // (a closed connection, or a crash) must not end the server, so exits
  // from clients are absorbed; any other exit (the supervisor's) ends it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (self->state.clients.erase(msg.source) == 0)
      self->quit(std::move(msg.reason));
  });
  lst->start(caf::actor_cast<caf::actor>(self));
  auto opts = lst->options();
  return {
    [self, handler, opts](accepted_atom, connection_ptr& conn) {
      auto client = self->spawn<caf::linked>(client_actor, conn, handler, opts);
      self->state.clients.emplace(client.address(), client);
    },
    [self](control_clients_atom) {
      return static_cast<uint64_t>(self->state.clients.size());
    },
  };
}

} // namespace detail

// -- public API -----------------------------------------------------------------

handler_source fixed_handler(caf::actor handler) {
  return [handler] { return handler; };
}

namespace {

template <class Spawner>
caf::expected<caf::actor>
start_with(Spawner& spawner, boost::asio::io_context& io,
           handler_source handler, control_server_options opts) {
  auto lst = std::make_shared<detail::listener>(io, std::move(opts));
  if (auto err = lst->open())
    return err;
  return spawner.spawn(detail::server_actor, lst, std::move(handler));
}

} // namespace

caf::expected<caf::actor> start_control_server(caf::event_based_actor* spawner,
                                               boost::asio::io_context& io,
                                               handler_source handler,
                                               control_server_options opts) {
  return start_with(*spawner, io, std::move(handler), std::move(opts));
}

caf::expected<caf::actor> start_control_server(caf::actor_system& sys,
                                               boost::asio::io_context& io,
                                               handler_source handler,
                                               control_server_options opts) {
  return start_with(sys, io, std::move(handler), std::move(opts));
}

child_spec control_server_child(std::string id, boost::asio::io_context& io,
                                handler_source handler,
                                control_server_options opts) {
  auto* io_ptr = &io;
  return worker_with(
    std::move(id),
    [io_ptr, handler, opts](caf::event_based_actor* sup,
                            const caf::message&) -> start_result {
      return start_control_server(sup, *io_ptr, handler, opts);
    });
}

} // namespace castor::relay
