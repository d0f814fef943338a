// The install test's host program: uses only what `find_package(castor)`
// provides. A host that owns its main thread: it starts an application (a
// worker and a supervised UDP receiver on io shards) without blocking and
// without giving up its signals, lists the children and dumps the tree with
// the blocking client, sends the receiver a datagram, stops the application
// with a deadline and prints a marker the test looks for.

#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "receiver.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/application.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/actors/supervisor_client.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/net/io_shards.hpp"

namespace {

caf::behavior idle_worker(caf::event_based_actor*) {
  return {
    [](const std::string& x) { return x; },
  };
}

int fail(const std::string& what) {
  std::cerr << what << '\n';
  return 1;
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  castor::configure(cfg);
  caf::actor_system sys{cfg};
  // Built after the actor system, stopped before it (sockets are actors).
  castor::net::io_shards shards{castor::net::io_shards_options{1}};

  castor::supervisor_flags flags;
  flags.name = "host-sup";
  castor::application app{
    "host",
    flags,
    {castor::worker("worker", idle_worker),
     castor::worker("rx", host::receiver, &shards, int32_t{8})}};
  app.on_stopped([](const castor::run_outcome& out) {
    std::cout << "on_stopped: exit code " << out.exit_code << '\n';
  });
  if (auto err = app.start(sys))
    return fail("start failed: " + sys.render(err));
  // start() returned at once; this host chooses to wait for the tree here.
  auto root = app.started().get();
  if (!root)
    return fail("the tree failed to start: " + sys.render(root.error()));

  castor::supervisor_client client{sys, *root};
  auto children = client.which_children();
  if (!children)
    return fail("which_children failed: " + sys.render(children.error()));
  caf::actor rx;
  std::cout << "children:";
  for (auto& child : *children) {
    std::cout << ' ' << child.id << '=' << child.state;
    if (child.id == "rx")
      rx = child.handle;
  }
  std::cout << '\n';

  auto json = client.tree_json(2);
  if (!json)
    return fail("tree_json failed: " + sys.render(json.error()));
  std::cout << *json << '\n';

  // A datagram to the receiver, through its io shard's thread.
  caf::scoped_actor self{sys};
  castor::net::udp_endpoint ep;
  self->request(rx, std::chrono::seconds(5), castor::net::sockname_atom::value)
    .receive([&](castor::net::udp_endpoint& x) { ep = x; },
             [&](caf::error&) {});
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::sendto(fd, "hello", 5, 0, ep.data(), ep.size());
  ::close(fd);
  std::vector<std::string> got;
  for (int i = 0; i < 500 && got.empty(); ++i) { // at most ~5 s
    self->request(rx, std::chrono::seconds(5), caf::get_atom::value)
      .receive([&](std::vector<std::string>& x) { got = std::move(x); },
               [&](caf::error&) {});
    if (got.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::cout << "received: " << (got.empty() ? "nothing" : got.front()) << '\n';

  // Stop without blocking, then wait for the end before the system goes.
  app.stop(std::chrono::seconds(10));
  auto out = app.stopped().get();
  shards.stop();
  if (out.exit_code != 0)
    return fail("stopped with exit code " + std::to_string(out.exit_code));
  std::cout << "castor-install-test: ok\n";
  return 0;
}
