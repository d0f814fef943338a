#pragma once

// An owner's {active, N} credit, so that refilling is one call and needs
// no actor_cast(current_sender()).
//
// The owner keeps one udp_credit for its socket (the udp_socket it was
// given, or the one open_udp returned) and uses one of two styles:
//
//   gen_udp's: the socket goes passive after N datagrams and sends
//   (udp_passive_atom); the owner answers with credit.refill(self), which
//   grants N again.
//
//   top-up: the owner calls credit.consumed(self, batch.size()) for every
//   batch; once half of N has been used it grants that much back, so a
//   socket whose owner keeps up never goes passive. (udp_passive_atom then
//   only means the owner fell behind by a whole window: ignore it, the
//   grants in flight re-arm the socket.)
//
// `self` is the owner: any actor with send() (event_based_actor,
// stateful_actor, the actor_companion of an on-shard owner).
//
// Do not mix the two on one socket: refill() on top of top-ups would grant
// more than N. Either way at most N datagrams are ever delivered and not
// yet consumed, which is what bounds the owner's mailbox.

#include <cstddef>
#include <cstdint>

#include <caf/actor.hpp>

#include "castor/net/atoms.hpp"
#include "castor/net/udp_socket.hpp"

namespace castor::net {

class udp_credit {
public:
  udp_credit() = default;

  /// The credit `n` (1..32767) of `socket`; the socket is expected to have
  /// started with it (udp_options::active = active_mode::counted(n)) or to
  /// be given it with refill().
  udp_credit(caf::actor socket, int32_t n) : sock_(std::move(socket)), n_(n) {}

  udp_credit(const udp_socket& socket, int32_t n)
      : udp_credit(socket.actor, n) {}

  const caf::actor& socket() const noexcept { return sock_; }
  int32_t size() const noexcept { return n_; }

  /// Grants N: the answer to (udp_passive_atom), and the first grant of a
  /// socket that started passive.
  template <class Self>
  void refill(Self* self) {
    used_ = 0;
    self->send(sock_, active_atom::value, n_);
  }

  /// Counts `datagrams` consumed; grants them back once they reach half of
  /// N (at least 1), so the socket stays active.
  template <class Self>
  void consumed(Self* self, size_t datagrams) {
    used_ += datagrams;
    if (used_ < threshold())
      return;
    auto grant = static_cast<int32_t>(used_);
    used_ = 0;
    self->send(sock_, active_atom::value, grant);
  }

private:
  size_t threshold() const noexcept {
    return n_ > 1 ? static_cast<size_t>(n_) / 2 : 1;
  }

  caf::actor sock_;
  int32_t n_ = 0;
  size_t used_ = 0;
};

} // namespace castor::net
