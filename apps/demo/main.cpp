// castor-demo: the main job of the README's command (a) until the relay
// exists. It shows the supervision runtime end to end on a real actor system:
//
//   root (one_for_one)
//   |-- registry            named-actor registry
//   `-- workers (one_for_one)
//       |-- worker-a
//       `-- worker-b
//
// It prints the tree as JSON, crashes worker-a, shows the supervisor
// restarting it (which_children before and after, with restart counts) and
// the registry dropping the dead instance's name, then stops the application
// and prints the order in which the actors ended. It checks what it shows:
// a missing restart or a wrong stop order makes it exit 1.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/all.hpp>

#include <unistd.h>

#include "castor/actors/application.hpp"
#include "castor/actors/errors.hpp"
#include "castor/actors/registry.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/actors/supervisor_client.hpp"
#include "castor/actors/system_config.hpp"

namespace {

using crash_atom = caf::atom_constant<caf::atom("crash")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;

using namespace std::chrono_literals;

// Lines come from the main thread, the demo thread and actors' exit hooks at
// once; one lock keeps them whole.
std::mutex out_mtx;

void say(const std::string& line) {
  std::lock_guard<std::mutex> guard{out_mtx};
  std::cout << line << std::endl;
}

// The order in which actors end during the final shutdown, as seen by exit
// hooks. Ends before the shutdown (the injected crash) are not recorded.
std::atomic<bool> shutting_down{false};
std::mutex stops_mtx;
std::vector<std::string> stops;

void note_stop(const std::string& who, const caf::error& reason) {
  if (shutting_down) {
    std::lock_guard<std::mutex> guard{stops_mtx};
    stops.push_back(who);
  }
  say("  [end] " + who + ": "
      + (reason ? castor::describe(reason) : std::string{"normal"}));
}

// Records `who`'s end. Attached from outside once the supervisor has linked
// the actor: CAF runs exit hooks newest first, so this one runs before the
// supervisor learns of the exit, and the recorded order is the real one.
void watch(const caf::actor& hdl, std::string who) {
  hdl->attach_functor(
    [who](const caf::error& reason) { note_stop(who, reason); });
}

caf::behavior demo_worker(caf::event_based_actor* self, std::string name) {
  return {
    [=](ping_atom) {
      return name + " (actor " + std::to_string(self->id()) + ") is alive";
    },
    [=](crash_atom) {
      // An abnormal exit, as an uncaught fault would give; the supervisor
      // sees it through the link.
      self->quit(caf::make_error(caf::sec::runtime_error, "injected fault"));
    },
  };
}

std::string pad(std::string x, size_t width) {
  x.resize(std::max(width, x.size() + 1), ' ');
  return x;
}

std::string children_table(const std::vector<castor::child_info>& rows) {
  std::string out =
    "    " + pad("id", 10) + pad("state", 12) + pad("restarts", 10) + "actor\n";
  for (auto& row : rows)
    out += "    " + pad(row.id, 10) + pad(row.state, 12)
           + pad(std::to_string(row.restarts), 10)
           + (row.handle ? std::to_string(row.handle.id()) : "-") + "\n";
  return out;
}

const castor::child_info*
find_child(const std::vector<castor::child_info>& rows, const std::string& id) {
  auto i =
    std::find_if(rows.begin(), rows.end(),
                 [&](const castor::child_info& x) { return x.id == id; });
  return i != rows.end() ? &*i : nullptr;
}

// Unwraps a blocking call's result or explains why the demo cannot go on.
template <class T>
bool get(caf::actor_system& sys, caf::expected<T> x, T& out, const char* what) {
  if (!x) {
    say(std::string{"demo: "} + what + " failed: " + sys.render(x.error()));
    return false;
  }
  out = std::move(*x);
  return true;
}

// Runs on its own thread while application::run() waits for the stop
// request. Returns whether everything it showed happened as expected.
bool walk_through(caf::actor_system& sys, const caf::actor& root) {
  const auto timeout = 2s;
  castor::supervisor_client root_client{sys, root, timeout};

  std::string json;
  if (!get(sys, root_client.tree_json(2), json, "tree_json"))
    return false;
  say("== supervision tree after start\n" + json);

  std::vector<castor::child_info> top;
  if (!get(sys, root_client.which_children(), top, "which_children(root)"))
    return false;
  auto reg_row = find_child(top, "registry");
  auto workers_row = find_child(top, "workers");
  if (reg_row == nullptr || workers_row == nullptr || !reg_row->handle
      || !workers_row->handle) {
    say("demo: root lacks a running registry or workers supervisor");
    return false;
  }
  watch(root, "root");
  watch(workers_row->handle, "workers");
  watch(reg_row->handle, "registry");

  castor::supervisor_client workers{sys, workers_row->handle, timeout};
  castor::registry_client registry{sys, reg_row->handle, timeout};

  std::vector<castor::child_info> before;
  if (!get(sys, workers.which_children(), before, "which_children"))
    return false;
  say("== workers: which_children before the crash\n" + children_table(before));
  auto old_a = find_child(before, "worker-a");
  if (old_a == nullptr || !old_a->handle) {
    say("demo: worker-a is not running");
    return false;
  }
  auto old_handle = old_a->handle;
  for (auto& row : before)
    if (row.handle)
      watch(row.handle, row.id);
  if (auto err = registry.register_name("worker-a", old_handle)) {
    say("demo: register worker-a failed: " + sys.render(err));
    return false;
  }
  say("== registered 'worker-a' -> actor " + std::to_string(old_handle.id()));

  say("== crashing worker-a");
  caf::anon_send(old_handle, crash_atom::value);

  // The restart is asynchronous: poll until the supervisor reports a new
  // instance. Bounded, so a broken restart ends the demo instead of hanging.
  std::vector<castor::child_info> after;
  const castor::child_info* new_a = nullptr;
  for (auto deadline = std::chrono::steady_clock::now() + 5s;;) {
    if (!get(sys, workers.which_children(), after, "which_children"))
      return false;
    new_a = find_child(after, "worker-a");
    if (new_a != nullptr && new_a->restarts >= 1 && new_a->handle
        && new_a->handle != old_handle)
      break;
    if (std::chrono::steady_clock::now() > deadline) {
      say("demo: worker-a was not restarted within 5 s\n"
          + children_table(after));
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  say("== workers: which_children after the crash\n" + children_table(after));
  auto new_handle = new_a->handle;
  watch(new_handle, "worker-a");

  // The replacement handles messages.
  caf::scoped_actor self{sys};
  bool alive = false;
  self->request(new_handle, timeout, ping_atom::value)
    .receive(
      [&](const std::string& reply) {
        say("== ping -> " + reply);
        alive = true;
      },
      [&](const caf::error& err) {
        say("demo: ping to the new worker-a failed: " + sys.render(err));
      });
  if (!alive)
    return false;

  // The registry monitors what it names and drops the dead instance by
  // itself; the name is then free for the new one.
  for (auto deadline = std::chrono::steady_clock::now() + 5s;;) {
    auto found = registry.whereis("worker-a");
    if (!found)
      break;
    if (std::chrono::steady_clock::now() > deadline) {
      say("demo: the registry still names the dead worker-a after 5 s");
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  say("== registry dropped 'worker-a' when its actor died");
  if (auto err = registry.register_name("worker-a", new_handle)) {
    say("demo: registering the new worker-a failed: " + sys.render(err));
    return false;
  }
  say("== registered 'worker-a' -> actor " + std::to_string(new_handle.id()));

  if (!get(sys, root_client.tree_json(2), json, "tree_json"))
    return false;
  say("== supervision tree after the restart\n" + json);
  return true;
}

} // namespace

int main(int argc, char** argv) {
  // --stop-by-signal: end with a real SIGTERM to this process instead of
  // application::request_stop(), so the test proves the signal path a
  // service manager uses.
  bool stop_by_signal = argc > 1 && std::string{argv[1]} == "--stop-by-signal";
  if (argc > 1 && !stop_by_signal) {
    std::fprintf(stderr, "usage: castor-demo [--stop-by-signal]\n");
    return 2;
  }
  // Before the actor system exists, so that its threads inherit the mask and
  // only application::run() sees SIGTERM/SIGINT.
  castor::application::block_signals();

  caf::actor_system_config cfg;
  castor::configure(cfg);
  caf::actor_system sys{cfg};

  castor::supervisor_flags root_flags;
  root_flags.name = "root";
  castor::supervisor_flags worker_flags;
  worker_flags.name = "workers";
  worker_flags.intensity = 3;
  worker_flags.period = 5s;

  castor::application app{
    "castor-demo",
    root_flags,
    {
      castor::registry_child("registry"),
      castor::supervisor_child(
        "workers", worker_flags,
        {castor::worker("worker-a", demo_worker, std::string{"worker-a"}),
         castor::worker("worker-b", demo_worker, std::string{"worker-b"})}),
    }};

  std::thread demo;
  std::atomic<bool> demo_ok{false};
  app.on_started([&](const caf::actor& root) {
    // The walk-through blocks on requests, so it gets its own thread instead
    // of holding up run(), which must stay free to see the stop request.
    demo = std::thread([&sys, &demo_ok, root, stop_by_signal] {
      demo_ok = walk_through(sys, root);
      say("== stopping the application (reverse start order)");
      shutting_down = true;
      if (stop_by_signal)
        ::kill(::getpid(), SIGTERM);
      else
        castor::application::request_stop();
    });
  });

  say("== starting application castor-demo");
  auto outcome = app.run(sys, 5s);
  if (demo.joinable())
    demo.join();

  std::vector<std::string> expected{"worker-b", "worker-a", "workers",
                                    "registry", "root"};
  std::string order;
  {
    std::lock_guard<std::mutex> guard{stops_mtx};
    for (auto& who : stops)
      order += (order.empty() ? "" : " -> ") + who;
    say("== stop order: " + order);
    if (stops != expected) {
      say("demo: expected stop order worker-b -> worker-a -> workers -> "
          "registry -> root");
      return 1;
    }
  }
  if (!demo_ok)
    return 1;
  if (outcome.exit_code != 0) {
    say("demo: application ended with exit code "
        + std::to_string(outcome.exit_code) + ": "
        + castor::describe(outcome.reason));
    return outcome.exit_code;
  }
  say("== done: clean shutdown");
  return 0;
}
