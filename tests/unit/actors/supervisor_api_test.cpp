// Supervisor semantics, checked against OTP's supervisor module: start
// failures and ignore, significant children and auto_shutdown, spec
// validation, the management API, exits from outside and the tree dump.
// The blocking facades and start_supervisor are in blocking_api_test.cpp.
// Ordering, strategies, restarts and shutdown are in supervisor_test.cpp.

#define CAF_SUITE supervisor_api
#include "test_support.hpp"

using namespace castor;
using namespace castor::test;
using namespace std::chrono_literals;

CAF_TEST_FIXTURE_SCOPE(supervisor_api_tests, fixture)

// -- start failures and ignore -------------------------------------------------

CAF_TEST(a failing start stops the started children and reports the error) {
  auto sup = spawn_supervisor(
    sys, flags_for(strategy::one_for_one),
    {logged(log, "a"), logged(log, "b"), failing("bad"), logged(log, "c")});
  // Whoever waits for readiness gets the reason.
  auto err = error_of(ask<caf::ok_atom>(sup, ready_atom::value));
  CAF_CHECK_EQUAL(err, errc::start_failed);
  watch(sup, "sup");
  auto log_lines = log->take();
  CAF_CHECK_EQUAL(log_lines,
                  (strings{"start a", "start b", "stop b user_shutdown",
                           "stop a user_shutdown",
                           "down sup start_failed: bad: invalid_argument: "
                           "port already in use"}));
}

CAF_TEST(start_supervisor returns the start error of a nested supervisor) {
  auto inner = flags_for(strategy::one_for_one);
  inner.name = "inner";
  auto sup = spawn_supervisor(
    sys, flags_for(strategy::one_for_one),
    {logged(log, "a"),
     supervisor_child("inner", inner, {logged(log, "i1"), failing("i2")}),
     logged(log, "never")});
  auto res = ask<caf::ok_atom>(sup, ready_atom::value);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(res.error(), errc::start_failed);
  CAF_CHECK_EQUAL(describe(res.error()),
                  "start_failed: inner: start_failed: i2: invalid_argument: "
                  "port already in use");
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"start a", "start i1", "stop i1 user_shutdown",
                           "stop a user_shutdown"}));
}

CAF_TEST(a start function that throws is a start failure) {
  auto thrower = worker_with(
    "t", [](caf::event_based_actor*, const caf::message&) -> start_result {
      throw std::runtime_error("boom");
    });
  auto sup = spawn_supervisor(sys, flags_for(strategy::one_for_one), {thrower});
  auto err = error_of(ask<caf::ok_atom>(sup, ready_atom::value));
  CAF_CHECK_EQUAL(describe(err), "start_failed: t: runtime_error: boom");
}

CAF_TEST(a failed start_child names the child it forgets) {
  // An id longer than std::string's small buffer: the supervisor once read
  // it after freeing the child's record (a use-after-free under valgrind).
  auto sup = supervise(flags_for(strategy::one_for_one), {logged(log, "a")});
  std::string id = "a-child-with-a-long-name-that-fails";
  auto res = ask<caf::actor>(sup, start_child_atom::value, failing(id));
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(describe(res.error()), "start_failed: " + id
                                           + ": invalid_argument: "
                                             "port already in use");
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"a"}));
}

namespace {

/// A logged worker that is asked ready_atom: it answers with `refusal`, or,
/// with `handles_ready` false, has no handler for it at all (CAF answers
/// unexpected_message and the worker keeps running).
child_spec refusing_ready(log_ptr log, std::string id, bool handles_ready) {
  auto spec = worker_with(
    id,
    [log, id, handles_ready](caf::event_based_actor* sup,
                             const caf::message&) -> start_result {
      return sup->spawn([log, id, handles_ready](
                          caf::event_based_actor* self) -> caf::behavior {
        auto base = logging_worker(self, log, id, false);
        if (!handles_ready)
          return base;
        return {[](ready_atom) -> caf::result<caf::ok_atom> {
          return caf::error{errc::invalid_argument, "not ready"};
        }};
      });
    });
  spec.await_ready = true;
  return spec;
}

} // namespace

