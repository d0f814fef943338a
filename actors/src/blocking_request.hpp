#pragma once

// Blocking request helpers for the facades (supervisor_client,
// registry_client): one request from a scoped actor, its answer or error.
// They block the calling thread until the answer or the timeout, so they are
// for non-actor code: inside an actor they stall its scheduler thread, and
// under CAF's deterministic test coordinator they never see an answer.

#include <chrono>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

namespace castor::detail {

/// Requests `xs...` of `whom`; an answer of type T is the result.
template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const caf::actor& whom,
                     std::chrono::milliseconds timeout, Ts&&... xs) {
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
