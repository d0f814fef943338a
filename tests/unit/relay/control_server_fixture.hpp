#pragma once

// The control server tests' fixture (control_server_test.cpp and
// control_server_limits_test.cpp): a real actor system and io thread, a
// handler whose commands answer at once, later or never, and the server on
// a socket in a temporary directory.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actor_io_env.hpp"
#include "control/control_server.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"
#include "castor/actors/supervisor_client.hpp"

namespace castor::relay::test {

using release_atom = caf::atom_constant<caf::atom("release")>;
using held_atom = caf::atom_constant<caf::atom("held")>;

// -- a handler with commands that answer at once, later, or never ----------

struct handler_state {
  // reload: answered on release_atom.
  std::vector<caf::response_promise> held;
  // (held_atom, n) requests waiting for n reloads to be held.
  std::vector<std::pair<size_t, caf::response_promise>> held_waiters;
  // tree: never answered (kept so that no broken-promise error is sent).
  std::vector<caf::response_promise> never;
  static inline const char* name = "test_handler";
};

/// ping -> pong; remove -> error; stats -> `blob_size` bytes of data;
/// reload -> held until release_atom; tree -> never; others -> {"cmd":..}.
/// (held_atom, n) answers once n reloads are held, so that a test releases
/// them only after they have arrived, whatever the threads' timing.
inline caf::behavior test_handler(caf::stateful_actor<handler_state>* self,
                                  size_t blob_size) {
  auto notify_waiters = [self] {
    auto& ws = self->state.held_waiters;
    for (auto i = ws.begin(); i != ws.end();)
      if (self->state.held.size() >= i->first) {
        i->second.deliver(true);
        i = ws.erase(i);
      } else {
        ++i;
      }
  };
  return {
    [self, blob_size, notify_waiters](control_atom, control::request& req) {
      auto rp = self->make_response_promise();
      auto& c = req.command;
      if (std::holds_alternative<control::ping_cmd>(c))
        rp.deliver(control::make_ok({{"pong", true}}));
      else if (auto* rm = std::get_if<control::remove_cmd>(&c))
        rp.deliver(control::make_error("no rule named '" + rm->name + "'"));
      else if (std::holds_alternative<control::stats_cmd>(c))
        rp.deliver(control::make_ok({{"blob", std::string(blob_size, 'x')}}));
      else if (std::holds_alternative<control::reload_cmd>(c)) {
        self->state.held.push_back(rp);
        notify_waiters();
      } else if (std::holds_alternative<control::tree_cmd>(c))
        self->state.never.push_back(rp);
      else
        rp.deliver(control::make_ok({{"cmd", control::command_name(req)}}));
      return rp;
    },
    [self](release_atom) {
      for (auto& rp : self->state.held)
        rp.deliver(control::make_ok({{"reloaded", true}}));
      self->state.held.clear();
    },
    [self, notify_waiters](held_atom, size_t n) {
      auto rp = self->make_response_promise();
      self->state.held_waiters.emplace_back(n, rp);
      notify_waiters();
      return rp;
    },
  };
}

inline const std::string ping = R"({"cmd":"ping"})";
inline const std::string pong = R"({"ok":true,"pong":true})";

struct control_server_fixture : ::testing::Test, actor_io_env {
  temp_dir dir;
  std::string path = dir.path() + "/run/castor/relay.sock";
  caf::actor handler;
  caf::actor server;
  std::vector<caf::actor> extra; // more actors to stop at the end

  ~control_server_fixture() override {
    stop(server);
    stop(handler);
    for (auto& x : extra)
      stop(x);
  }

  void stop(caf::actor& x) {
    if (!x)
      return;
    caf::scoped_actor self{*sys};
    self->send_exit(x, caf::exit_reason::user_shutdown);
    self->wait_for(x);
    x = nullptr;
  }

  control_server_options options() {
    control_server_options opts;
    opts.socket_path = path;
    return opts;
  }

  void start(control_server_options opts, size_t blob_size = 16) {
    handler = sys->spawn(test_handler, blob_size);
    auto res =
      start_control_server(*sys, io, fixed_handler(handler), std::move(opts));
    ASSERT_TRUE(res) << sys->render(res.error());
    server = *res;
  }

  void start() { start(options()); }

  uint64_t clients() {
    caf::scoped_actor self{*sys};
    uint64_t n = 0;
    self->request(server, caf::infinite, control_clients_atom::value)
      .receive([&](uint64_t x) { n = x; },
               [&](caf::error& err) { ADD_FAILURE() << sys->render(err); });
    return n;
  }

  /// Returns once the handler holds `n` reload requests.
  void wait_held(size_t n) {
    caf::scoped_actor self{*sys};
    self->request(handler, caf::infinite, held_atom::value, n)
      .receive([](bool) {},
               [&](caf::error& err) { ADD_FAILURE() << sys->render(err); });
  }

  void release_held() { caf::anon_send(handler, release_atom::value); }

  /// Waits until `pred` holds. The guard only keeps a broken server from
  /// hanging the test; passing never depends on how long it took.
  template <class Pred>
  bool eventually(Pred pred,
                  std::chrono::seconds guard = std::chrono::seconds{30}) {
    auto give_up = std::chrono::steady_clock::now() + guard;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > give_up)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
    return true;
  }
};

} // namespace castor::relay::test