CAF_TEST(a child that refuses ready is stopped before it is forgotten) {
  for (bool handles_ready : {true, false}) {
    auto sup = supervise(flags_for(strategy::one_for_one), {logged(log, "a")});
    log->take();
    auto res = ask<caf::actor>(sup, start_child_atom::value,
                               refusing_ready(log, "r", handles_ready));
    CAF_REQUIRE(!res);
    CAF_CHECK_EQUAL(res.error(), errc::start_failed);
    CAF_CHECK_EQUAL(describe(res.error()),
                    handles_ready
                      ? "start_failed: r: invalid_argument: not ready"
                      : "start_failed: r: unexpected_message");
    CAF_CHECK_EQUAL(ids_of(sup), (strings{"a"}));
    // Stopped per its shutdown spec, not left running unsupervised.
    CAF_CHECK_EQUAL(log->take(), (strings{"start r", "stop r user_shutdown"}));
    self->send_exit(sup, caf::exit_reason::user_shutdown);
    sched.run();
    log->take();
  }
}

CAF_TEST(a refused ready fails the supervisor start and stops the child) {
  auto sup = spawn_supervisor(
    sys, flags_for(strategy::one_for_one),
    {logged(log, "a"), refusing_ready(log, "r", true), logged(log, "never")});
  auto err = error_of(ask<caf::ok_atom>(sup, ready_atom::value));
  CAF_CHECK_EQUAL(describe(err),
                  "start_failed: r: invalid_argument: not ready");
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"start a", "start r", "stop r user_shutdown",
                           "stop a user_shutdown"}));
}

CAF_TEST(kill ends a supervisor stuck in a start and the child it waits for) {
  // What start_supervisor does when its timeout passes (tested on a real
  // system at the end of this file). The exit handler runs only between
  // jobs, so user_shutdown waits behind the stuck start; kill does not.
  auto stuck = worker_with(
    "stuck",
    [this](caf::event_based_actor* sup, const caf::message&) -> start_result {
      return sup->spawn([this](caf::event_based_actor* self) -> caf::behavior {
        logging_worker(self, log, "stuck", false);
        return {[self](ready_atom) -> caf::result<caf::ok_atom> {
          self->make_response_promise(); // never delivered
          return caf::delegated<caf::ok_atom>{};
        }};
      });
    });
  stuck.await_ready = true;
  auto sup =
    supervise(flags_for(strategy::one_for_one), {logged(log, "a"), stuck});
  watch(sup, "sup");
  CAF_CHECK_EQUAL(log->take(), (strings{"start a", "start stuck"}));
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(log->take().empty());
  self->send_exit(sup, caf::exit_reason::kill);
  sched.run();
  auto events = log->take();
  std::sort(events.begin(), events.end());
  CAF_CHECK_EQUAL(events,
                  (strings{"down sup kill", "stop a kill", "stop stuck kill"}));
}

CAF_TEST(ignore keeps the spec without a process except for temporaries) {
  auto ignore = [](std::string id, restart_type r) {
    auto spec = worker_with(
      id, [](caf::event_based_actor*, const caf::message&) -> start_result {
        return caf::actor{};
      });
    spec.restart = r;
    return spec;
  };
  auto sup =
    supervise(flags_for(strategy::one_for_one),
              {ignore("kept", restart_type::permanent),
               ignore("dropped", restart_type::temporary), logged(log, "a")});
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"kept", "a"}));
  CAF_CHECK_EQUAL(state_of(sup, "kept"), "stopped");
  CAF_CHECK_EQUAL(ask<caf::ok_atom>(sup, ready_atom::value),
                  caf::ok_atom::value);
}

CAF_TEST(a failed restart is retried and counts toward the intensity) {
  int starts = 0;
  auto flaky =
    worker_with("f",
                [&starts, log = log](caf::event_based_actor* sup,
                                     const caf::message&) -> start_result {
                  if (++starts == 1)
                    return sup->spawn(logging_worker, log, "f", false);
                  return caf::error{errc::invalid_argument, "resource gone"};
                });
  auto sup = supervise(flags_for(strategy::one_for_one, 3, 5s), {flaky});
  watch(sup, "sup");
  log->take();
  tell(sup, "f", crash_atom::value);
  // 1 restart + 2 retries = 3 allowed; the 4th attempt exceeds intensity.
  CAF_CHECK_EQUAL(starts, 4);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop f runtime_error",
                           "down sup reached_max_restart_intensity: sup"}));
}

