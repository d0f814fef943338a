#pragma once

// An actor with a user-supplied behavior that runs on an io shard
// (internal): an actor_companion whose mailbox is drained on the shard's
// thread, like the socket actors themselves. The TCP listener's on-shard
// connection handlers and the on-shard owners of UDP sockets are this.
//
// Starting takes two steps so that a socket can be linked to the handler
// before the handler's behavior is made (the behavior gets the socket's
// handle): spawn() under the shard's admission lock, become() next, then
// admitted() as the first step on the shard.

#include <functional>
#include <memory>

#include <caf/actor.hpp>
#include <caf/actor_companion.hpp>
#include <caf/behavior.hpp>
#include <caf/error.hpp>

#include "shard_companion.hpp"

namespace castor::net::detail {

class shard_handler final : public shard_companion {
public:
  using shard_companion::shard_companion;

  /// Calling thread: spawns the companion, without a behavior yet.
  caf::actor spawn() { return spawn_companion(); }

  caf::actor_companion* self() const { return companion(); }

  /// Calling thread, after spawn(): installs the behavior.
  void become(caf::behavior bhvr) { companion()->become(std::move(bhvr)); }

  /// Shard thread, first step once admitted. A non-empty `failed` (the
  /// behavior could not be made) ends the actor at once with that reason.
  void admitted(caf::error failed = caf::none) {
    admit([&] {
      if (failed)
        terminate(std::move(failed));
    });
  }

private:
  void release() override {
    // Owns nothing but its behavior.
  }
};

} // namespace castor::net::detail
