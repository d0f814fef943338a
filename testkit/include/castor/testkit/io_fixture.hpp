#pragma once

// castor::testkit::io_fixture: the deterministic fixture with io shards in
// manual mode. No io thread runs: the fixture's run() (and settle(), ask())
// polls the shards on the test thread between actor steps, so socket actors,
// their owners and real loopback sockets advance in one deterministic order,
// and the DSL's expect(...) checks what a socket delivered.
//
//   struct my_fixture : castor::testkit::io_fixture<> {};
//   CAF_TEST_FIXTURE_SCOPE(udp_owner_tests, my_fixture)
//   CAF_TEST(echo) {
//     auto s = castor::net::open_udp(sys, shards.at(0), owner, opts);
//     ...
//     run(); // actors, io events and timers until nothing moves
//   }
//
// Lifetime: the shards are built after the actor system and stopped in the
// destructor before it goes away (sockets are actors; ~actor_system would
// wait for them), as io_shards.hpp asks.

#include <cstddef>

#include "castor/net/errors.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/testkit/fixture.hpp"

namespace castor::testkit {

/// A config whose `sys.render(err)` names castor's actor and net errors.
struct net_config : caf::actor_system_config {
  net_config() { castor::net::register_errors(*this); }
};

template <class Config = net_config>
class io_fixture : public fixture<Config> {
public:
  /// `shard_count` shards, none with a thread of its own.
  explicit io_fixture(size_t shard_count = 1)
      : shards(castor::net::io_shards_options{shard_count, false, "t"}) {}

  ~io_fixture() override {
    // Close the sockets on this thread before the actor system goes away.
    shards.stop();
    this->run();
  }

  castor::net::io_shards shards;

  /// One ready handler of the first shard that has one.
  bool handle_io_event() override {
    for (size_t i = 0; i < shards.size(); ++i)
      if (shards.poll_one(i) > 0)
        return true;
    return false;
  }
};

} // namespace castor::testkit
