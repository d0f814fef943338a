// The UDP socket actor over IPv6 on the loopback (::1): bind, packet info
// (IPV6_RECVPKTINFO), the IPv6 names of the multicast options, the traffic
// class on the wire, IPV6_V6ONLY, and MLD joins. Multicast delivery over
// IPv6 needs a multicast route, so it is tested in network namespaces
// (tests/integration/net/multicast_netns.sh).

#define CAF_SUITE udp_socket

#include "udp_test_support.hpp"
#include <net/if.h>

namespace {

namespace ip = boost::asio::ip;

unsigned lo_index() {
  return ::if_nametoindex("lo");
}

// A plain AF_INET6 socket on [::1] (or [::] with v6only off), which can
// report the traffic class of what it receives.
class raw_udp6 {
public:
  raw_udp6() {
    fd_ = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd_ < 0)
      throw std::runtime_error("socket");
    int on = 1;
    ::setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof(on));
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
      throw std::runtime_error("bind");
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin6_port);
  }
  ~raw_udp6() { ::close(fd_); }
  raw_udp6(const raw_udp6&) = delete;
  raw_udp6& operator=(const raw_udp6&) = delete;

  udp_endpoint endpoint() const { return {ip::address_v6::loopback(), port_}; }

  bool send_to(const udp_endpoint& to, const std::string& s) {
    return ::sendto(fd_, s.data(), s.size(), 0, to.data(), to.size())
           == static_cast<ssize_t>(s.size());
  }

  /// The next datagram and its traffic class (-1 when none was reported).
  std::optional<std::pair<std::string, int>> recv() {
    char buf[2048];
    alignas(cmsghdr) char control[64];
    iovec iov{buf, sizeof(buf)};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof(control);
    auto n = ::recvmsg(fd_, &h, 0);
    if (n < 0)
      return std::nullopt;
    int tclass = -1;
    for (auto* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
      if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)
        std::memcpy(&tclass, CMSG_DATA(c), sizeof(tclass));
    return std::make_pair(std::string(buf, static_cast<size_t>(n)), tclass);
  }

private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

struct ipv6_fixture : fixture {
  raw_udp6 peer6;

  udp_options v6(udp_options o = {}) {
    o.local = udp_endpoint{ip::address_v6::loopback(), 0};
    return o;
  }

