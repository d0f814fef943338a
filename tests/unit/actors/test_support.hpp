#pragma once

// Test actors that write what happens to them into a shared event log, so a
// test can assert the order of starts, stops and exit reasons. Everything
// runs on the test thread under CAF's deterministic coordinator, so the log
// needs no lock.

#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/testkit/fixture.hpp"

namespace castor::test {

using crash_atom = caf::atom_constant<caf::atom("crash")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;

struct event_log {
  std::vector<std::string> events;

  void add(std::string x) { events.emplace_back(std::move(x)); }

  /// Returns and clears what was logged so far.
  std::vector<std::string> take() {
    auto out = std::move(events);
    events.clear();
    return out;
  }
};

using log_ptr = std::shared_ptr<event_log>;
using strings = std::vector<std::string>;

/// A worker that logs "start NAME" and "stop NAME REASON". It crashes on
/// crash_atom (runtime_error), ends normally on finish_atom, ends with
/// `reason` on (finish_atom, reason), and answers ping with pong. With
/// `stubborn`, it traps exits and ignores shutdown requests.
inline caf::behavior logging_worker(caf::event_based_actor* self, log_ptr log,
                                    std::string name, bool stubborn) {
  log->add("start " + name);
  self->attach_functor([log, name](const caf::error& reason) {
    log->add("stop " + name + " " + describe_exit(reason));
  });
  if (stubborn)
    self->set_exit_handler([](caf::exit_msg&) {});
  return {
    [self](crash_atom) { self->quit(caf::sec::runtime_error); },
    [self](finish_atom) { self->quit(); },
    [self](finish_atom, caf::error& reason) { self->quit(std::move(reason)); },
    [](ping_atom) { return pong_atom::value; },
  };
}

inline child_spec logged(log_ptr log, std::string id,
                         restart_type restart = restart_type::permanent,
                         bool stubborn = false) {
  auto spec = worker(id, logging_worker, log, id, stubborn);
  spec.restart = restart;
  return spec;
}

/// A child whose start function fails.
inline child_spec failing(std::string id) {
  return worker_with(
    id, [](caf::event_based_actor*, const caf::message&) -> start_result {
      return caf::error{errc::invalid_argument, "port already in use"};
    });
}

/// Logs "down NAME REASON" when `target` terminates.
inline caf::behavior watcher(caf::event_based_actor* self, log_ptr log,
                             caf::actor target, std::string name) {
  self->monitor(target);
  self->set_down_handler([log, name](caf::down_msg& msg) {
    log->add("down " + name + " " + describe_exit(msg.reason));
  });
  return {[](ping_atom) { return pong_atom::value; }};
}

// ask() and error_of() are the test kit's (castor/testkit/fixture.hpp).
struct fixture : testkit::fixture<> {
  log_ptr log = std::make_shared<event_log>();

  fixture() { spdlog::set_level(spdlog::level::off); }

  caf::actor supervise(supervisor_flags flags, std::vector<child_spec> specs) {
    auto sup = spawn_supervisor(sys, std::move(flags), std::move(specs));
    sched.run();
    return sup;
  }

  /// Logs "down NAME REASON" when `target` ends. The fixture keeps the
  /// watcher alive: CAF ends actors that nobody references.
  void watch(const caf::actor& target, std::string name) {
    watchers.push_back(sys.spawn(watcher, log, target, std::move(name)));
    sched.run();
  }

  std::vector<caf::actor> watchers;

  std::vector<child_info> children_of(const caf::actor& sup) {
    auto res = ask<std::vector<child_info>>(sup, which_children_atom::value);
    CAF_REQUIRE(res);
    return std::move(*res);
  }

  caf::actor child(const caf::actor& sup, const std::string& id) {
    for (auto& info : children_of(sup))
      if (info.id == id)
        return info.handle;
    return {};
  }

  /// The state of child `id` as which_children reports it.
  std::string state_of(const caf::actor& sup, const std::string& id) {
    for (auto& info : children_of(sup))
      if (info.id == id)
        return info.state;
    return "absent";
  }

  uint64_t restarts_of(const caf::actor& sup, const std::string& id) {
    for (auto& info : children_of(sup))
      if (info.id == id)
        return info.restarts;
    return ~uint64_t{0};
  }

  strings ids_of(const caf::actor& sup) {
    strings out;
    for (auto& info : children_of(sup))
      out.push_back(info.id);
    return out;
  }

  /// Sends `msg...` to child `id` and runs until nothing moves, without
  /// firing timers (time stands still).
  template <class... Ts>
  void tell(const caf::actor& sup, const std::string& id, Ts... xs) {
    auto hdl = child(sup, id);
    CAF_REQUIRE(hdl != nullptr);
    self->send(hdl, xs...);
    sched.run();
  }
};

/// Flags named "sup" for strategy `s`, OTP's default intensity and period.
inline supervisor_flags
flags_for(strategy s, int intensity = 1,
          std::chrono::milliseconds period = std::chrono::seconds(5)) {
  supervisor_flags flags;
  flags.strategy = s;
  flags.intensity = intensity;
  flags.period = period;
  flags.name = "sup";
  return flags;
}

/// Three logged workers a, b and c.
inline std::vector<child_spec> abc(const log_ptr& log) {
  return {logged(log, "a"), logged(log, "b"), logged(log, "c")};
}

} // namespace castor::test
