#pragma once

// What a supervised publisher or subscriber shows of itself: the running
// actor (to send it messages) and how often it started. Safe from any
// thread.

#include <cstdint>
#include <mutex>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>

namespace castor::bus {

class child_info {
public:
  /// The running actor (invalid while none runs).
  caf::actor actor() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return caf::actor_cast<caf::actor>(actor_);
  }

  /// Starts so far.
  uint32_t starts() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return starts_;
  }

  /// Records a start by `a`; returns the number of this start (from 1).
  uint32_t started(const caf::actor_addr& a) {
    std::lock_guard<std::mutex> lock{mtx_};
    actor_ = a;
    return ++starts_;
  }

private:
  mutable std::mutex mtx_;
  caf::actor_addr actor_;
  uint32_t starts_ = 0;
};

} // namespace castor::bus
