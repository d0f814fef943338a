// Supervisor semantics, checked against OTP's (see shared notes,
// otp-semantics.md §3): strategies, restart types, intensity and escalation,
// backoff, ordering, shutdown specs, start failures, auto_shutdown, dynamic
// children and the management API.

#define CAF_SUITE supervisor
#include "test_support.hpp"

using namespace castor;
using namespace castor::test;
using namespace std::chrono_literals;

namespace {

supervisor_flags flags_for(strategy s, int intensity = 1,
                           std::chrono::milliseconds period = 5s) {
  supervisor_flags flags;
  flags.strategy = s;
  flags.intensity = intensity;
  flags.period = period;
  flags.name = "sup";
  return flags;
}

std::vector<child_spec> abc(const log_ptr& log) {
  return {logged(log, "a"), logged(log, "b"), logged(log, "c")};
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

// -- order ---------------------------------------------------------------------

CAF_TEST(children start in order and stop in reverse order) {
  auto sup = supervise(flags_for(strategy::one_for_one), abc(log));
  watch(sup, "sup");
  CAF_CHECK_EQUAL(log->take(), (strings{"start a", "start b", "start c"}));
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"a", "b", "c"}));
  CAF_CHECK_EQUAL(ask<caf::ok_atom>(sup, ready_atom::value),
                  caf::ok_atom::value);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop c user_shutdown", "stop b user_shutdown",
                           "stop a user_shutdown", "down sup user_shutdown"}));
}

// -- strategies ----------------------------------------------------------------

CAF_TEST(one_for_one restarts only the failed child) {
  auto sup = supervise(flags_for(strategy::one_for_one), abc(log));
  log->take();
  tell(sup, "b", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop b runtime_error", "start b"}));
  CAF_CHECK_EQUAL(restarts_of(sup, "b"), 1u);
  CAF_CHECK_EQUAL(restarts_of(sup, "a"), 0u);
  CAF_CHECK_EQUAL(state_of(sup, "b"), "running");
}

CAF_TEST(one_for_all stops the others in reverse order then starts all) {
  auto sup = supervise(flags_for(strategy::one_for_all), abc(log));
  log->take();
  tell(sup, "b", crash_atom::value);
  CAF_CHECK_EQUAL(
    log->take(),
    (strings{"stop b runtime_error", "stop c user_shutdown",
             "stop a user_shutdown", "start a", "start b", "start c"}));
  for (auto& info : children_of(sup))
    CAF_CHECK_EQUAL(info.state, "running");
}

CAF_TEST(rest_for_one restarts the failed child and those after it) {
  auto sup = supervise(flags_for(strategy::rest_for_one, 5), abc(log));
  log->take();
  tell(sup, "b", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop b runtime_error", "stop c user_shutdown",
                           "start b", "start c"}));
  tell(sup, "c", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop c runtime_error", "start c"}));
}

CAF_TEST(temporary siblings are not restarted by one_for_all) {
  auto specs = abc(log);
  specs[2].restart = restart_type::temporary;
  auto sup = supervise(flags_for(strategy::one_for_all), std::move(specs));
  log->take();
  tell(sup, "a", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop a runtime_error", "stop c user_shutdown",
                           "stop b user_shutdown", "start a", "start b"}));
  CAF_CHECK_EQUAL(ids_of(sup), (strings{"a", "b"}));
}

CAF_TEST(simple_one_for_one starts dynamic children from one template) {
  supervisor_flags flags = flags_for(strategy::simple_one_for_one);
  auto tmpl =
    worker_with("conn",
                [log = log](caf::event_based_actor* sup,
                            const caf::message& extra) -> start_result {
                  return sup->spawn(logging_worker, log,
                                    extra.get_as<std::string>(0), false);
                });
  auto sup = supervise(flags, {tmpl});
  CAF_CHECK(log->take().empty());
  std::vector<caf::actor> kids;
  for (auto name : {"x", "y", "z"}) {
    auto res = ask<caf::actor>(sup, start_child_atom::value,
                               caf::make_message(std::string{name}));
    CAF_REQUIRE(res);
    kids.push_back(*res);
  }
  CAF_CHECK_EQUAL(log->take(), (strings{"start x", "start y", "start z"}));
  CAF_CHECK_EQUAL(children_of(sup).size(), 3u);
  // A crashed dynamic child comes back with its own arguments.
  self->send(kids[1], crash_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"stop y runtime_error", "start y"}));
  // Dynamic children are terminated by handle and then forgotten.
  auto y2 = children_of(sup)[1].handle;
  CAF_CHECK_EQUAL(ask<caf::ok_atom>(sup, terminate_child_atom::value, y2),
                  caf::ok_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop y user_shutdown"}));
  CAF_CHECK_EQUAL(children_of(sup).size(), 2u);
  // Id-based management does not apply (OTP answers simple_one_for_one).
  auto id = children_of(sup)[0].id;
  CAF_CHECK_EQUAL(error_of(ask<caf::actor>(sup, restart_child_atom::value, id)),
                  errc::simple_one_for_one);
  CAF_CHECK_EQUAL(
    error_of(ask<caf::ok_atom>(sup, delete_child_atom::value, id)),
    errc::simple_one_for_one);
  CAF_CHECK_EQUAL(
    error_of(ask<caf::ok_atom>(sup, terminate_child_atom::value, id)),
    errc::simple_one_for_one);
  // On shutdown all of them stop (in parallel, so in no defined order).
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  auto stops = log->take();
  std::sort(stops.begin(), stops.end());
  CAF_CHECK_EQUAL(stops,
                  (strings{"stop x user_shutdown", "stop z user_shutdown"}));
}