// -- significant children and auto_shutdown ------------------------------------

CAF_TEST(any_significant ends the supervisor when a significant child ends) {
  auto flags = flags_for(strategy::one_for_one);
  flags.auto_shutdown = auto_shutdown::any_significant;
  auto sig = logged(log, "sig", restart_type::transient);
  sig.significant = true;
  auto sup = supervise(flags, {logged(log, "a"), sig, logged(log, "c")});
  watch(sup, "sup");
  log->take();
  // An abnormal exit of a transient child is restarted, not a shutdown.
  tell(sup, "sig", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop sig runtime_error", "start sig"}));
  tell(sup, "sig", finish_atom::value);
  CAF_CHECK_EQUAL(
    log->take(),
    (strings{"stop sig normal", "stop c user_shutdown", "stop a user_shutdown",
             "down sup auto_shutdown: sup"}));
}

CAF_TEST(all_significant waits for the last significant child) {
  auto flags = flags_for(strategy::one_for_one);
  flags.auto_shutdown = auto_shutdown::all_significant;
  auto s1 = logged(log, "s1", restart_type::temporary);
  s1.significant = true;
  auto s2 = logged(log, "s2", restart_type::temporary);
  s2.significant = true;
  auto sup = supervise(flags, {logged(log, "a"), s1, s2});
  watch(sup, "sup");
  log->take();
  tell(sup, "s1", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop s1 runtime_error"}));
  // Terminations by the supervisor itself never trigger auto_shutdown.
  CAF_CHECK_EQUAL(
    ask<caf::ok_atom>(sup, terminate_child_atom::value, std::string{"s2"}),
    caf::ok_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop s2 user_shutdown"}));
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"a"}));
  auto s3 = logged(log, "s3", restart_type::temporary);
  s3.significant = true;
  CAF_CHECK(ask<caf::actor>(sup, start_child_atom::value, s3));
  log->take();
  tell(sup, "s3", finish_atom::value);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop s3 normal", "stop a user_shutdown",
                           "down sup auto_shutdown: sup"}));
}

CAF_TEST(invalid flags and specs are refused with a reason) {
  auto check_invalid = [&](supervisor_flags flags,
                           std::vector<child_spec> specs,
                           const std::string& why) {
    auto err = validate(flags, specs);
    CAF_CHECK_EQUAL(err, errc::invalid_spec);
    CAF_CHECK_EQUAL(describe(err), "invalid_spec: " + why);
  };
  auto sig = logged(log, "p");
  sig.significant = true;
  auto flags = flags_for(strategy::one_for_one);
  flags.auto_shutdown = auto_shutdown::any_significant;
  check_invalid(flags, {sig}, "child 'p' is significant and permanent");
  sig.restart = restart_type::transient;
  check_invalid(flags_for(strategy::one_for_one), {sig},
                "child 'p' is significant but auto_shutdown is never");
  check_invalid(flags_for(strategy::one_for_one),
                {logged(log, "x"), logged(log, "x")}, "duplicate child id 'x'");
  check_invalid(flags_for(strategy::simple_one_for_one),
                {logged(log, "x"), logged(log, "y")},
                "simple_one_for_one needs exactly one child spec, got 2");
  // A supervisor spawned with a bad spec ends with the reason.
  auto sup = spawn_supervisor(sys, flags_for(strategy::one_for_one),
                              {logged(log, "x"), logged(log, "x")});
  CAF_CHECK_EQUAL(error_of(ask<caf::ok_atom>(sup, ready_atom::value)),
                  errc::invalid_spec);
  CAF_CHECK(log->take().empty());
}

// -- management API ------------------------------------------------------------

