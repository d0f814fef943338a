#pragma once

// A token bucket in bytes on the bus's clock (plain C++17, no CAF): the
// repair rate limit of publisher_core and the publisher's send rate limit
// (PGM's TXW_MAX_RTE) both draw on one. Tokens refill at `rate` bytes/s up
// to `burst`; a bucket with rate 0 is unlimited. Time is an argument, so
// the unit tests run it on a virtual clock.

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace castor::bus {

using bus_clock = std::chrono::steady_clock;
using time_point = bus_clock::time_point;
using duration = bus_clock::duration;

class token_bucket {
public:
  /// Unlimited.
  token_bucket() = default;

  /// `rate` bytes/s (0: unlimited), at most `burst` at once; starts full.
  token_bucket(uint64_t rate, uint64_t burst, time_point now)
      : rate_(rate), burst_(static_cast<double>(burst)), tokens_(burst_),
        refilled_(now) {}

  bool limited() const noexcept { return rate_ > 0; }
  uint64_t rate() const noexcept { return rate_; }

  /// Takes `bytes` if the bucket holds that many now; false (and nothing
  /// taken) otherwise. A request larger than the burst never succeeds:
  /// make the burst at least the largest datagram.
  bool take(uint64_t bytes, time_point now) noexcept {
    if (rate_ == 0)
      return true;
    refill(now);
    auto want = static_cast<double>(bytes);
    if (tokens_ < want)
      return false;
    tokens_ -= want;
    return true;
  }

  /// When the bucket will hold `bytes` (`now` if it does already).
  time_point ready_at(uint64_t bytes, time_point now) noexcept {
    if (rate_ == 0)
      return now;
    refill(now);
    auto want = std::min(static_cast<double>(bytes), burst_);
    if (tokens_ >= want)
      return now;
    auto secs = (want - tokens_) / static_cast<double>(rate_);
    // Rounded up, so that the bucket does hold them at that time.
    return now
           + std::chrono::ceil<duration>(std::chrono::duration<double>(secs));
  }

private:
  void refill(time_point now) noexcept {
    if (now <= refilled_)
      return;
    auto secs = std::chrono::duration<double>(now - refilled_).count();
    tokens_ = std::min(burst_, tokens_ + secs * static_cast<double>(rate_));
    refilled_ = now;
  }

  uint64_t rate_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  time_point refilled_;
};

} // namespace castor::bus
