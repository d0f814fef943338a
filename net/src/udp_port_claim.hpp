#pragma once

// A bound UDP socket's port as seen from outside its shard (internal).
//
// The socket itself closes on its shard, in a step posted after its owner's
// exit. A supervisor learns of that exit at the same time and restarts the
// owner at once, so a replacement that binds the same fixed port used to
// find it still taken (EADDRINUSE), and every retry counted toward the
// restart intensity. A claim lets two other threads give the port back at
// once, before the shard gets round to it:
//
//   - the owner's own thread, when its exit message is handed to the socket
//     (shard_companion::enqueued runs in the sender's thread, inside the
//     owner's cleanup);
//   - the thread of a replacement's bind that hit EADDRINUSE: it releases
//     every claim on that port whose owner has already ended
//     (release_orphans). CAF marks an actor terminated before it notifies
//     any link or monitor, so an owner whose death a supervisor has seen is
//     always found ended here, whatever order its links fire in.
//
// Releasing must not close the fd: the shard may still use that number, and
// a closed number is handed to the next socket() at once (the replacement's,
// most likely), which the shard would then read from or close. Instead the
// number is atomically pointed at an inert placeholder with dup3(): an
// unbound, non-blocking AF_UNIX datagram socket, on which reads find nothing,
// sends to an IP address fail, and nothing reaches the network. The old
// socket's last reference goes with it, so its port is free when dup3
// returns. (A syscall the shard has in flight on the old socket at that
// moment keeps it alive until it returns: non-blocking, so microseconds.)
// The shard closes the number, placeholder or not, with the claim's lock
// held (close_on_shard), and a released claim never touches it again.

#include <memory>
#include <mutex>

#include <caf/actor_addr.hpp>

#include "castor/net/udp_batch.hpp"

namespace castor::net::detail {

class udp_port_claim {
public:
  /// Registers the claim of `fd`, bound to `port`, in the process-wide
  /// table. It has no owner until set_owner, and is never released as an
  /// orphan before.
  static std::shared_ptr<udp_port_claim> make(int fd, unsigned short port);

  /// After a bind of `local` failed with EADDRINUSE: releases every claim
  /// on its port whose owner has ended. True if it released any (the bind
  /// may then succeed).
  static bool release_orphans(const udp_endpoint& local);

  udp_port_claim(int fd, unsigned short port) : fd_(fd), port_(port) {}

  /// Any thread.
  void set_owner(const caf::actor_addr& owner);
  caf::actor_addr owner() const;

  /// Any thread, idempotent: frees the port now (see above).
  void release_now();

  /// Shard thread: runs `close` (which closes the fd) under the claim's
  /// lock; afterwards release_now does nothing.
  template <class F>
  void close_on_shard(F close) {
    std::lock_guard<std::mutex> guard{mtx_};
    closed_ = true;
    close();
  }

  unsigned short port() const noexcept { return port_; }

private:
  bool owner_ended() const;

  mutable std::mutex mtx_;
  const int fd_;
  const unsigned short port_;
  caf::actor_addr owner_;
  bool has_owner_ = false;
  bool closed_ = false; // released, or closed by the shard
};

} // namespace castor::net::detail
