#pragma once

// Blocking request helpers for the facades (supervisor_client,
// registry_client, start_supervisor): one request from a scoped actor, its
// answer or error. They block the calling thread until the answer or the
// timeout, so they are for non-actor code: inside an actor they stall its
// scheduler thread (and deadlock once what they wait for needs it), and
// under CAF's deterministic test coordinator they never see an answer (its
// virtual clock never fires the timeout). Both are refused with
// errc::would_deadlock, see refuse_blocking().

#include <chrono>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

namespace castor::detail {

/// Lets refuse_blocking() recognise the threads of actor systems built from
/// `cfg` (castor::configure calls this).
void install_blocking_guard(caf::actor_system_config& cfg);

/// errc::would_deadlock when blocking here would stall or hang: on a thread
/// of an actor system configured by castor::configure (an actor's handler),
/// or when `sys` runs CAF's test coordinator. None otherwise. Threads of
/// systems not configured by castor::configure are not recognised: there
/// the request timeout is the only guard.
caf::error refuse_blocking(caf::actor_system& sys);

/// Requests `xs...` of `whom`; an answer of type T is the result.
template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const caf::actor& whom,
                     std::chrono::milliseconds timeout, Ts&&... xs) {
  if (auto err = refuse_blocking(sys))
    return err;
  caf::scoped_actor self{sys};
  caf::expected<T> result{caf::error{}};
  self->request(whom, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Requests `xs...` of `whom`, which answers ok_atom or an error.
template <class... Ts>
caf::error ask_ok(caf::actor_system& sys, const caf::actor& whom,
                  std::chrono::milliseconds timeout, Ts&&... xs) {
  auto res = ask<caf::ok_atom>(sys, whom, timeout, std::forward<Ts>(xs)...);
  return res ? caf::error{} : std::move(res.error());
}

} // namespace castor::detail