CAF_TEST(management calls answer with the errors OTP gives) {
  auto sup = supervise(flags_for(strategy::one_for_one), abc(log));
  log->take();
  auto id = [](const char* x) { return std::string{x}; };
  CAF_CHECK_EQUAL(
    error_of(ask<caf::ok_atom>(sup, terminate_child_atom::value, id("nope"))),
    errc::not_found);
  CAF_CHECK_EQUAL(
    error_of(ask<caf::actor>(sup, restart_child_atom::value, id("nope"))),
    errc::not_found);
  CAF_CHECK_EQUAL(
    error_of(ask<caf::actor>(sup, restart_child_atom::value, id("a"))),
    errc::running);
  CAF_CHECK_EQUAL(
    error_of(ask<caf::ok_atom>(sup, delete_child_atom::value, id("a"))),
    errc::running);
  CAF_CHECK_EQUAL(
    error_of(ask<caf::actor>(sup, start_child_atom::value, logged(log, "a"))),
    errc::already_started);
  auto no_start = child_spec{};
  no_start.id = "broken";
  CAF_CHECK_EQUAL(
    error_of(ask<caf::actor>(sup, start_child_atom::value, no_start)),
    errc::invalid_spec);
  // terminate keeps the spec; restart brings it back; delete removes it.
  CAF_CHECK(ask<caf::ok_atom>(sup, terminate_child_atom::value, id("b")));
  CAF_CHECK_EQUAL(log->take(), (strings{"stop b user_shutdown"}));
  CAF_CHECK_EQUAL(state_of(sup, "b"), "stopped");
  CAF_CHECK_EQUAL(
    error_of(ask<caf::actor>(sup, start_child_atom::value, logged(log, "b"))),
    errc::already_present);
  auto counts = ask<child_counts>(sup, count_children_atom::value);
  CAF_REQUIRE(counts);
  CAF_CHECK_EQUAL(*counts, (child_counts{3, 2, 0, 3}));
  auto b = ask<caf::actor>(sup, restart_child_atom::value, id("b"));
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL(child(sup, "b"), *b);
  CAF_CHECK_EQUAL(log->take(), (strings{"start b"}));
  CAF_CHECK(ask<caf::ok_atom>(sup, terminate_child_atom::value, id("c")));
  CAF_CHECK(ask<caf::ok_atom>(sup, delete_child_atom::value, id("c")));
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"a", "b"}));
  // start_child appends; the new child stops first on shutdown.
  CAF_CHECK(ask<caf::actor>(sup, start_child_atom::value, logged(log, "d")));
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"a", "b", "d"}));
  log->take();
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop d user_shutdown", "stop b user_shutdown",
                           "stop a user_shutdown"}));
}

CAF_TEST(requests during shutdown get shutting_down) {
  auto slow = logged(log, "slow", restart_type::permanent, true);
  slow.shutdown = shutdown_spec::after(1s);
  auto sup = supervise(flags_for(strategy::one_for_one), {slow});
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  auto res = ask<caf::actor>(sup, start_child_atom::value, logged(log, "n"));
  CAF_CHECK_EQUAL(res.error(), errc::shutting_down);
}

CAF_TEST(exits from non - children stop the supervisor unless normal) {
  auto sup = supervise(flags_for(strategy::one_for_one), abc(log));
  watch(sup, "sup");
  log->take();
  self->send_exit(sup, caf::exit_reason::normal);
  sched.run();
  CAF_CHECK(log->take().empty());
  self->send_exit(sup, caf::sec::runtime_error);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop c user_shutdown", "stop b user_shutdown",
                           "stop a user_shutdown", "down sup runtime_error"}));
}

CAF_TEST(an abnormal exit of a linked non - child is ignored) {
  // OTP's supervisor ignores EXIT from processes other than its parent and
  // its children; an explicit exit (the parent's, or an operator's) still
  // stops it (the test above).
  auto sup = supervise(flags_for(strategy::one_for_one), abc(log));
  watch(sup, "sup");
  log->take();
  auto linked = sys.spawn([sup](caf::event_based_actor* peer) -> caf::behavior {
    peer->link_to(sup);
    return {[peer](crash_atom) { peer->quit(caf::sec::runtime_error); }};
  });
  sched.run();
  self->send(linked, crash_atom::value);
  sched.run();
  CAF_CHECK(log->take().empty());
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"a", "b", "c"}));
  CAF_CHECK_EQUAL(state_of(sup, "a"), "running");
}

CAF_TEST(a child killed from outside is restarted and the supervisor lives) {
  auto sup = supervise(flags_for(strategy::one_for_one), abc(log));
  watch(sup, "sup");
  log->take();
  self->send_exit(child(sup, "b"), caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"stop b kill", "start b"}));
  CAF_CHECK_EQUAL(state_of(sup, "b"), "running");
}