// -- restart types -------------------------------------------------------------

CAF_TEST(restart types against normal shutdown and abnormal exits) {
  struct row {
    restart_type type;
    caf::error reason;
    bool restarted;
    bool spec_kept;
  };
  std::vector<row> rows{
    {restart_type::permanent, caf::exit_reason::normal, true, true},
    {restart_type::permanent, caf::exit_reason::user_shutdown, true, true},
    {restart_type::permanent, caf::sec::runtime_error, true, true},
    {restart_type::transient, caf::exit_reason::normal, false, true},
    {restart_type::transient, caf::exit_reason::user_shutdown, false, true},
    {restart_type::transient, caf::sec::runtime_error, true, true},
    {restart_type::temporary, caf::exit_reason::normal, false, false},
    {restart_type::temporary, caf::exit_reason::user_shutdown, false, false},
    {restart_type::temporary, caf::sec::runtime_error, false, false},
  };
  for (auto& r : rows) {
    CAF_MESSAGE(to_string(r.type)
                << " child exits with " << describe_exit(r.reason));
    auto sup =
      supervise(flags_for(strategy::one_for_one), {logged(log, "w", r.type)});
    log->take();
    tell(sup, "w", finish_atom::value, r.reason);
    auto expected = strings{"stop w " + describe_exit(r.reason)};
    if (r.restarted)
      expected.emplace_back("start w");
    CAF_CHECK_EQUAL(log->take(), expected);
    CAF_CHECK_EQUAL(ids_of(sup).size(), r.spec_kept ? 1u : 0u);
    if (r.spec_kept)
      CAF_CHECK_EQUAL(state_of(sup, "w"), r.restarted ? "running" : "stopped");
    self->send_exit(sup, caf::exit_reason::kill);
    sched.run();
    log->take();
  }
}

// -- intensity and escalation --------------------------------------------------

CAF_TEST(
  exceeding the restart intensity stops all children and the supervisor) {
  auto sup = supervise(flags_for(strategy::one_for_one, 1, 5s), abc(log));
  watch(sup, "sup");
  log->take();
  tell(sup, "a", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop a runtime_error", "start a"}));
  tell(sup, "a", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop a runtime_error", "stop c user_shutdown",
                           "stop b user_shutdown",
                           "down sup reached_max_restart_intensity: sup"}));
}

CAF_TEST(restarts older than the period do not count) {
  auto sup = supervise(flags_for(strategy::one_for_one, 1, 5s), abc(log));
  log->take();
  for (int i = 0; i < 3; ++i) {
    tell(sup, "a", crash_atom::value);
    CAF_CHECK_EQUAL(log->take(), (strings{"stop a runtime_error", "start a"}));
    advance_time(6s);
  }
  CAF_CHECK_EQUAL(restarts_of(sup, "a"), 3u);
}

CAF_TEST(intensity zero means the first restart ends the supervisor) {
  auto sup = supervise(flags_for(strategy::one_for_one, 0), abc(log));
  watch(sup, "sup");
  log->take();
  tell(sup, "c", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop c runtime_error", "stop b user_shutdown",
                           "stop a user_shutdown",
                           "down sup reached_max_restart_intensity: sup"}));
}

CAF_TEST(failures escalate through two levels of supervisors) {
  auto mid_flags = flags_for(strategy::one_for_one, 1, 5s);
  mid_flags.name = "mid";
  auto root_flags = flags_for(strategy::one_for_one, 1, 5s);
  root_flags.name = "root";
  auto root = supervise(
    root_flags,
    {logged(log, "x"), supervisor_child("mid", mid_flags, {logged(log, "w")})});
  watch(root, "root");
  CAF_CHECK_EQUAL(log->take(), (strings{"start x", "start w"}));
  auto mid = child(root, "mid");
  auto crash_w = [&] {
    auto w = child(mid, "w");
    CAF_REQUIRE(w != nullptr);
    self->send(w, crash_atom::value);
    sched.run();
  };
  // Two crashes within the period: mid gives up, root restarts mid.
  crash_w();
  CAF_CHECK_EQUAL(log->take(), (strings{"stop w runtime_error", "start w"}));
  crash_w();
  CAF_CHECK_EQUAL(log->take(), (strings{"stop w runtime_error", "start w"}));
  CAF_CHECK_EQUAL(restarts_of(root, "mid"), 1u);
  CAF_CHECK_NOT_EQUAL(child(root, "mid"), mid);
  CAF_CHECK_EQUAL(state_of(root, "x"), "running");
  // Again: mid gives up a second time within root's period, so root
  // exceeds its own intensity and ends everything, in reverse order.
  mid = child(root, "mid");
  crash_w();
  log->take();
  crash_w();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop w runtime_error", "stop x user_shutdown",
                           "down root reached_max_restart_intensity: root"}));
}

