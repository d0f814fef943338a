#include "castor/actors/system_config.hpp"

#include <algorithm>
#include <thread>

#include "blocking_request.hpp"

#include "castor/actors/errors.hpp"

namespace castor {

void configure(caf::actor_system_config& cfg, const runtime_options& opts) {
  auto threads = opts.scheduler_threads;
  if (threads == 0) {
    size_t cores = std::max(1u, std::thread::hardware_concurrency());
    threads = cores > opts.reserved_threads ? cores - opts.reserved_threads : 1;
  }
  cfg.set("scheduler.max-threads", threads);
  cfg.set("scheduler.max-throughput", opts.max_throughput);
  if (opts.moderate_poll_attempts)
    cfg.set("work-stealing.moderate-poll-attempts",
            *opts.moderate_poll_attempts);
  if (opts.relaxed_sleep)
    cfg.set("work-stealing.relaxed-sleep-duration", *opts.relaxed_sleep);
  install_error_renderers(cfg);
  detail::install_blocking_guard(cfg);
}

} // namespace castor
