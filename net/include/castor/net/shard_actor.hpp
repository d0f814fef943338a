#pragma once

// An actor that runs on an io shard's thread: an actor_companion whose
// mailbox the shard drains, like castor::net's socket actors and the
// on-shard owners (open_udp_on_shard, make_tcp_listener_on_shards).
//
// What it is for: latency. A message between two actors on the same shard
// is posted on that thread and runs next, with no wake-up of another
// thread; a scheduled actor that a socket (or an on-shard owner) sends to
// is woken through CAF's scheduler, which costs tens of microseconds here
// per hop (docs/bus.md, "Latency"). The price: the actor's work runs on the
// shard's thread, between the I/O of every socket on it, so it must not
// block, and heavy work belongs on CAF's scheduler.
//
//   auto printer = spawn_on_shard(sys, shards.at(0),
//     [](caf::actor_companion* self) -> caf::behavior { ... });

#include <functional>

#include <caf/actor.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/expected.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/message_priority.hpp>
#include <caf/sec.hpp>

#include "castor/net/io_shards.hpp"

namespace castor::net {

/// Makes the behavior of an actor on a shard: `self` is the actor. Called
/// once, on the thread that spawns it, before the shard runs anything of
/// it (messages it sends itself meanwhile wait); keep state in the lambdas.
using shard_actor_init =
  std::function<caf::behavior(caf::actor_companion* self)>;

/// Spawns an actor on `shard` whose behavior `init` returns. It ends like
/// any actor (quit, a non-normal exit message) and when the shard stops
/// (user_shutdown). errc::shutting_down if the shard is stopping.
caf::expected<caf::actor> spawn_on_shard(caf::actor_system& sys,
                                         io_shard& shard,
                                         const shard_actor_init& init);

/// A request from an actor on a shard, which CAF 0.17's actor_companion
/// cannot make itself (it has no request()): sends `xs...` to `dest` as a
/// request and runs `handlers` on the answer, in a later step of `self`, as
/// request(dest, infinite, xs...).then(...) would. Give `handlers` a
/// caf::error case: a receiver that is gone or fails answers with one.
/// Call it from inside one of `self`'s handlers.
template <class... Ts>
void request_on_shard(caf::actor_companion* self, const caf::actor& dest,
                      caf::behavior handlers, Ts&&... xs) {
  static_assert(sizeof...(Ts) > 0, "no message to send");
  auto id = self->new_request_id(caf::message_priority::normal);
  self->add_multiplexed_response_handler(id.response_id(), std::move(handlers));
  if (!dest) {
    self->enqueue(
      caf::make_mailbox_element(nullptr, id.response_id(), {},
                                caf::make_error(caf::sec::invalid_argument)),
      self->context());
    return;
  }
  dest->enqueue(
    caf::make_mailbox_element(self->ctrl(), id, {}, std::forward<Ts>(xs)...),
    self->context());
}

} // namespace castor::net