// -- backoff -------------------------------------------------------------------

CAF_TEST(backoff delays restarts exponentially up to a cap) {
  auto flags = flags_for(strategy::one_for_one, 100, 60s);
  flags.backoff.initial = 100ms;
  flags.backoff.max = 300ms;
  flags.backoff.reset_after = 10s;
  auto sup = supervise(flags, {logged(log, "w")});
  log->take();
  std::vector<std::chrono::milliseconds> delays{100ms, 200ms, 300ms, 300ms};
  for (auto delay : delays) {
    CAF_MESSAGE("expecting a restart after " << delay.count() << " ms");
    tell(sup, "w", crash_atom::value);
    CAF_CHECK_EQUAL(log->take(), (strings{"stop w runtime_error"}));
    CAF_CHECK_EQUAL(state_of(sup, "w"), "restarting");
    // The restart must not happen before its delay, and must after it.
    advance_time(delay - 1ms);
    sched.run();
    CAF_CHECK(log->take().empty());
    CAF_CHECK_EQUAL(state_of(sup, "w"), "restarting");
    advance_time(1ms);
    sched.run();
    CAF_CHECK_EQUAL(log->take(), (strings{"start w"}));
    CAF_CHECK_EQUAL(state_of(sup, "w"), "running");
  }
  // A child that stayed up for reset_after starts over at the initial delay.
  advance_time(10s);
  tell(sup, "w", crash_atom::value);
  log->take();
  advance_time(100ms);
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"start w"}));
  // While a restart is pending, management calls say so.
  tell(sup, "w", crash_atom::value);
  CAF_CHECK_EQUAL(
    error_of(ask<caf::actor>(sup, restart_child_atom::value, std::string{"w"})),
    errc::restarting);
  CAF_CHECK_EQUAL(error_of(ask<caf::ok_atom>(sup, delete_child_atom::value,
                                             std::string{"w"})),
                  errc::restarting);
}

// -- shutdown specs ------------------------------------------------------------

CAF_TEST(a child that ignores shutdown is killed when its timeout ends) {
  auto stubborn = logged(log, "s", restart_type::permanent, true);
  stubborn.shutdown = shutdown_spec::after(2s);
  auto sup =
    supervise(flags_for(strategy::one_for_one), {logged(log, "a"), stubborn});
  log->take();
  auto rh = self->request(sup, caf::infinite, terminate_child_atom::value,
                          std::string{"s"});
  sched.run();
  CAF_CHECK(log->take().empty()); // still alive: it trapped the exit
  CAF_CHECK_EQUAL(state_of(sup, "s"), "stopping");
  advance_time(1999ms);
  sched.run();
  CAF_CHECK(log->take().empty());
  advance_time(1ms);
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"stop s kill"}));
  bool answered = false;
  rh.receive([&](caf::ok_atom) { answered = true; },
             [&](caf::error& err) { CAF_FAIL(describe(err)); });
  CAF_CHECK(answered);
  CAF_CHECK_EQUAL(state_of(sup, "s"), "stopped");
}

CAF_TEST(brutal_kill kills at once and infinity waits) {
  auto brutal = logged(log, "b");
  brutal.shutdown = shutdown_spec::brutal_kill();
  auto patient = logged(log, "p");
  patient.shutdown = shutdown_spec::infinity();
  auto sup = supervise(flags_for(strategy::one_for_one), {patient, brutal});
  log->take();
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop b kill", "stop p user_shutdown"}));
}

CAF_TEST(shutdown of a supervisor waits for each child in reverse order) {
  auto slow = logged(log, "slow", restart_type::permanent, true);
  slow.shutdown = shutdown_spec::after(1s);
  auto sup = supervise(flags_for(strategy::one_for_one),
                       {logged(log, "first"), slow, logged(log, "last")});
  watch(sup, "sup");
  log->take();
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  // "first" must wait until "slow" is gone, which takes its full timeout.
  CAF_CHECK_EQUAL(log->take(), (strings{"stop last user_shutdown"}));
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop slow kill", "stop first user_shutdown",
                           "down sup user_shutdown"}));
}

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
