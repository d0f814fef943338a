// application::start/stop for hosts that own their main loop: neither call
// blocks or touches a signal, and the host learns of the start and the end
// through callbacks and futures. Under the deterministic scheduler nothing
// runs until the test runs it, so "returns at once" is checkable: the tree
// has not started when start() returns.

#define CAF_SUITE application
#include <csignal>
#include <future>
#include <thread>

#include "test_support.hpp"
#include <pthread.h>

#include "castor/actors/application.hpp"
#include "castor/actors/system_config.hpp"

using namespace castor;
using namespace castor::test;
using namespace std::chrono_literals;

namespace {

template <class T>
bool ready(const std::shared_future<T>& f) {
  return f.valid() && f.wait_for(0s) == std::future_status::ready;
}

bool sigterm_blocked() {
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, nullptr, &cur);
  return sigismember(&cur, SIGTERM) == 1;
}

struct app_fixture : fixture {
  std::vector<run_outcome> stopped_with;
  std::vector<caf::actor> started_with;

  application make(std::vector<child_spec> children) {
    application app{"app", flags_for(strategy::one_for_one),
                    std::move(children)};
    app.on_started(
      [this](const caf::actor& root) { started_with.push_back(root); });
    app.on_stopped(
      [this](const run_outcome& out) { stopped_with.push_back(out); });
    return app;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(application_tests, app_fixture)

CAF_TEST(start returns at once and leaves the signals alone) {
  auto app = make({logged(log, "a"), logged(log, "b")});
  auto mask_before = sigterm_blocked();
  CAF_REQUIRE_EQUAL(app.start(sys), caf::error{});
  CAF_CHECK_EQUAL(sigterm_blocked(), mask_before);
  // Nothing has run yet: start() did not wait for the tree.
  CAF_CHECK(!ready(app.started()));
  CAF_CHECK(log->events.empty());
  sched.run();
  CAF_REQUIRE(ready(app.started()));
  auto root = app.started().get();
  CAF_REQUIRE(root);
  CAF_CHECK_EQUAL(started_with, (std::vector<caf::actor>{*root}));
  CAF_CHECK_EQUAL(log->take(), (strings{"start a", "start b"}));
  CAF_CHECK(!ready(app.stopped()));
  // A second start while running is refused.
  CAF_CHECK_EQUAL(app.start(sys), errc::invalid_argument);
}

CAF_TEST(stop returns at once and the tree stops in reverse order) {
  auto app = make({logged(log, "a"), logged(log, "b")});
  app.start(sys);
  sched.run();
  log->take();
  app.stop();
  CAF_CHECK(!ready(app.stopped()));
  CAF_CHECK(log->events.empty());
  sched.run();
  CAF_REQUIRE(ready(app.stopped()));
  CAF_CHECK_EQUAL(app.stopped().get().exit_code, 0);
  CAF_CHECK_EQUAL(app.stopped().get().reason, caf::error{});
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop b user_shutdown", "stop a user_shutdown"}));
  CAF_REQUIRE_EQUAL(stopped_with.size(), 1u);
  CAF_CHECK_EQUAL(stopped_with[0].exit_code, 0);
  // Stopping again does nothing; starting again does.
  app.stop();
  sched.run();
  CAF_CHECK_EQUAL(stopped_with.size(), 1u);
  CAF_CHECK_EQUAL(app.start(sys), caf::error{});
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"start a", "start b"}));
  app.stop();
  sched.run();
  CAF_CHECK_EQUAL(stopped_with.size(), 2u);
}

CAF_TEST(a failed start ends the run with exit code 2) {
  auto app = make({logged(log, "a"), failing("bad")});
  app.start(sys);
  sched.run();
  CAF_REQUIRE(ready(app.started()));
  CAF_CHECK_EQUAL(error_of(app.started().get()), errc::start_failed);
  CAF_CHECK(started_with.empty());
  CAF_REQUIRE(ready(app.stopped()));
  CAF_CHECK_EQUAL(app.stopped().get().exit_code, 2);
  CAF_CHECK_EQUAL(app.stopped().get().reason, errc::start_failed);
  CAF_REQUIRE_EQUAL(stopped_with.size(), 1u);
  CAF_CHECK_EQUAL(stopped_with[0].exit_code, 2);
  CAF_CHECK_EQUAL(log->take(), (strings{"start a", "stop a user_shutdown"}));
}

