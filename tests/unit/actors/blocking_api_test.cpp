// The blocking entry points: start_supervisor and the supervisor_client
// facades, which block their caller's thread. They need a real actor system
// with threads (the test coordinator would never run what they wait for),
// and they must refuse to run where blocking would deadlock.

#define CAF_SUITE blocking_api
#include <future>

#include "test_support.hpp"

#include "castor/actors/supervisor_client.hpp"
#include "castor/actors/system_config.hpp"

using namespace castor;
using namespace castor::test;
using namespace std::chrono_literals;

// -- start_supervisor on a real actor system -------------------------------------

// start_supervisor blocks its thread on a scoped actor, so it cannot run
// under the test coordinator (nobody would run the supervisor, and the
// virtual clock never fires its timeout). This test uses a real actor system
// with threads; it asserts no durations: the 30 s wait only bounds how long a
// regression takes to fail instead of hanging.
CAF_TEST(start_supervisor ends a tree whose start times out) {
  spdlog::set_level(spdlog::level::off);
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  struct handles {
    caf::actor sup;
    caf::actor child;
  };
  auto started = std::make_shared<std::promise<handles>>();
  auto stuck = worker_with(
    "stuck",
    [started](caf::event_based_actor* sup,
              const caf::message&) -> start_result {
      // Never answers ready: the promise is never delivered.
      auto child =
        sup->spawn([](caf::event_based_actor* self) -> caf::behavior {
          return {[self](ready_atom) -> caf::result<caf::ok_atom> {
            self->make_response_promise(); // dropped, never delivered
            return caf::delegated<caf::ok_atom>{};
          }};
        });
      started->set_value(
        handles{caf::actor_cast<caf::actor>(sup->ctrl()), child});
      return child;
    });
  stuck.await_ready = true;
  auto res = start_supervisor(sys, flags_for(strategy::one_for_one), {stuck},
                              std::chrono::milliseconds(50));
  CAF_CHECK(!res);
  auto h = started->get_future().get();
  caf::scoped_actor self{sys};
  self->monitor(h.sup);
  self->monitor(h.child);
  int down = 0;
  for (int i = 0; i < 2; ++i)
    self->receive([&](caf::down_msg&) { ++down; },
                  caf::after(std::chrono::seconds(30)) >> [] {});
  CAF_CHECK_EQUAL(down, 2);
  // Whatever happened, do not hang ~actor_system on a leaked tree.
  self->send_exit(h.sup, caf::exit_reason::kill);
  self->send_exit(h.child, caf::exit_reason::kill);
}

// -- blocking facades refuse calls that would deadlock ------------------------------

namespace {

caf::error error_of_counts(const caf::expected<child_counts>& x) {
  return x ? caf::error{} : x.error();
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(blocking_facade_tests, fixture)

CAF_TEST(blocking facades refuse the test coordinator) {
  // Under the deterministic scheduler nothing runs while the caller blocks,
  // and the virtual clock never fires the timeout: the call would hang.
  auto sup = supervise(flags_for(strategy::one_for_one), {logged(log, "a")});
  supervisor_client client{sys, sup, std::chrono::seconds(1)};
  CAF_CHECK_EQUAL(error_of(client.which_children()), errc::would_deadlock);
  CAF_CHECK_EQUAL(client.terminate_child("a"), errc::would_deadlock);
  CAF_CHECK_EQUAL(
    error_of(start_supervisor(sys, flags_for(strategy::one_for_one),
                              {logged(log, "b")}, std::chrono::seconds(1))),
    errc::would_deadlock);
  CAF_CHECK_EQUAL(state_of(sup, "a"), "running");
}

CAF_TEST_FIXTURE_SCOPE_END()

// A facade called from an actor blocks a scheduler thread, and deadlocks
// once the actors it waits for need that thread. Real system (threads),
// configured with castor::configure, which installs the detection.
CAF_TEST(blocking facades refuse calls from an actor) {
  spdlog::set_level(spdlog::level::off);
  caf::actor_system_config cfg;
  configure(cfg, runtime_options{2, 0, 300});
  caf::actor_system sys{cfg};
  auto sup = spawn_supervisor(sys, flags_for(strategy::one_for_one), {});
  auto caller = sys.spawn([sup](caf::event_based_actor* self) -> caf::behavior {
    return {[self, sup](ping_atom) {
      supervisor_client client{self->home_system(), sup,
                               std::chrono::seconds(1)};
      return describe(error_of_counts(client.count_children()));
    }};
  });
  caf::scoped_actor self{sys};
  // From a plain thread the facade works.
  supervisor_client client{sys, sup, std::chrono::seconds(30)};
  CAF_CHECK(client.count_children());
  std::string answer;
  self->request(caller, std::chrono::seconds(30), ping_atom::value)
    .receive([&](std::string& x) { answer = std::move(x); },
             [&](caf::error& err) { answer = describe(err); });
  CAF_CHECK_EQUAL(answer.substr(0, 14), "would_deadlock");
  self->send_exit(caller, caf::exit_reason::kill);
  self->send_exit(sup, caf::exit_reason::kill);
}
