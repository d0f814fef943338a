#pragma once

// What the actors of one listener share (internal): the options, the
// current listening socket and connection supervisor, and the protocol
// between acceptors and the connection supervisor.
//
//   acceptor -> conns  (tcp_start_atom, accepted_socket)  a new socket; the
//                      acceptor accepts nothing more until ...
//   conns -> acceptor  (tcp_resume_atom)                  ... this arrives.

#include <memory>
#include <mutex>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <unistd.h>

#include "castor/net/tcp_listener.hpp"

namespace castor::net::detail {

using tcp_start_atom = caf::atom_constant<caf::atom("tcp_start")>;
using tcp_resume_atom = caf::atom_constant<caf::atom("tcp_resume")>;

/// An accepted socket in flight between an acceptor and a connection. The
/// fd is closed if nobody takes it (a message dropped by a dead actor).
class accepted_socket {
public:
  accepted_socket() = default;
  accepted_socket(int fd, tcp_endpoint peer)
      : fd_(std::make_shared<owned_fd>(fd)), peer_(std::move(peer)) {}

  const tcp_endpoint& peer() const noexcept { return peer_; }

  /// Takes the fd (once; -1 afterwards or when empty).
  int release() const noexcept { return fd_ ? fd_->release() : -1; }

private:
  struct owned_fd {
    explicit owned_fd(int x) : fd(x) {}
    ~owned_fd() {
      if (fd >= 0)
        ::close(fd);
    }
    int release() noexcept { return std::exchange(fd, -1); }
    int fd;
  };
  std::shared_ptr<owned_fd> fd_;
  tcp_endpoint peer_;
};

struct listener_shared {
  listener_shared(io_shards_ref s, tcp_listener_options o,
                  tcp_handler_factory h, tcp_shard_handler_factory sh)
      : shards(std::move(s)), opts(std::move(o)), handler(std::move(h)),
        shard_handler(std::move(sh)),
        info(std::make_shared<tcp_listener_info>()) {}

  /// Locked for each open: the tree may outlive the shards (io_shards.hpp).
  const io_shards_ref shards;
  const tcp_listener_options opts;
  /// Exactly one of the two is set.
  const tcp_handler_factory handler;
  const tcp_shard_handler_factory shard_handler;
  /// Read-only to everyone else; written through the four members below.
  const std::shared_ptr<tcp_listener_info> info;

  void set_local(const tcp_endpoint& ep) {
    std::lock_guard<std::mutex> lock{info->mtx_};
    info->local_ = ep;
  }
  std::atomic<uint64_t>& connections() { return info->connections_; }
  std::atomic<uint64_t>& parked() { return info->parked_; }
  std::atomic<uint64_t>& accepted() { return info->accepted_; }

  /// The current connection supervisor (invalid once it ended).
  caf::actor conns() {
    std::lock_guard<std::mutex> lock{mtx};
    return caf::actor_cast<caf::actor>(conns_);
  }
  void set_conns(const caf::actor& x) {
    std::lock_guard<std::mutex> lock{mtx};
    conns_ = x.address();
  }
  /// A dup() of the listening socket, or -1 if none is open.
  int dup_listen_fd() {
    std::lock_guard<std::mutex> lock{mtx};
    return listen_fd_ >= 0 ? ::dup(listen_fd_) : -1;
  }
  void set_listen_fd(int fd) {
    std::lock_guard<std::mutex> lock{mtx};
    listen_fd_ = fd;
  }
  /// Closes `fd` and forgets it if it is still the current socket.
  void close_listen_fd(int fd) {
    std::lock_guard<std::mutex> lock{mtx};
    if (listen_fd_ == fd)
      listen_fd_ = -1;
    ::close(fd);
  }

private:
  std::mutex mtx;
  // Weak: the connection supervisor holds this object, and a strong
  // back-reference would keep it alive forever.
  caf::actor_addr conns_;
  int listen_fd_ = -1;
};

/// Spawns the connection supervisor.
caf::actor spawn_conns_sup(caf::local_actor* parent,
                           std::shared_ptr<listener_shared> ctx);

/// Starts acceptor `index` on its shard; fails if no listening socket or no
/// connection supervisor is there.
caf::expected<caf::actor> start_acceptor(caf::actor_system& sys,
                                         std::shared_ptr<listener_shared> ctx,
                                         size_t index);

} // namespace castor::net::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::detail::accepted_socket)
