#pragma once

// An actor_system_config with settings that suit castor, built in code: CAF's
// own config file (caf-application.ini) and CLI are never read, so a stray
// file in the working directory cannot change a daemon's behaviour.

#include <cstddef>
#include <optional>

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

namespace castor {

struct runtime_options {
  /// CAF scheduler threads. 0 means: cores minus `reserved_threads`, at
  /// least 1. CAF's own default (max(4, cores)) oversubscribes small boxes.
  size_t scheduler_threads = 0;
  /// Threads the program keeps for itself (e.g. I/O shards).
  size_t reserved_threads = 0;
  /// Messages an actor handles before yielding its thread.
  size_t max_throughput = 300;
  /// An idle scheduler thread first spins (100 polls), then polls with a
  /// 50 us sleep between attempts (CAF's "moderate" phase, 500 attempts:
  /// some 25 ms of wake-ups after every message), then sleeps on a
  /// condition variable that an enqueue wakes at once. Fewer moderate
  /// attempts make a daemon whose actors only tick (once a second) nearly
  /// free when idle, at the cost of a futex wake-up for a message that
  /// arrives later than the spin: castor-relay, whose packets never go
  /// through the scheduler, takes 0. Empty: CAF's default.
  std::optional<size_t> moderate_poll_attempts{};
  /// How long an idle scheduler thread then sleeps on the condition
  /// variable before it wakes to look for work to steal (CAF: 10 ms). An
  /// enqueue wakes it at once; with one scheduler thread there is nothing
  /// to steal, and a longer sleep only saves wake-ups. Empty: CAF's.
  std::optional<caf::timespan> relaxed_sleep{};
};

/// Applies `opts` to `cfg` and registers castor's error category so that
/// `sys.render(err)` prints castor errors by name. Also marks the threads the
/// system starts, so that the blocking facades (supervisor_client,
/// registry_client, start_supervisor) called from an actor's handler fail
/// with errc::would_deadlock instead of stalling a scheduler thread.
void configure(caf::actor_system_config& cfg, const runtime_options& opts = {});

} // namespace castor
