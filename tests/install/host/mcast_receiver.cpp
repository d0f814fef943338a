// The README's embedding example, compiled against the installed package so
// that it cannot drift from the API: a supervised multicast receiver with
// gen_udp's {active, N}. install_test.sh builds it; it is not run (it waits
// for SIGTERM).
#include <iostream>

#include "castor/actors/application.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/net/udp_child.hpp"
#include "castor/net/udp_credit.hpp"

using namespace castor;
using namespace castor::net;

int main() {
  application::block_signals(); // before any thread: run() takes the signals
  caf::actor_system_config cfg;
  configure(cfg);
  caf::actor_system sys{cfg};
  io_shards shards; // the spec holds a reference that outlives it safely
  udp_child_options rx;
  rx.socket.local = {boost::asio::ip::address_v4::any(), 5001};
  rx.socket.active = active_mode::counted(64); // {active, 64}
  rx.socket.memberships = {multicast_membership::any_source(
    boost::asio::ip::make_address_v4("239.1.1.1"),
    interface_ref::by_name("eth0"))};
  auto child = make_udp_socket(
    "rx", shards, rx, [](caf::event_based_actor* self, const udp_socket& s) {
      return caf::behavior{
        [self, credit = udp_credit{s, 64}](udp_atom,
                                           const udp_batch& b) mutable {
          for (auto d : b.datagrams())
            std::cout << d.text() << '\n';
          credit.consumed(self, b.size()); // grants credit back as it goes
        },
        [](udp_passive_atom) {}}; // only when we fell a whole window behind
    });
  application app{"rx", {}, {child.spec}};
  return app.run(sys).exit_code; // SIGTERM stops the tree in order
}
