#pragma once

// What a supervised publisher or subscriber shows of itself: the running
// actor (to send it messages) and how often it started. Safe from any
// thread.

#include <chrono>
#include <condition_variable>
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

  /// The running actor, waiting up to `timeout` for the first start. The
  /// supervisor counts a child started once it is spawned, and the actor
  /// records itself in its first step, a moment later: right after an
  /// application or supervisor start, actor() may still be invalid.
  caf::actor wait_actor(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait_for(lock, timeout, [this] { return starts_ > 0; });
    return caf::actor_cast<caf::actor>(actor_);
  }

  /// Records a start by `a`; returns the number of this start (from 1).
  uint32_t started(const caf::actor_addr& a) {
    uint32_t n;
    {
      std::lock_guard<std::mutex> lock{mtx_};
      actor_ = a;
      n = ++starts_;
    }
    cv_.notify_all();
    return n;
  }

private:
  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  caf::actor_addr actor_;
  uint32_t starts_ = 0;
};

} // namespace castor::bus