CAF_TEST(a root that fails by itself ends the run with exit code 1) {
  auto app = make({logged(log, "a")});
  app.start(sys);
  sched.run();
  auto root = *app.started().get();
  self->send_exit(root, caf::exit_reason::kill);
  sched.run();
  CAF_REQUIRE(ready(app.stopped()));
  CAF_CHECK_EQUAL(app.stopped().get().exit_code, 1);
  CAF_CHECK_EQUAL(app.stopped().get().reason,
                  caf::make_error(caf::exit_reason::kill));
  CAF_CHECK_EQUAL(stopped_with.size(), 1u);
}

CAF_TEST(a tree that has run past the start timeout still stops) {
  // The application's watcher is the only way stop() reaches the root.
  // Nothing but the start request held it, and CAF ends an actor nobody
  // references: once the request's timeout had passed (30 s after every
  // start), stop() found no watcher and SIGTERM hung castor-relay.
  auto app = make({logged(log, "a")});
  app.start(sys, 5s);
  sched.run();
  log->take();
  advance_time(1min);
  sched.run();
  CAF_CHECK(!ready(app.stopped()));
  app.stop();
  sched.run();
  CAF_REQUIRE(ready(app.stopped()));
  CAF_CHECK_EQUAL(app.stopped().get().exit_code, 0);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop a user_shutdown"}));
}

CAF_TEST(a tree that outlives the stop deadline is killed with exit code 1) {
  // A child that ignores shutdown requests, waited for without limit: only
  // the application's deadline ends the tree.
  auto stubborn = logged(log, "s", restart_type::permanent, true);
  stubborn.shutdown = shutdown_spec::infinity();
  auto app = make({stubborn});
  app.start(sys);
  sched.run();
  log->take();
  app.stop(1s);
  sched.run();
  CAF_CHECK(!ready(app.stopped()));
  // Time moves only when the test moves it: past the deadline now.
  advance_time(1s);
  sched.run();
  CAF_REQUIRE(ready(app.stopped()));
  CAF_CHECK_EQUAL(app.stopped().get().exit_code, 1);
  CAF_CHECK_EQUAL(app.stopped().get().reason, errc::shutting_down);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop s kill"}));
}

CAF_TEST(run refuses the test scheduler instead of hanging) {
  application app{"app", flags_for(strategy::one_for_one), {}};
  auto out = app.run(sys);
  CAF_CHECK_EQUAL(out.exit_code, 2);
  CAF_CHECK_EQUAL(out.reason, errc::would_deadlock);
}

CAF_TEST_FIXTURE_SCOPE_END()

// run() takes SIGUSR1 and SIGUSR2 with the other signals: they call
// on_user1 / on_user2 and never end the process (they used to, with the
// default action). A real actor system, on a thread of its own so that the
// signal mask run() sets stays there. Each signal is sent to run()'s thread
// only (pthread_kill), where run() keeps it blocked and takes it with
// sigtimedwait; the last handler asks run() to stop.
CAF_TEST(run takes the user signals 1 and 2 and goes on) {
  caf::actor_system_config cfg;
  configure(cfg);
  caf::actor_system real{cfg};
  application app{"signals", flags_for(strategy::one_for_one), {}};
  std::vector<std::string> seen;
  app.on_started(
    [](const caf::actor&) { pthread_kill(pthread_self(), SIGUSR1); });
  app.on_user1([&seen] {
    seen.push_back("usr1");
    pthread_kill(pthread_self(), SIGUSR2);
  });
  app.on_user2([&seen] {
    seen.push_back("usr2");
    application::request_stop();
  });
  run_outcome out;
  std::thread runner{[&] { out = app.run(real); }};
  runner.join();
  CAF_CHECK_EQUAL(seen, (std::vector<std::string>{"usr1", "usr2"}));
  CAF_CHECK_EQUAL(out.exit_code, 0);
}
