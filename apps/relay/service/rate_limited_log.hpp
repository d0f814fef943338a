#pragma once

// Warnings that a peer or the traffic can trigger at will (a datagram, a
// control client) must not flood the log: a token bucket lets a burst of
// them through, then `rate` per second, counts what it holds back and says
// "N similar messages suppressed" with the next one it lets through.
//
//   rate_limited_log limit{"control", 1.0, 10};   // 10 at once, then 1/s
//   limit.warn("client {} misbehaves", id);

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

namespace castor::relay {

/// The bucket alone, with the clock given, so that tests need not sleep.
class token_bucket {
public:
  using clock = std::chrono::steady_clock;

  /// `rate` tokens per second, at most `burst` (>= 1) saved up; full at
  /// the start.
  token_bucket(double rate, unsigned burst);

  /// Takes a token if there is one at `now`.
  bool take(clock::time_point now);

private:
  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_{};
  bool started_ = false;
};

/// A token bucket in front of one component's logger (logging.hpp).
/// Thread-safe: callers on several threads may share one.
class rate_limited_log {
public:
  using clock = token_bucket::clock;

  rate_limited_log(std::string component, double rate, unsigned burst);

  /// Logs at `level` if the bucket allows at `now`, after a line with the
  /// count of messages suppressed since the last one that passed. Returns
  /// whether it logged.
  template <class... Args>
  bool log_at(clock::time_point now, spdlog::level::level_enum level,
              spdlog::format_string_t<Args...> fmt, Args&&... args) {
    uint64_t held_back = 0;
    if (!admit(now, held_back))
      return false;
    auto lg = logger();
    if (held_back > 0)
      lg->log(level, "{} similar messages suppressed", held_back);
    lg->log(level, fmt, std::forward<Args>(args)...);
    return true;
  }

  template <class... Args>
  bool warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    return log_at(clock::now(), spdlog::level::warn, fmt,
                  std::forward<Args>(args)...);
  }

  template <class... Args>
  bool error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    return log_at(clock::now(), spdlog::level::err, fmt,
                  std::forward<Args>(args)...);
  }

  /// Messages held back since the last one that passed.
  uint64_t suppressed() const;

private:
  bool admit(clock::time_point now, uint64_t& held_back);
  std::shared_ptr<spdlog::logger> logger() const;

  std::string component_;
  mutable std::mutex mtx_;
  token_bucket bucket_;
  uint64_t suppressed_ = 0;
};

} // namespace castor::relay