CAF_TEST(children die with a supervisor that is killed) {
  auto sup = supervise(flags_for(strategy::one_for_one), abc(log));
  log->take();
  self->send_exit(sup, caf::exit_reason::kill);
  sched.run();
  auto stops = log->take();
  std::sort(stops.begin(), stops.end());
  CAF_CHECK_EQUAL(stops,
                  (strings{"stop a kill", "stop b kill", "stop c kill"}));
}

CAF_TEST(a supervisor that ended frees its child specs while handles remain) {
  // A start function that holds something (here a token; in the wild often
  // a strong handle to the supervisor itself, a cycle) must not keep it
  // alive for as long as anyone holds the ended supervisor's handle.
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> alive = token;
  auto spec = logged(log, "a");
  spec.start = [start = spec.start, token](caf::event_based_actor* sup,
                                           const caf::message& extra) {
    return start(sup, extra);
  };
  token.reset();
  auto sup = supervise(flags_for(strategy::one_for_one), {std::move(spec)});
  CAF_CHECK(!alive.expired());
  self->send_exit(sup, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"start a", "stop a kill"}));
  CAF_CHECK(alive.expired());
}

CAF_TEST(dropping the last handle stops the children in order) {
  // Like OTP's parent shutdown: reverse start order, each child per its
  // shutdown spec (a stubborn one is killed when its timeout ends).
  auto slow = logged(log, "slow", restart_type::permanent, true);
  slow.shutdown = shutdown_spec::after(1s);
  {
    auto sup = supervise(flags_for(strategy::one_for_one),
                         {logged(log, "a"), slow, logged(log, "c")});
    log->take();
  }
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"stop c user_shutdown"}));
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop slow kill", "stop a user_shutdown"}));
}

CAF_TEST(a crash deferred behind a running job does not hang a later stop) {
  auto slow = logged(log, "slow", restart_type::permanent, true);
  slow.shutdown = shutdown_spec::after(1s);
  auto sup =
    supervise(flags_for(strategy::one_for_one, 5), {logged(log, "a"), slow});
  watch(sup, "sup");
  log->take();
  // terminate_child(slow) keeps the supervisor busy until the timeout; "a"
  // crashes meanwhile, and its handling waits behind the job.
  self->send(sup, terminate_child_atom::value, std::string{"slow"});
  sched.run();
  tell(sup, "a", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop a runtime_error"}));
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop slow kill", "down sup user_shutdown"}));
}

// -- introspection -------------------------------------------------------------

CAF_TEST(the tree dump shows nested supervisors with states and restarts) {
  auto inner = flags_for(strategy::rest_for_one);
  inner.name = "inner";
  auto root_flags = flags_for(strategy::one_for_all, 5);
  root_flags.name = "root";
  auto root = supervise(
    root_flags,
    {logged(log, "w1"), supervisor_child("pool", inner, {logged(log, "w2")})});
  auto pool = child(root, "pool");
  self->send(child(pool, "w2"), crash_atom::value);
  sched.run();
  auto tree = ask<tree_node>(root, tree_atom::value);
  CAF_REQUIRE(tree);
  CAF_CHECK_EQUAL(tree->id, "root");
  CAF_CHECK_EQUAL(tree->strategy, "one_for_all");
  CAF_REQUIRE_EQUAL(tree->children.size(), 2u);
  auto& pool_node = tree->children[1];
  CAF_CHECK_EQUAL(pool_node.id, "pool");
  CAF_CHECK_EQUAL(pool_node.kind, "supervisor");
  CAF_CHECK_EQUAL(pool_node.strategy, "rest_for_one");
  CAF_REQUIRE_EQUAL(pool_node.children.size(), 1u);
  CAF_CHECK_EQUAL(pool_node.children[0].id, "w2");
  CAF_CHECK_EQUAL(pool_node.children[0].restarts, 1u);
  CAF_CHECK_EQUAL(pool_node.children[0].state, "running");
  auto json = to_json(*tree);
  CAF_CHECK_NOT_EQUAL(json.find(R"("id":"w2")"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(json.find(R"("restarts":1)"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(json.find(R"("strategy":"rest_for_one")"),
                      std::string::npos);
  CAF_CHECK_EQUAL(json.find(R"("strategy":"")"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
