#pragma once

// What pub and sub share: an actor system, io shards, and an application
// running one child, started and stopped from main's thread; and SIGINT /
// SIGTERM as a flag that main's loops poll, so that they stop in order and
// print their summary.

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>

#include "castor/actors/application.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/net/io_shards.hpp"

namespace castor_bus_cli {

inline std::atomic<bool>& stop_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

inline void on_stop_signal(int) {
  stop_requested() = true;
}

/// Sleeps `d` in short steps; false if a stop was requested meanwhile.
inline bool nap(std::chrono::steady_clock::duration d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop_requested())
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return !stop_requested();
}

class bus_host {
public:
  bus_host() : sys_(configured()), shards_(castor::net::io_shards_options{1}) {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
  }

  ~bus_host() {
    if (app_) {
      app_->stop(std::chrono::seconds(5));
      app_->stopped().wait();
    }
    shards_.stop();
  }

  caf::actor_system& sys() { return sys_; }
  castor::net::io_shards& shards() { return shards_; }

  /// Starts `spec` under a one-child application; false (and a message)
  /// if it failed.
  bool start(const std::string& name, castor::child_spec spec) {
    app_.emplace(name, castor::supervisor_flags{},
                 std::vector{std::move(spec)});
    if (auto err = app_->start(sys_)) {
      std::cerr << "castor-bus: " << sys_.render(err) << '\n';
      return false;
    }
    auto root = app_->started().get();
    if (!root) {
      std::cerr << "castor-bus: " << sys_.render(root.error()) << '\n';
      return false;
    }
    return true;
  }

private:
  static caf::actor_system_config& configured() {
    static caf::actor_system_config cfg;
    castor::configure(cfg);
    // pub and sub run a handful of actors that get a message every few
    // hundred microseconds from the io thread. CAF's default work stealing
    // makes an idle worker poll (spinning, then waking every 50 us for
    // 25 ms), which bench/bus measured as the largest share of both
    // processes' CPU; work sharing parks idle workers on a condition
    // variable instead.
    cfg.set("scheduler.policy", caf::atom("sharing"));
    return cfg;
  }

  caf::actor_system sys_;
  castor::net::io_shards shards_;
  std::optional<castor::application> app_;
};

} // namespace castor_bus_cli
