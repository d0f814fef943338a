#include "restart_budget.hpp"

#include <algorithm>
#include <cmath>

namespace castor::detail {

restart_budget::restart_budget(int intensity, std::chrono::milliseconds period)
    : intensity_(intensity), period_(period) {
  // nop
}

bool restart_budget::add_restart(steady_time now, steady_time effective) {
  log_.push_back(std::max(now, effective));
  // Effective times are not monotonic (delays differ), so prune them all.
  log_.erase(std::remove_if(log_.begin(), log_.end(),
                            [&](steady_time t) { return now - t >= period_; }),
             log_.end());
  return static_cast<int>(log_.size()) <= intensity_;
}

std::chrono::milliseconds restart_backoff::next_delay(const backoff_spec& spec,
                                                      steady_time now) {
  if (!spec.enabled())
    return std::chrono::milliseconds{0};
  if (now - started_at_ >= spec.reset_after)
    level_ = 0;
  auto level = level_++;
  auto factor = std::pow(spec.multiplier, level);
  auto delay = static_cast<double>(spec.initial.count()) * factor;
  auto cap = static_cast<double>(std::max(spec.max, spec.initial).count());
  return std::chrono::milliseconds{static_cast<int64_t>(std::min(delay, cap))};
}

} // namespace castor::detail
