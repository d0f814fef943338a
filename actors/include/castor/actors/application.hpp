#pragma once

// An application: a declarative supervision tree plus the process glue around
// it. Two ways to run one:
//
// - run(): for a program that is the application. Starts the tree, waits for
//   SIGTERM/SIGINT (or for the root to end), then stops everything in reverse
//   start order within a deadline. It takes over those signals.
// - start() and stop(): for a host that owns its main loop and its signals
//   (a GUI, a game loop, another event loop). Neither blocks nor touches a
//   signal; the host learns of the start and the end through callbacks
//   (on_started, on_stopped) or futures (started(), stopped()).
//
// run() is built on start() and stop(): the same actor watches the tree and
// decides the outcome either way.
//
//   castor::application app{"receiver", flags, {children...}};
//   app.on_stopped([](const castor::run_outcome& o) { /* post to the loop */ });
//   app.start(sys);
//   ...                       // the host's loop runs
//   app.stop();               // e.g. from the host's quit handler
//   app.stopped().wait();     // or wait for on_stopped, before ~actor_system

#include <chrono>
#include <csignal>
#include <functional>
#include <future>
#include <memory>
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

  /// Releases the watcher of a tree still running, which then lives only as
  /// long as its start request (an application that goes away without
  /// stop() cannot stop the tree any more).
  ~application();
  application(application&&) noexcept = default;
  application& operator=(application&&) noexcept = default;

  /// Blocks SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 in the calling
  /// thread. Call before the
  /// actor_system is created so that every thread inherits the mask and only
  /// run() receives them.
  static void block_signals();

  /// Called on SIGHUP from run()'s thread (e.g. reload the config).
  void on_hangup(std::function<void()> fn) { on_hangup_ = std::move(fn); }

  /// Called on SIGUSR1 / SIGUSR2 from run()'s thread (e.g. dump the state,
  /// reopen log files). Without one, run() logs the signal and goes on: it
  /// never ends the process.
  void on_user1(std::function<void()> fn) { on_user1_ = std::move(fn); }
  void on_user2(std::function<void()> fn) { on_user2_ = std::move(fn); }

  /// Called once the tree has started, with the root supervisor: on run()'s
  /// thread under run(), on a CAF thread under start() (so it must not block
  /// on the actor system there).
  void on_started(std::function<void(const caf::actor&)> fn) {
    on_started_ = std::move(fn);
  }

  /// Called once, on a CAF thread, when the tree started by start() is gone:
  /// stopped, ended by itself, or failed to start (exit code 2), before
  /// stopped() is ready. Must not block on the actor system. Set it before
  /// start().
  void on_stopped(std::function<void(const run_outcome&)> fn) {
    on_stopped_ = std::move(fn);
  }

  /// Starts the tree and returns at once: spawns the root supervisor and an
  /// actor that watches it. Leaves the process's signals alone. The start
  /// itself is reported by started() and on_started; a failed start ends
  /// the run with exit code 2 (stopped(), on_stopped). A start that takes
  /// longer than `start_timeout` fails with sec::request_timeout and the
  /// tree is killed. Fails only if this application is still running.
  caf::error
  start(caf::actor_system& sys,
        std::chrono::milliseconds start_timeout = std::chrono::seconds(30));

  /// Asks the started tree to stop, in reverse start order, and returns at
  /// once. If it is not gone `deadline` after this call, it is killed and
  /// the outcome is exit code 1 (errc::shutting_down, "deadline passed").
  /// Safe from any thread (though not while start() runs on another), and
  /// to call again (later calls do nothing); does nothing before start()
  /// or once the tree is gone.
  void stop(std::chrono::milliseconds deadline = std::chrono::seconds(10));

  /// Ready once the tree has started (the root supervisor) or failed to
  /// start (the error). Valid after start().
  std::shared_future<caf::expected<caf::actor>> started() const;

  /// Ready once the tree is gone, with the outcome also given to
  /// on_stopped. Valid after start(). Wait for it (or for on_stopped) before
  /// the actor_system goes away: ~actor_system waits for the tree.
  std::shared_future<run_outcome> stopped() const;

  /// Starts the tree and blocks until a signal or the root's end, then shuts
  /// down in order. If the tree is not gone `deadline` after the stop began,
  /// it is killed and run() reports exit code 1. start(), then stop() on
  /// SIGTERM, SIGINT or request_stop(); refused (exit code 2,
  /// errc::would_deadlock) on an actor's thread or under the test scheduler.
  run_outcome
  run(caf::actor_system& sys,
      std::chrono::milliseconds deadline = std::chrono::seconds(10));

  /// Ask a running application to stop, as SIGTERM does (thread-safe).
  static void request_stop();

  const std::string& name() const noexcept { return name_; }

  /// What start() and its watcher share (application.cpp).
  struct running;

private:
  caf::error launch(caf::actor_system& sys,
                    std::chrono::milliseconds start_timeout,
                    bool call_on_started);

  std::string name_;
  supervisor_flags flags_;
  std::vector<child_spec> children_;
  std::function<void()> on_hangup_;
  std::function<void()> on_user1_;
  std::function<void()> on_user2_;
  std::function<void(const caf::actor&)> on_started_;
  std::function<void(const run_outcome&)> on_stopped_;
  std::shared_ptr<running> running_;
};

} // namespace castor
