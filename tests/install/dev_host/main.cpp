// castor-dev's smallest user: built on a clean bookworm root by
// tests/install/deb_install.sh twice, once with find_package(castor)
// (CMakeLists.txt here) and once with `pkg-config --cflags --libs castor`.
// Starts an application whose tree holds one worker, then a supervised
// io shard set (castor::net), stops it and prints a marker.

#include <chrono>
#include <iostream>

#include <caf/all.hpp>

#include "castor/actors/application.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/net/io_shards.hpp"

namespace {

caf::behavior echo(caf::event_based_actor*) {
  return {
    [](int x) { return x; },
  };
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  castor::configure(cfg);
  caf::actor_system sys{cfg};
  castor::net::io_shards shards{castor::net::io_shards_options{}};
  castor::supervisor_flags flags;
  flags.name = "dev-host";
  castor::application app{"dev-host", flags, {castor::worker("echo", echo)}};
  if (auto err = app.start(sys)) {
    std::cerr << "start: " << caf::to_string(err) << "\n";
    return 1;
  }
  if (!app.started().get()) {
    std::cerr << "the tree did not start\n";
    return 1;
  }
  app.stop(std::chrono::seconds{5});
  auto out = app.stopped().get();
  shards.stop();
  std::cout << "castor-dev-host: ok, exit code " << out.exit_code << "\n";
  return out.exit_code;
}
