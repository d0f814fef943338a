#include "service/rate_limited_log.hpp"

#include <algorithm>

#include "service/logging.hpp"

namespace castor::relay {

token_bucket::token_bucket(double rate, unsigned burst)
    : rate_(rate), burst_(static_cast<double>(std::max(1u, burst))),
      tokens_(burst_) {}

bool token_bucket::take(clock::time_point now) {
  if (started_ && now > last_) {
    const std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
  }
  // A clock that goes back (it cannot, being steady, but tests may pass
  // any time) only refills nothing.
  if (!started_ || now > last_)
    last_ = now;
  started_ = true;
  if (tokens_ < 1.0)
    return false;
  tokens_ -= 1.0;
  return true;
}

rate_limited_log::rate_limited_log(std::string component, double rate,
                                   unsigned burst)
    : component_(std::move(component)), bucket_(rate, burst) {}

bool rate_limited_log::admit(clock::time_point now, uint64_t& held_back) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!bucket_.take(now)) {
    ++suppressed_;
    return false;
  }
  held_back = suppressed_;
  suppressed_ = 0;
  return true;
}

uint64_t rate_limited_log::suppressed() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return suppressed_;
}

std::shared_ptr<spdlog::logger> rate_limited_log::logger() const {
  // Looked up per message, not kept: init_logging may replace the loggers.
  return component_logger(component_);
}

} // namespace castor::relay
