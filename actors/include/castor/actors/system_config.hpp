#pragma once

// An actor_system_config with settings that suit castor, built in code: CAF's
// own config file (caf-application.ini) and CLI are never read, so a stray
// file in the working directory cannot change a daemon's behaviour.

#include <cstddef>

#include <caf/actor_system_config.hpp>

namespace castor {

struct runtime_options {
  /// CAF scheduler threads. 0 means: cores minus `reserved_threads`, at
  /// least 1. CAF's own default (max(4, cores)) oversubscribes small boxes.
  size_t scheduler_threads = 0;
  /// Threads the program keeps for itself (e.g. I/O shards).
  size_t reserved_threads = 0;
  /// Messages an actor handles before yielding its thread.
  size_t max_throughput = 300;
};

/// Applies `opts` to `cfg` and registers castor's error category so that
/// `sys.render(err)` prints castor errors by name. Also marks the threads the
/// system starts, so that the blocking facades (supervisor_client,
/// registry_client, start_supervisor) called from an actor's handler fail
/// with errc::would_deadlock instead of stalling a scheduler thread.
void configure(caf::actor_system_config& cfg, const runtime_options& opts = {});

} // namespace castor
