#pragma once

// The restart backoff of a supervisor, on its own so that code without CAF
// (the restart budget and its tests) can use it.

#include <chrono>

namespace castor {

/// Exponential restart backoff, which OTP lacks: the n-th consecutive restart
/// of a child waits min(initial * multiplier^(n-1), max). The count resets
/// when the child has run for `reset_after` without crashing. Disabled when
/// `initial` is zero (OTP behaviour: restart at once).
struct backoff_spec {
  std::chrono::milliseconds initial{0};
  std::chrono::milliseconds max{0};
  double multiplier = 2.0;
  std::chrono::milliseconds reset_after{10000};

  bool enabled() const noexcept { return initial.count() > 0; }
};

} // namespace castor
