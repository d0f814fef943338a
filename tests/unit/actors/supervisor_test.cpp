// Supervisor semantics, checked against OTP's supervisor module: ordering,
// strategies, restart types, intensity and escalation, backoff and shutdown
// specs. Start failures, auto_shutdown and the management API are in
// supervisor_api_test.cpp.

#define CAF_SUITE supervisor
#include "test_support.hpp"

using namespace castor;
using namespace castor::test;
using namespace std::chrono_literals;

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

CAF_TEST(a supervisor that gives up exits with shutdown like OTP) {
  // OTP: the supervisor ends with `shutdown`; castor keeps the why in the
  // reason, as OTP's {shutdown, Term}.
  CAF_CHECK(is_shutdown_exit(
    caf::error{errc::reached_max_restart_intensity, std::string{"x"}}));
  // A parent restarts a permanent child supervisor that gave up (the test
  // above) but not a transient one: shutdown is a normal exit for it.
  auto mid_flags = flags_for(strategy::one_for_one, 0, 5s);
  mid_flags.name = "mid";
  auto mid = supervisor_child("mid", mid_flags, {logged(log, "w")});
  mid.restart = restart_type::transient;
  auto root_flags = flags_for(strategy::one_for_one, 1, 5s);
  root_flags.name = "root";
  auto root = supervise(root_flags, {logged(log, "x"), mid});
  watch(root, "root");
  watch(child(root, "mid"), "mid");
  log->take();
  self->send(child(child(root, "mid"), "w"), crash_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop w runtime_error",
                           "down mid reached_max_restart_intensity: mid"}));
  CAF_CHECK_EQUAL(state_of(root, "mid"), "stopped");
  CAF_CHECK_EQUAL(state_of(root, "x"), "running");
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

CAF_TEST(a backoff longer than the period still escalates) {
  // Restarts count in the intensity window from when they take effect, so
  // a child that crashes right after each delayed restart escalates as it
  // would without backoff.
  auto flags = flags_for(strategy::one_for_one, 1, 5s);
  flags.backoff.initial = 10s;
  flags.backoff.max = 10s;
  flags.backoff.reset_after = 60s;
  auto sup = supervise(flags, abc(log));
  watch(sup, "sup");
  log->take();
  tell(sup, "a", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(), (strings{"stop a runtime_error"}));
  advance_time(10s);
  sched.run();
  CAF_CHECK_EQUAL(log->take(), (strings{"start a"}));
  tell(sup, "a", crash_atom::value);
  CAF_CHECK_EQUAL(log->take(),
                  (strings{"stop a runtime_error", "stop c user_shutdown",
                           "stop b user_shutdown",
                           "down sup reached_max_restart_intensity: sup"}));
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

CAF_TEST_FIXTURE_SCOPE_END()
