#include "send_pacer.hpp"

#include <algorithm>
#include <cmath>

namespace castor::tools {

send_pacer::send_pacer(double rate_pps, uint64_t start_ns, unsigned max_batch,
                       uint64_t min_gap_ns) noexcept
    : rate_(rate_pps > 0 ? rate_pps : 0), start_(start_ns),
      max_batch_(std::max(1u, max_batch)), batch_(1) {
  if (rate_ > 0) {
    auto per_gap =
      static_cast<uint64_t>(rate_ * 1e-9 * static_cast<double>(min_gap_ns));
    batch_ = std::clamp<uint64_t>(per_gap, 1, max_batch_);
  }
}

unsigned send_pacer::allowed(uint64_t now_ns, uint64_t sent) const noexcept {
  if (rate_ <= 0)
    return max_batch_;
  if (now_ns < start_)
    return 0;
  // Multiply before dividing: whole numbers of ns times a whole rate stay
  // exact in a double, so a batch that is due is not missed by a rounding.
  auto due = static_cast<uint64_t>(
               std::floor(static_cast<double>(now_ns - start_) * rate_ / 1e9))
             + 1;
  if (due <= sent)
    return 0;
  return static_cast<unsigned>(std::min<uint64_t>(due - sent, max_batch_));
}

uint64_t send_pacer::wake_at(uint64_t sent) const noexcept {
  if (rate_ <= 0)
    return start_;
  // allowed() reaches sent + batch_ once floor(elapsed * rate) + 1 >=
  // sent + batch_, i.e. at elapsed = (sent + batch_ - 1) / rate.
  auto ns = static_cast<double>(sent + batch_ - 1) * 1e9 / rate_;
  return start_ + static_cast<uint64_t>(std::ceil(ns));
}

} // namespace castor::tools
