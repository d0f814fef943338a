// The install test's node host: an embedder of castor::node from the
// installed package. Two plaintext nodes (insecure = true: the install test
// has no certificates) in one process: b publishes an actor, a connects to
// b, looks the actor up and asks it something.
#include <iostream>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "castor/actors/errors.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/node/node.hpp"

namespace {

struct box {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<castor::node::node> node;
};

bool make(box& b, const std::string& name) {
  castor::node::node_options opts;
  opts.name = name;
  opts.insecure = true;
  castor::configure(b.cfg);
  if (auto err = castor::node::configure(b.cfg, opts)) {
    std::cerr << castor::describe(err) << '\n';
    return false;
  }
  b.sys = std::make_unique<caf::actor_system>(b.cfg);
  b.node = std::make_unique<castor::node::node>(*b.sys, opts);
  return static_cast<bool>(b.node->start());
}

} // namespace

int main() {
  box a, b;
  if (!make(b, "b") || !make(a, "a"))
    return 1;
  auto greeter = b.sys->spawn([]() -> caf::behavior {
    return {[](const std::string& x) { return "hello " + x; }};
  });
  b.node->publish("greeter", greeter);
  caf::scoped_actor self{*a.sys};
  a.node->subscribe_node_events(caf::actor_cast<caf::actor>(self));
  a.node->connect({"b", "127.0.0.1", b.node->port()});
  bool up = false;
  self->receive(
    [&](castor::node::node_up_atom, const std::string&) { up = true; },
    caf::after(std::chrono::seconds(20)) >> [] {});
  auto remote = a.node->whereis("b", "greeter");
  std::string answer = "none";
  if (up && remote)
    self->request(*remote, std::chrono::seconds(20), std::string{"a"})
      .receive([&](const std::string& x) { answer = x; }, [&](caf::error&) {});
  std::cout << "node answer: " << answer << '\n';
  caf::anon_send_exit(greeter, caf::exit_reason::user_shutdown);
  a.node->stop();
  b.node->stop();
  if (answer != "hello a")
    return 1;
  std::cout << "castor-node-host: ok\n";
  return 0;
}
