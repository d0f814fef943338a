#pragma once

// castor::testkit::fixture: CAF 0.17's deterministic test fixture
// (caf::test_coordinator_fixture, caf/test/dsl.hpp) plus `ask`, a request
// that works under the test scheduler.
//
// Why not the DSL's own request<T>(): it calls the fixture's run(), which
// also fires every pending timer, so asking moves the test clock as a side
// effect (a supervisor's backoff or shutdown timeout fires early). Why not a
// blocking call (a scoped_actor's request(...).receive(...), or
// castor::supervisor_client): under the test scheduler nothing runs while the
// test thread waits, so it would wait forever (castor's blocking facades
// refuse such a call with errc::would_deadlock). ask() sends from a
// short-lived event-based actor and runs the scheduler (and, in io_fixture,
// the io shards) until nothing moves, the answer included. Time stands
// still: no timer fires. When nothing is left to run and no answer came, it
// returns testkit::no_answer() instead of hanging.
//
// Include this header before any other that includes caf/test/dsl.hpp: it
// defines FAIL, which dsl.hpp uses and CAF 0.17.6 never defines, and that only
// helps before dsl.hpp is first read.

#ifndef FAIL
#define FAIL CAF_FAIL
#endif

#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>

namespace castor::testkit {

/// What ask() returns when the scheduler ran dry without an answer: the
/// receiver never answers, or only after a timer (time stands still in
/// ask; fire timers with trigger_timeouts() or advance_time() first).
inline caf::error no_answer() {
  return caf::make_error(caf::sec::request_timeout,
                         "testkit::ask: no answer, and nothing left to run");
}

/// test_coordinator_fixture with ask() and settle(). Use it in
/// CAF_TEST_FIXTURE_SCOPE like the DSL's fixture; `sys`, `self`, `sched`,
/// run(), expect(...) and the rest are the DSL's.
template <class Config = caf::actor_system_config>
class fixture : public test_coordinator_fixture<Config> {
public:
  using super = test_coordinator_fixture<Config>;
  using super::super;

  /// Runs actors (and io events, see io_fixture) until `pred` holds or
  /// nothing is left to run, without firing timers. Returns pred().
  template <class Pred>
  bool settle_until(Pred pred) {
    for (;;) {
      if (pred())
        return true;
      if (this->consume_message() || this->handle_io_event())
        continue;
      return pred();
    }
  }

  /// Runs actors and io events until nothing moves; timers do not fire.
  void settle() {
    settle_until([] { return false; });
  }

  /// Sends `xs...` to `whom` as a request, at once, and returns its answer:
  /// the value of type T, or the error it answered with. T = void for an
  /// empty answer (expected<void>). Runs actors (and io events) until
  /// nothing moves, as settle() does, so what the request set off has
  /// happened when ask returns; timers do not fire. For the steps in
  /// between, send and use the DSL's expect(...) instead.
  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& whom, Ts&&... xs) {
    using slot_type = std::optional<caf::expected<T>>;
    auto slot = std::make_shared<slot_type>();
    auto asker = this->sys.spawn(
      [slot, whom, args = std::make_tuple(std::decay_t<Ts>(xs)...)](
        caf::event_based_actor* self) -> caf::behavior {
        auto on_error = [slot, self](caf::error& err) {
          *slot = caf::expected<T>{std::move(err)};
          self->quit();
        };
        auto handle = std::apply(
          [&](const auto&... a) {
            return self->request(whom, caf::infinite, a...);
          },
          args);
        if constexpr (std::is_void_v<T>)
          handle.then(
            [slot, self] {
              *slot = caf::expected<void>{};
              self->quit();
            },
            on_error);
        else
          handle.then(
            [slot, self](T& x) {
              *slot = caf::expected<T>{std::move(x)};
              self->quit();
            },
            on_error);
        // A behavior keeps the asker alive until the answer; nobody else
        // sends to it.
        return {[](asker_atom) {}};
      });
    // Send now, before anything else runs, as a blocking request would: an
    // actor spawned just before must find the request in its mailbox when
    // it first runs.
    if (this->sched.prioritize(asker))
      this->sched.try_run_once();
    settle();
    if (!slot->has_value()) {
      caf::anon_send_exit(asker, caf::exit_reason::kill);
      settle();
      return no_answer();
    }
    return std::move(**slot);
  }

  /// The error in `x`, or none, by value. CAF_CHECK_EQUAL binds its
  /// operands with auto&&, so checking ask<T>(...).error() directly reads a
  /// reference into a temporary that is gone by the comparison.
  template <class T>
  static caf::error error_of(const caf::expected<T>& x) {
    return x ? caf::error{} : x.error();
  }

private:
  using asker_atom = caf::atom_constant<caf::atom("tk_asker")>;
};

} // namespace castor::testkit
