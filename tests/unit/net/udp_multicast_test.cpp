// Deterministic tests of the UDP socket actor's multicast receive options
// over the loopback interface: a group joined on `lo` by a local socket
// receives what a local sender sends there with IP_MULTICAST_IF = lo.
//
// This file: IP_PKTINFO (destination and interface per datagram) and
// IP_MULTICAST_ALL (a socket gets only the groups it joined).

#define CAF_SUITE udp_socket

#include "udp_test_support.hpp"
#include <net/if.h>

namespace {

namespace ip = boost::asio::ip;

const ip::address_v4 group_a = ip::make_address_v4("239.77.0.1");
const ip::address_v4 group_b = ip::make_address_v4("239.77.0.2");

unsigned lo_index() {
  return ::if_nametoindex("lo");
}

struct mcast_fixture : fixture {
  mcast_fixture() { CAF_REQUIRE(peer.set_multicast_if(lo_index())); }

  // A socket on the wildcard address, port `port` (0: any), joined to
  // `groups` on lo, owned by `who`, delivering everything.
  udp_socket open_joined(const caf::actor& who, unsigned short port,
                         std::vector<ip::address_v4> groups,
                         udp_options o = {}) {
    o.local = udp_endpoint{ip::address_v4::any(), port};
    o.reuse_address = true;
    o.active = active_mode::always();
    for (auto& g : groups)
      o.memberships.push_back(
        multicast_membership::any_source(g, interface_ref::by_name("lo")));
    auto s = open_udp(sys, shards.at(0), who, o);
    CAF_REQUIRE(s);
    run();
    return *s;
  }

  void send_group(ip::address_v4 g, unsigned short port,
                  const std::string& text) {
    CAF_REQUIRE(peer.send_to(udp_endpoint{g, port}, text));
  }

  owner_state& state_of(const caf::actor& who) {
    return deref<caf::stateful_actor<owner_state>>(who).state;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(udp_multicast_tests, mcast_fixture)

CAF_TEST(a socket joined to two groups sees the destination of each datagram) {
  st().hold = true;
  auto s = open_joined(owner, 0, {group_a, group_b});
  auto port = s.local.port();
  send_group(group_a, port, "to a");
  send_group(group_b, port, "to b");
  // Unicast to the same socket: its destination is the local address.
  peer.send_to(udp_endpoint{ip::address_v4::loopback(), port}, "direct");
  run();
  CAF_REQUIRE_EQUAL(st().got, strs({"to a", "to b", "direct"}));
  std::vector<std::string> dst;
  std::vector<unsigned> itf;
  for (auto& b : st().held)
    for (auto d : b.datagrams()) {
      dst.push_back(d.destination.to_string());
      itf.push_back(d.ifindex);
    }
  CAF_CHECK_EQUAL(dst, strs({"239.77.0.1", "239.77.0.2", "127.0.0.1"}));
  CAF_CHECK_EQUAL(itf, (std::vector<unsigned>(3, lo_index())));
}

CAF_TEST(a join at runtime turns packet info on) {
  udp_options o;
  o.local = udp_endpoint{ip::address_v4::any(), 0};
  o.active = active_mode::always();
  open_sock(o);
  st().hold = true;
  // Not joined: no packet info, the kernel writes no control message.
  peer.send_to(udp_endpoint{ip::address_v4::loopback(), sock_ep.port()},
               "before");
  run();
  CAF_CHECK_EQUAL(
    ask_void(caf::make_message(
      caf::join_atom::value,
      multicast_membership::any_source(group_a, interface_ref::by_name("lo")))),
    caf::none);
  send_group(group_a, sock_ep.port(), "after");
  run();
  CAF_REQUIRE_EQUAL(st().got, strs({"before", "after"}));
  CAF_REQUIRE_EQUAL(st().held.size(), 2u);
  CAF_CHECK_EQUAL(st().held[0][0].ifindex, 0u);
  CAF_CHECK(st().held[0][0].destination.is_unspecified());
  CAF_CHECK_EQUAL(st().held[1][0].ifindex, lo_index());
  CAF_CHECK_EQUAL(st().held[1][0].destination.to_string(), "239.77.0.1");
}

CAF_TEST(packet info can be turned on unjoined and kept off joined) {
  udp_options o;
  o.packet_info = 1;
  open_sock(o);
  st().hold = true;
  tell(active_atom::value, true);
  push("u");
  run();
  CAF_REQUIRE_EQUAL(st().held.size(), 1u);
  CAF_CHECK_EQUAL(st().held[0][0].destination.to_string(), "127.0.0.1");
  CAF_CHECK_EQUAL(st().held[0][0].ifindex, lo_index());
  // Explicitly off: a join does not turn it on.
  auto other = sys.spawn(owner_actor);
  udp_options off;
  off.packet_info = 0;
  auto s = open_joined(other, 0, {group_a}, off);
  state_of(other).hold = true;
  send_group(group_a, s.local.port(), "g");
  run();
  CAF_REQUIRE_EQUAL(state_of(other).held.size(), 1u);
  CAF_CHECK_EQUAL(state_of(other).held[0][0].ifindex, 0u);
  caf::anon_send_exit(other, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST(two sockets on one port each receive only the group they joined) {
  // Linux's default IP_MULTICAST_ALL = 1 would hand both groups to both
  // sockets: each is bound to the wildcard address on the port, and the
  // host has joined both groups on lo.
  auto other = sys.spawn(owner_actor);
  auto a = open_joined(owner, 0, {group_a});
  auto port = a.local.port();
  auto b = open_joined(other, port, {group_b});
  CAF_REQUIRE_EQUAL(b.local.port(), port);
  send_group(group_a, port, "a1");
  send_group(group_b, port, "b1");
  send_group(group_a, port, "a2");
  run();
  CAF_CHECK_EQUAL(st().got, strs({"a1", "a2"}));
  CAF_CHECK_EQUAL(state_of(other).got, strs({"b1"}));
  caf::anon_send_exit(other, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST(a socket that never joins still gets groups joined elsewhere) {
  // The group manager holds memberships on helper sockets; the sockets that
  // receive keep IP_MULTICAST_ALL on, or they would get nothing.
  auto holder = sys.spawn(owner_actor);
  auto h = open_joined(holder, 0, {group_a});
  auto port = h.local.port();
  udp_options o;
  o.local = udp_endpoint{ip::address_v4::any(), port};
  o.reuse_address = true;
  o.active = active_mode::always();
  open_sock(o);
  send_group(group_a, port, "shared");
  run();
  CAF_CHECK_EQUAL(st().got, strs({"shared"}));
  CAF_CHECK_EQUAL(state_of(holder).got, strs({"shared"}));
  // multicast_all = 0 asked for explicitly: nothing without a join.
  auto lonely = sys.spawn(owner_actor);
  o.multicast_all = 0;
  auto l = open_udp(sys, shards.at(0), lonely, o);
  CAF_REQUIRE(l);
  run();
  send_group(group_a, port, "again");
  run();
  CAF_CHECK_EQUAL(st().got, strs({"shared", "again"}));
  CAF_CHECK(state_of(lonely).got.empty());
  caf::anon_send_exit(holder, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(lonely, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST_FIXTURE_SCOPE_END()
