// The install test's host program: uses only what `find_package(castor)`
// provides. It starts a supervisor with one worker, lists the children, dumps
// the tree, stops the supervisor and prints a marker the test looks for.

#include <chrono>
#include <iostream>
#include <string>

#include <caf/all.hpp>

#include "castor/actors/supervisor.hpp"
#include "castor/actors/supervisor_client.hpp"
#include "castor/actors/system_config.hpp"

namespace {

caf::behavior idle_worker(caf::event_based_actor*) {
  return {
    [](const std::string& x) { return x; },
  };
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  castor::configure(cfg);
  caf::actor_system sys{cfg};

  castor::supervisor_flags flags;
  flags.name = "host-sup";
  auto sup = castor::start_supervisor(sys, flags,
                                      {castor::worker("worker", idle_worker)});
  if (!sup) {
    std::cerr << "start_supervisor failed: " << sys.render(sup.error()) << '\n';
    return 1;
  }

  castor::supervisor_client client{sys, *sup};
  auto children = client.which_children();
  if (!children) {
    std::cerr << "which_children failed: " << sys.render(children.error())
              << '\n';
    return 1;
  }
  std::cout << "children:";
  for (auto& child : *children)
    std::cout << ' ' << child.id << '=' << child.state;
  std::cout << '\n';

  auto json = client.tree_json(2);
  if (!json) {
    std::cerr << "tree_json failed: " << sys.render(json.error()) << '\n';
    return 1;
  }
  std::cout << *json << '\n';

  // Stop the supervisor and wait until it is gone, so that the actor system
  // shuts down with nothing left running.
  caf::scoped_actor self{sys};
  self->monitor(*sup);
  self->send_exit(*sup, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds(10)) >> [] {});
  if (!down) {
    std::cerr << "supervisor did not stop within 10 s\n";
    return 1;
  }
  std::cout << "castor-install-test: ok\n";
  return 0;
}
