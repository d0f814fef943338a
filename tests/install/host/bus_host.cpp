// A castor::bus embedder, built against the installed package: a
// supervised publisher and subscriber of one topic under an application,
// with the subscriber's messages going to an actor under {active, N}.
//
// install_test.sh runs it without arguments: it then builds the child
// specs (so the whole API links) and checks the protocol cores in-process,
// since the test must not send multicast outside a network namespace.
// With --run IFNAME [-6] it runs the bus for real until SIGTERM, over IPv6
// with -6 (the topic then maps into ff18::/96, docs/bus.md).
#include <iostream>
#include <string>
#include <thread>

#include "castor/actors/application.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/bus/message_pack.hpp"
#include "castor/bus/publisher.hpp"
#include "castor/bus/publisher_core.hpp"
#include "castor/bus/subscriber.hpp"
#include "castor/bus/subscriber_core.hpp"
#include "castor/net/atoms.hpp"

using namespace castor;

namespace {

// The user: prints what it gets and grants the credit back as it goes.
caf::behavior printer(caf::event_based_actor* self) {
  return {
    [self](bus::bus_atom, const bus::bus_delivery& d) {
      for (auto& m : d.messages)
        std::cout << d.topic << ": " << m.payload << '\n';
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 net::active_atom::value,
                 static_cast<int32_t>(d.messages.size()));
    },
    [](bus::bus_passive_atom) {},
    [](bus::bus_gap_atom, const bus::bus_gap& g) {
      std::cerr << g.topic << ": lost " << g.gap.first << ".." << g.gap.last
                << '\n';
    },
  };
}

// One message through publisher_core and subscriber_core.
bool cores_agree() {
  bus::publisher_config pc;
  pc.origin = 1;
  pc.session = 1;
  pc.topic_hash = bus::topic_hash("host.topic");
  bus::publisher_core pub{pc};
  bus::subscriber_config sc;
  sc.topic_hash = pc.topic_hash;
  bus::subscriber_core sub{sc};
  bus::datagrams out;
  std::string m = "hello bus";
  pub.publish(reinterpret_cast<const uint8_t*>(m.data()), m.size(), {}, out);
  // Small messages packed in one buffer (message_pack.hpp).
  bus::message_pack pack;
  pack.add("packed 1");
  pack.add("packed 2");
  pub.publish(pack, {}, out);
  pub.flush({}, out);
  bus::subscriber_output got;
  for (auto& dg : out)
    sub.on_datagram(dg.data(), dg.size(), {}, got);
  return got.messages.size() == 3 && got.payload(got.messages[0]) == m
         && got.payload(got.messages[2]) == "packed 2";
}

// The IPv6 mapping: a group of the family asked for, that the bus can use.
bool maps_ipv6() {
  auto ep = bus::topic_map{bus::ip_family::v6}.resolve("host.topic");
  return ep.group.is_v6() && bus::check_group(ep.group).empty();
}

} // namespace

int main(int argc, char** argv) {
  bool run = (argc == 3 || argc == 4) && std::string{argv[1]} == "--run";
  bool ipv6 = argc == 4 && std::string{argv[3]} == "-6";
  if (run)
    application::block_signals();
  caf::actor_system_config cfg;
  configure(cfg);
  caf::actor_system sys{cfg};
  net::io_shards shards{net::io_shards_options{1}};
  auto user = sys.spawn(printer);

  bus::publisher_options po;
  po.topic = "host.topic";
  bus::subscriber_options so;
  so.topic = "host.topic";
  so.user = user;
  so.active = net::active_mode::counted(64);
  if (run)
    po.interface = so.interface = argv[2];
  if (ipv6)
    po.map = so.map = bus::topic_map{bus::ip_family::v6};
  auto pub = bus::make_publisher("pub", shards, po);
  auto sub = bus::make_subscriber("sub", shards, so);
  int rc = 0;
  if (run) {
    application app{"bus-host", {}, {sub.spec, pub.spec}};
    // run() blocks this thread; the publisher records itself in its first
    // step, so ask for it from another one.
    std::thread hello{[info = pub.info] {
      if (auto p = info->wait_actor(std::chrono::seconds{5})) {
        caf::anon_send(p, bus::publish_atom::value, std::string{"hello bus"});
        bus::message_pack more;
        more.add("hello again");
        more.add("and again");
        caf::anon_send(p, bus::publish_atom::value, std::move(more));
      }
    }};
    rc = app.run(sys).exit_code;
    hello.join();
  } else if (cores_agree() && maps_ipv6()) {
    std::cout << "castor-bus-host: ok\n";
  } else {
    std::cout << "castor-bus-host: the cores disagree\n";
    rc = 1;
  }
  caf::anon_send_exit(user, caf::exit_reason::user_shutdown);
  shards.stop();
  return rc;
}
