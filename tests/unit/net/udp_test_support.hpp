#pragma once

// What udp_tests' two files share: the owner actor and the deterministic
// fixture (see udp_socket_test.cpp).

#include <string>
#include <vector>

#include "net_test_support.hpp"

#include "castor/net/errors.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/udp_socket.hpp"
#include "castor/testkit/io_fixture.hpp"

using namespace castor::net;
using net_test::raw_udp;

namespace udp_test {

using bytes = std::vector<uint8_t>;

inline bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

// What an owner saw, in order.
struct owner_state {
  std::vector<std::string> got;
  std::vector<size_t> batch_sizes;
  std::vector<bool> truncated;
  /// Each entry's datagram::segment_size (udp_options::gro).
  std::vector<size_t> segment_sizes;
  int passive = 0;
  std::vector<caf::error> errors;
  // Batches kept alive on purpose by some tests.
  std::vector<udp_batch> held;
  bool hold = false;
  static inline const char* name = "owner";
};

inline caf::behavior owner_actor(caf::stateful_actor<owner_state>* self) {
  return {
    [=](udp_atom, const udp_batch& b) {
      auto& st = self->state;
      for (auto d : b.datagrams()) {
        st.got.emplace_back(d.text());
        st.truncated.push_back(d.truncated);
        st.segment_sizes.push_back(d.segment_size);
      }
      st.batch_sizes.push_back(b.size());
      if (st.hold)
        st.held.push_back(b);
    },
    [=](udp_passive_atom) { ++self->state.passive; },
    [=](udp_error_atom, const caf::error& err) {
      self->state.errors.push_back(err);
    },
    [=](caf::close_atom) { self->quit(); },
  };
}

// The kit's io_fixture: one shard in manual mode, polled by run(), and
// stopped before the actor system goes away.
struct fixture : castor::testkit::io_fixture<> {
  raw_udp peer;
  caf::actor owner;
  caf::actor sock;
  udp_endpoint sock_ep;

  fixture() { owner = sys.spawn(owner_actor); }

  void open_sock(udp_options opts = {}) {
    auto s = open_udp(sys, shards.at(0), owner, opts);
    CAF_REQUIRE(s);
    sock = s->actor;
    sock_ep = s->local;
    run();
  }

  owner_state& st() {
    return deref<caf::stateful_actor<owner_state>>(owner).state;
  }

  void push(const std::string& s) { CAF_REQUIRE(peer.send_to(sock_ep, s)); }

  template <class... Ts>
  void tell(Ts&&... xs) {
    caf::anon_send(sock, std::forward<Ts>(xs)...);
    run();
  }

  udp_stats stats() { return request<udp_stats>(sock, stats_atom::value); }

  // The socket's answer to a request, as an expected<T> (the kit's ask).
  template <class T, class... Ts>
  caf::expected<T> ask_sock(Ts&&... xs) {
    return ask<T>(sock, std::forward<Ts>(xs)...);
  }

  caf::error ask_void(caf::message msg) {
    return error_of(ask<void>(sock, std::move(msg)));
  }
};

inline std::vector<std::string> strs(std::initializer_list<const char*> xs) {
  return {xs.begin(), xs.end()};
}

} // namespace udp_test

using namespace udp_test;
