#pragma once

// An application: a declarative supervision tree plus the process glue around
// it. run() starts the tree, waits for SIGTERM/SIGINT (or for the root to
// end), then stops everything in reverse start order within a deadline.

#include <chrono>
#include <csignal>
#include <functional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "castor/actors/supervisor.hpp"

namespace castor {

/// What ended an application run, and the exit status it maps to.
struct run_outcome {
  /// 0: stopped by a signal or the root ended normally; 1: the root failed
  /// (e.g. restart intensity escalated to the top) or the shutdown deadline
  /// passed; 2: the tree failed to start.
  int exit_code = 0;
  caf::error reason;
};

class application {
public:
  application(std::string name, supervisor_flags root_flags,
              std::vector<child_spec> children);

  /// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread. Call before the
  /// actor_system is created so that every thread inherits the mask and only
  /// run() receives them.
  static void block_signals();

  /// Called on SIGHUP from run()'s thread (e.g. reload the config).
  void on_hangup(std::function<void()> fn) { on_hangup_ = std::move(fn); }

  /// Called once the tree has started, with the root supervisor.
  void on_started(std::function<void(const caf::actor&)> fn) {
    on_started_ = std::move(fn);
  }

  /// Starts the tree and blocks until a signal or the root's end, then shuts
  /// down in order. If the tree is not gone `deadline` after the stop began,
  /// run() gives up and reports exit code 1.
  run_outcome
  run(caf::actor_system& sys,
      std::chrono::milliseconds deadline = std::chrono::seconds(10));

  /// Ask a running application to stop, as SIGTERM does (thread-safe).
  static void request_stop();

  const std::string& name() const noexcept { return name_; }

private:
  std::string name_;
  supervisor_flags flags_;
  std::vector<child_spec> children_;
  std::function<void()> on_hangup_;
  std::function<void(const caf::actor&)> on_started_;
};

} // namespace castor
