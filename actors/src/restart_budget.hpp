#pragma once

// How often a supervisor may restart, and how long a restart waits: OTP's
// restart intensity and castor's backoff, as plain C++ on time points that
// the caller reads from its clock (the actor clock, or a test's).

#include <chrono>
#include <cstdint>
#include <deque>

#include "castor/actors/backoff_spec.hpp"

namespace castor::detail {

using steady_time = std::chrono::steady_clock::time_point;

/// OTP's add_restart: at most `intensity` restarts within any `period`.
class restart_budget {
public:
  restart_budget(int intensity, std::chrono::milliseconds period);

  /// Records a restart decided at `now` that takes effect at `effective`
  /// (later than now when a backoff delays it), and forgets restarts that
  /// took effect a `period` or more before `now`. False when the restarts
  /// left are more than `intensity`: the supervisor gives up.
  ///
  /// Counting a delayed restart from when it takes effect keeps escalation
  /// working with a backoff at or above `period`: otherwise each restart
  /// would have left the window by the time the child can fail again, and
  /// a child that fails right after every restart would never escalate.
  bool add_restart(steady_time now, steady_time effective);

  /// A restart that takes effect at once.
  bool add_restart(steady_time now) { return add_restart(now, now); }

  /// Restarts recorded within the last period, as of the last add_restart.
  size_t recent() const noexcept { return log_.size(); }

private:
  int intensity_;
  std::chrono::milliseconds period_;
  std::deque<steady_time> log_;
};

/// The backoff of one child: how many restarts in a row it has had, and when
/// it last started.
class restart_backoff {
public:
  /// The child (re)started at `now`.
  void started(steady_time now) noexcept { started_at_ = now; }

  /// The delay before the next restart under `spec`, as of `now`; zero when
  /// the backoff is disabled. A child that ran for `spec.reset_after` or
  /// longer since its last start counts as fresh again.
  std::chrono::milliseconds next_delay(const backoff_spec& spec,
                                       steady_time now);

  /// Consecutive delayed restarts so far.
  uint32_t level() const noexcept { return level_; }

private:
  uint32_t level_ = 0;
  steady_time started_at_;
};

} // namespace castor::detail
