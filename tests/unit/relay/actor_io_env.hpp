#pragma once

// What the control server runs on in the daemon, for tests that drive it
// through its socket: a real actor system (castor's settings, 2 scheduler
// threads) and an io_context run by a thread of its own. Tests derive from
// it; their destructors stop their actors first, then this tears down the io
// thread and the system in that order (the server's connections live on the
// io thread and must not outlive it).

#include <memory>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "castor/actors/system_config.hpp"

namespace castor::relay::test {

struct actor_io_env {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  boost::asio::io_context io;
  // Keeps io.run() from returning while no socket has work.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>
    guard{io.get_executor()};
  std::thread io_thread;

  actor_io_env() {
    castor::configure(cfg, castor::runtime_options{2, 0, 300});
    sys = std::make_unique<caf::actor_system>(cfg);
    io_thread = std::thread{[this] { io.run(); }};
  }

  ~actor_io_env() {
    guard.reset();
    io.stop();
    io_thread.join();
    sys.reset();
  }

  actor_io_env(const actor_io_env&) = delete;
  actor_io_env& operator=(const actor_io_env&) = delete;
};

} // namespace castor::relay::test
