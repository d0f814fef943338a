#pragma once

// The {active, ...} state machine that gen_udp and gen_tcp share, kept in
// one place so that UDP and TCP sockets cannot drift apart on its edge
// cases: {active, N} adds to the counter (negative N subtracts), the socket
// turns passive with a notice when the counter reaches 0, and {active,
// once} turns passive after one delivery, without a notice.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "castor/net/active_mode.hpp"

namespace castor::net::detail {

class active_state {
public:
  using kind = active_mode::kind;

  /// gen_udp's and gen_tcp's range for the {active, N} counter.
  static constexpr int32_t max_count = 32767;
  static constexpr int32_t min_step = -32768;

  /// What a {active, N} request did.
  enum class count_result {
    refused, ///< N or the new counter out of range: nothing changed
    passive, ///< the counter reached 0: passive now, notify the owner
    counted, ///< counting now
  };

  /// The initial mode; a counted mode with N <= 0 starts passive, as a
  /// later {active, N} from 0 would leave it.
  explicit active_state(const active_mode& initial) {
    if (initial.mode == kind::counted) {
      count_ = std::max(0, initial.count);
      mode_ = count_ > 0 ? kind::counted : kind::passive;
    } else {
      mode_ = initial.mode;
    }
  }

  kind mode() const { return mode_; }
  bool passive() const { return mode_ == kind::passive; }

  /// {active, false | once | true}: a counter that was left is dropped.
  void set(kind m) {
    if (m != kind::counted)
      count_ = 0;
    mode_ = m;
  }

  /// {active, N}: adds N to the counter (to 0 if not counting).
  count_result add(int32_t n) {
    int64_t base = mode_ == kind::counted ? count_ : 0;
    int64_t next = base + n;
    if (n < min_step || next > max_count)
      return count_result::refused;
    count_ = static_cast<int32_t>(std::max<int64_t>(0, next));
    if (count_ == 0) {
      mode_ = kind::passive;
      return count_result::passive;
    }
    mode_ = kind::counted;
    return count_result::counted;
  }

  /// How many items the owner may get now, at most `cap`; 0 when passive.
  size_t budget(size_t cap) const {
    switch (mode_) {
    case kind::once:
      return std::min<size_t>(cap, 1);
    case kind::counted:
      return std::min(cap, static_cast<size_t>(count_));
    case kind::always:
      return cap;
    case kind::passive:
      break;
    }
    return 0;
  }

  /// Accounts for `n` items just delivered to the owner. True if the
  /// counter ran out: the socket is passive now and the owner must get the
  /// passive notice.
  bool delivered(size_t n) {
    if (mode_ == kind::once) {
      mode_ = kind::passive;
    } else if (mode_ == kind::counted) {
      count_ -= static_cast<int32_t>(std::min<size_t>(n, count_));
      if (count_ == 0) {
        mode_ = kind::passive;
        return true;
      }
    }
    return false;
  }

private:
  kind mode_ = kind::passive;
  int32_t count_ = 0;
};

} // namespace castor::net::detail
