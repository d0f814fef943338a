#pragma once

// A connection handler that runs on an io shard (internal): an
// actor_companion whose mailbox is drained on the shard's thread, like the
// connection actors themselves. A handler and its connection on the same
// shard exchange messages without leaving that thread: no wake-up of a
// scheduler thread per batch, which is what an echo-style request/response
// load pays for most (see bench_tcp).

#include <functional>

#include <caf/actor.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/expected.hpp>

#include "castor/net/io_shards.hpp"

namespace castor::net::detail {

/// Spawns a companion on `shard` whose behavior `init` returns (called once,
/// on the calling thread, before the shard runs anything of it). It ends
/// like any actor (quit, a non-normal exit message) and when the shard
/// stops.
caf::expected<caf::actor> spawn_shard_handler(
  caf::actor_system& sys, io_shard& shard,
  const std::function<caf::behavior(caf::actor_companion*)>& init);

} // namespace castor::net::detail
