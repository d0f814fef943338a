#pragma once

// The host's supervised UDP owner: opens its socket in its own start (so a
// bind failure is a start failure the supervisor sees), takes datagrams with
// {active, N} and grants N more on each passive notice. Answers get_atom
// with what it received and sockname_atom with where it listens.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "castor/net/io_shards.hpp"
#include "castor/net/udp_socket.hpp"

namespace host {

struct receiver_state {
  caf::actor sock;
  castor::net::udp_endpoint local;
  std::vector<std::string> got;
  static inline const char* name = "receiver";
};

inline caf::behavior receiver(caf::stateful_actor<receiver_state>* self,
                              castor::net::io_shards* shards, int32_t n) {
  using namespace castor::net;
  udp_options opts; // 127.0.0.1, a port the kernel picks
  opts.active = active_mode::counted(n);
  auto sock =
    open_udp(self->system(), *shards, caf::actor_cast<caf::actor>(self), opts);
  if (!sock) {
    self->quit(sock.error());
    return {};
  }
  self->state.sock = sock->actor;
  self->state.local = sock->local;
  return {
    [self](udp_atom, const udp_batch& batch) {
      for (auto d : batch.datagrams())
        self->state.got.emplace_back(d.text());
    },
    [self, n](udp_passive_atom) {
      self->send(self->state.sock, active_atom::value, n);
    },
    [self](caf::get_atom) { return self->state.got; },
    [self](sockname_atom) { return self->state.local; },
  };
}

} // namespace host