  caf::error setopt(udp_option::kind k, int value) {
    return ask_void(
      caf::make_message(setopt_atom::value, udp_option{k, value}));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(udp_ipv6_tests, ipv6_fixture)

CAF_TEST(an IPv6 socket receives with its destination and interface) {
  udp_options o = v6();
  o.packet_info = 1;
  o.active = active_mode::always();
  open_sock(o);
  CAF_CHECK(sock_ep.address().is_v6());
  st().hold = true;
  CAF_REQUIRE(peer6.send_to(sock_ep, "six"));
  run();
  CAF_REQUIRE_EQUAL(st().got, strs({"six"}));
  auto d = st().held.at(0)[0];
  CAF_CHECK_EQUAL(d.from, peer6.endpoint());
  CAF_CHECK_EQUAL(d.destination.to_string(), "::1");
  CAF_CHECK_EQUAL(d.ifindex, lo_index());
}

CAF_TEST(without packet info an IPv6 datagram has no destination) {
  udp_options o = v6();
  o.active = active_mode::always();
  open_sock(o);
  st().hold = true;
  CAF_REQUIRE(peer6.send_to(sock_ep, "x"));
  run();
  CAF_REQUIRE_EQUAL(st().held.size(), 1u);
  CAF_CHECK(st().held[0][0].destination.is_unspecified());
  CAF_CHECK_EQUAL(st().held[0][0].ifindex, 0u);
}

CAF_TEST(an IPv6 socket sends with the traffic class it was given) {
  udp_options o = v6();
  o.tos = 0xb8;
  open_sock(o);
  tell(send_atom::value, peer6.endpoint(), to_bytes("ef"));
  auto got = peer6.recv();
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->first, "ef");
  CAF_CHECK_EQUAL(got->second, 0xb8);
  CAF_CHECK_EQUAL(setopt(udp_option::kind::tos, 0x28), caf::none);
  tell(send_atom::value, peer6.endpoint(), to_bytes("af11"));
  got = peer6.recv();
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(got->second, 0x28);
}

CAF_TEST(IPv6 options take and name their IPv6 counterparts) {
  open_sock(v6());
  using k = udp_option::kind;
  auto err = setopt(k::multicast_ttl, 300);
  CAF_CHECK(is(err, errc::invalid_argument));
  CAF_CHECK_NOT_EQUAL(describe(err).find("IPV6_MULTICAST_HOPS"),
                      std::string::npos);
  err = setopt(k::tos, 256);
  CAF_CHECK_NOT_EQUAL(describe(err).find("IPV6_TCLASS"), std::string::npos);
  // An interface that does not exist: IPV6_MULTICAST_IF refuses it.
  err = setopt(k::multicast_interface, 999999);
  CAF_CHECK(is(err, errc::socket_option));
  CAF_CHECK_NOT_EQUAL(describe(err).find("IPV6_MULTICAST_IF"),
                      std::string::npos);
  CAF_CHECK_EQUAL(setopt(k::multicast_interface, static_cast<int>(lo_index())),
                  caf::none);
  CAF_CHECK_EQUAL(setopt(k::multicast_ttl, 5), caf::none);
  CAF_CHECK_EQUAL(setopt(k::multicast_loop, 0), caf::none);
  CAF_CHECK_EQUAL(setopt(k::multicast_all, 0), caf::none);
  CAF_CHECK_EQUAL(setopt(k::packet_info, 1), caf::none);
  // And at open.
  udp_options o = v6();
  o.multicast_interface = interface_ref::by_name("lo");
  o.multicast_ttl = 8;
  o.multicast_loop = 1;
  o.multicast_all = 0;
  CAF_CHECK(open_udp(sys, shards.at(0), owner, o));
}

CAF_TEST(v6only decides whether an IPv6 socket gets IPv4 too) {
  for (int only : {0, 1}) {
    udp_options o;
    o.local = udp_endpoint{ip::address_v6::any(), 0};
    o.v6only = only;
    o.active = active_mode::always();
    auto other = sys.spawn(owner_actor);
    auto s = open_udp(sys, shards.at(0), other, o);
    CAF_REQUIRE(s);
    run();
    auto& got = deref<caf::stateful_actor<owner_state>>(other).state.got;
    CAF_REQUIRE(peer.send_to(
      udp_endpoint{ip::address_v4::loopback(), s->local.port()}, "four"));
    run();
    CAF_CHECK_EQUAL(got.size(), only ? 0u : 1u);
    caf::anon_send_exit(other, caf::exit_reason::user_shutdown);
    run();
  }
  // Not on an IPv4 socket.
  udp_options o;
  o.v6only = 1;
  auto s = open_udp(sys, shards.at(0), owner, o);
  CAF_REQUIRE(!s);
  CAF_CHECK(is(s.error(), errc::invalid_argument));
}

CAF_TEST(IPv6 groups are joined with MLD and checked for their family) {
  udp_options o;
  o.local = udp_endpoint{ip::address_v6::any(), 0};
  o.memberships.push_back(multicast_membership::any_source(
    ip::make_address_v6("ff3e::4242"), interface_ref::by_name("lo")));
  o.memberships.push_back(multicast_membership::source_specific(
    ip::make_address_v6("ff3e::4243"), ip::make_address_v6("fd00::1"),
    interface_ref::by_name("lo")));
  open_sock(o);
  // Leaving what was joined works; leaving it twice does not.
  auto ssm = multicast_membership::source_specific(
    ip::make_address_v6("ff3e::4243"), ip::make_address_v6("fd00::1"),
    interface_ref::by_name("lo"));
  CAF_CHECK_EQUAL(ask_void(caf::make_message(caf::leave_atom::value, ssm)),
                  caf::none);
  CAF_CHECK_NOT_EQUAL(ask_void(caf::make_message(caf::leave_atom::value, ssm)),
                      caf::none);
  // A source of the other family, and a unicast "group".
  auto mixed = multicast_membership::source_specific(
    ip::make_address_v6("ff3e::4244"), ip::make_address_v4("10.0.0.1"),
    interface_ref::by_name("lo"));
  CAF_CHECK(is(ask_void(caf::make_message(caf::join_atom::value, mixed)),
               errc::invalid_argument));
  auto unicast = multicast_membership::any_source(
    ip::make_address_v6("fd00::2"), interface_ref::by_name("lo"));
  CAF_CHECK(is(ask_void(caf::make_message(caf::join_atom::value, unicast)),
               errc::invalid_argument));
}

CAF_TEST_FIXTURE_SCOPE_END()
