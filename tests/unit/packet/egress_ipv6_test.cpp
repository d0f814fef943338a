// IPv6 on the egress path (issue 19): the send ring with sockaddr_in6
// destinations (name length, grouping and UDP GSO joins per destination,
// IPV6_HOPLIMIT/IPV6_TCLASS marks), the choice of a stable global or ULA
// source address from /proc/net/if_inet6, and a real AF_INET6 egress
// socket over ::1.

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "castor/packet/send_ring.hpp"
#include "castor/packet/udp_egress.hpp"

using namespace castor::packet;

namespace {

std::array<uint8_t, 16> v6(const char* text) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(::inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

// A kernel that records each message: its name, datagrams, segment size
// and IPv6 marks.
struct kernel6 {
  struct message {
    socklen_t namelen;
    sa_family_t family;
    std::string address;
    uint16_t port;
    std::size_t datagrams;
    uint16_t gso_size;
    int hop_limit; // IPV6_HOPLIMIT control message; -1: none
    int tclass;    // IPV6_TCLASS control message; -1: none
    bool ipv4_marks;
  };
  std::vector<message> messages;

  static int send(void* ctx, mmsghdr* msgs, unsigned count) {
    auto& k = *static_cast<kernel6*>(ctx);
    for (unsigned i = 0; i < count; ++i) {
      auto& h = msgs[i].msg_hdr;
      message m{h.msg_namelen, 0, {}, 0, h.msg_iovlen, 0, -1, -1, false};
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
           c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == udp_segment_option)
          std::memcpy(&m.gso_size, CMSG_DATA(c), sizeof m.gso_size);
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)
          std::memcpy(&m.hop_limit, CMSG_DATA(c), sizeof m.hop_limit);
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)
          std::memcpy(&m.tclass, CMSG_DATA(c), sizeof m.tclass);
        m.ipv4_marks = m.ipv4_marks || c->cmsg_level == IPPROTO_IP;
      }
      const auto* sa = static_cast<const sockaddr_in6*>(h.msg_name);
      m.family = sa->sin6_family;
      char text[INET6_ADDRSTRLEN] = "";
      if (m.family == AF_INET6)
        ::inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
      m.address = text;
      m.port = ntohs(sa->sin6_port);
      k.messages.push_back(m);
    }
    return static_cast<int>(count);
  }
};

bool put6(send_ring& r, const char* address, uint16_t port, std::size_t size,
          ip_marks marks = {}) {
  const std::string payload(size, 'x');
  return r.enqueue(0, make_destination6(v6(address), port),
                   reinterpret_cast<const uint8_t*>(payload.data()),
                   payload.size(), marks);
}

} // namespace

TEST(egress_ipv6, a_destination_knows_its_family_and_size) {
  const destination d4 = make_destination(htonl(0xef010101), 5001);
  const destination d6 = make_destination6(v6("ff3e::1:1"), 5001);
  EXPECT_FALSE(d4.is_v6());
  EXPECT_EQ(d4.size(), sizeof(sockaddr_in));
  EXPECT_TRUE(d6.is_v6());
  EXPECT_EQ(d6.size(), sizeof(sockaddr_in6));
  EXPECT_FALSE(d4 == d6);
  EXPECT_TRUE(d6 == destination{make_destination6(v6("ff3e::1:1"), 5001)});
  EXPECT_FALSE(d6 == destination{make_destination6(v6("ff3e::1:2"), 5001)});
  EXPECT_FALSE(d6 == destination{make_destination6(v6("ff3e::1:1"), 5002)});
}

TEST(egress_ipv6, ipv6_datagrams_leave_with_a_sockaddr_in6) {
  send_ring r(8, 64, 1);
  kernel6 k;
  ASSERT_TRUE(put6(r, "ff3e::1:1", 5001, 10));
  ASSERT_TRUE(put6(r, "fd00::9", 7000, 10));
  r.flush(&kernel6::send, &k);
  ASSERT_EQ(k.messages.size(), 2u);
  EXPECT_EQ(k.messages[0].namelen, sizeof(sockaddr_in6));
  EXPECT_EQ(k.messages[0].family, AF_INET6);
  EXPECT_EQ(k.messages[0].address, "ff3e::1:1");
  EXPECT_EQ(k.messages[0].port, 5001);
  EXPECT_EQ(k.messages[1].address, "fd00::9");
  EXPECT_EQ(k.messages[1].port, 7000);
  EXPECT_EQ(r.counters(0).packets, 2u);
}

TEST(egress_ipv6, segmentation_groups_and_joins_per_ipv6_destination) {
  send_ring r(32, 64, 1);
  r.enable_segmentation(48);
  kernel6 k;
  // Interleaved: a b a b a b, where a and b differ in the last byte only.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(put6(r, "ff3e::1:1", 5001, 20));
    ASSERT_TRUE(put6(r, "ff3e::1:2", 5001, 20));
  }
  r.flush(&kernel6::send, &k);
  ASSERT_EQ(k.messages.size(), 2u);
  EXPECT_EQ(k.messages[0].address, "ff3e::1:1");
  EXPECT_EQ(k.messages[0].datagrams, 3u);
  EXPECT_EQ(k.messages[0].gso_size, 20);
  EXPECT_EQ(k.messages[0].namelen, sizeof(sockaddr_in6));
  EXPECT_EQ(k.messages[1].address, "ff3e::1:2");
  EXPECT_EQ(k.messages[1].datagrams, 3u);
  EXPECT_EQ(r.counters(0).packets, 6u);
}

TEST(egress_ipv6, marks_of_an_ipv6_ring_are_hop_limit_and_traffic_class) {
  send_ring r(8, 64, 1);
  r.enable_ip_marks(true);
  kernel6 k;
  ASSERT_TRUE(put6(r, "ff3e::1:1", 5001, 10, ip_marks{63, 0xb8}));
  ASSERT_TRUE(put6(r, "ff3e::1:1", 5001, 10, ip_marks{7, -1}));
  r.flush(&kernel6::send, &k);
  ASSERT_EQ(k.messages.size(), 2u);
  EXPECT_EQ(k.messages[0].hop_limit, 63);
  EXPECT_EQ(k.messages[0].tclass, 0xb8);
  EXPECT_FALSE(k.messages[0].ipv4_marks);
  EXPECT_EQ(k.messages[1].hop_limit, 7);
  EXPECT_EQ(k.messages[1].tclass, -1);
}

TEST(egress_ipv6, the_source_is_a_stable_global_or_ula_address) {
  // index 3: link-local, a temporary global, a deprecated global, a
  // tentative ULA, then a stable ULA (nodad) and a permanent global.
  const std::string table =
    "fe800000000000000000000000000001 03 40 20 80     eth1\n"
    "20010db8000000000000000000000099 03 40 00 01     eth1\n"
    "20010db8000000000000000000000098 03 40 00 a0     eth1\n"
    "fd000000000000000000000000000007 03 40 00 40     eth1\n"
    "fd000000000000000000000000000005 03 40 00 02     eth1\n"
    "20010db8000000000000000000000042 03 40 00 80     eth1\n"
    "fd000000000000000000000000000001 04 40 00 80     eth2\n"
    "00000000000000000000000000000001 01 80 10 80       lo\n";
  auto pick = stable_ipv6_source_in(table, 3);
  ASSERT_TRUE(pick.has_value());
  EXPECT_EQ(*pick, v6("2001:db8::42")); // permanent wins
  // Without the permanent one: the stable ULA (nodad), never the others.
  auto second = stable_ipv6_source_in(
    "fe800000000000000000000000000001 03 40 20 80     eth1\n"
    "20010db8000000000000000000000099 03 40 00 01     eth1\n"
    "fd000000000000000000000000000007 03 40 00 40     eth1\n"
    "fd000000000000000000000000000005 03 40 00 02     eth1\n",
    3);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, v6("fd00::5"));
  // Link-local and loopback only: none.
  EXPECT_FALSE(stable_ipv6_source_in(
                 "fe800000000000000000000000000001 03 40 20 80     eth1\n"
                 "00000000000000000000000000000001 01 80 10 80       lo\n",
                 3)
                 .has_value());
  EXPECT_FALSE(stable_ipv6_source_in(table, 1).has_value());
}

TEST(egress_ipv6, an_ipv6_egress_sets_the_ipv6_options_and_delivers) {
  // A receiver on ::1, and an IPv6 egress on lo sending to it.
  const int rx = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(rx, 0);
  sockaddr_in6 local{};
  local.sin6_family = AF_INET6;
  local.sin6_addr = in6addr_loopback;
  if (::bind(rx, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    ::close(rx);
    GTEST_SKIP() << "no IPv6 on loopback here";
  }
  socklen_t len = sizeof local;
  ASSERT_EQ(::getsockname(rx, reinterpret_cast<sockaddr*>(&local), &len), 0);
  timeval tv{2, 0};
  ::setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  egress_options o;
  o.ipv6 = true;
  o.ifindex = ::if_nametoindex("lo");
  o.ttl = 9;
  o.tos = 0x28;
  o.slots = 16;
  o.slot_bytes = 256;
  o.max_outputs = 1;
  udp_egress e{o};
  auto get = [&](int level, int name) {
    int v = -1;
    socklen_t n = sizeof v;
    ::getsockopt(e.fd(), level, name, &v, &n);
    return v;
  };
  EXPECT_EQ(get(IPPROTO_IPV6, IPV6_V6ONLY), 1);
  EXPECT_EQ(get(IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 9);
  EXPECT_EQ(get(IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
  EXPECT_EQ(get(IPPROTO_IPV6, IPV6_TCLASS), 0x28);
  EXPECT_EQ(get(IPPROTO_IPV6, IPV6_MTU_DISCOVER), IPV6_PMTUDISC_PROBE);
  EXPECT_EQ(get(IPPROTO_IPV6, IPV6_MULTICAST_IF), static_cast<int>(o.ifindex));

  const auto to = make_destination6(v6("::1"), ntohs(local.sin6_port));
  for (int i = 0; i < 3; ++i) {
    const std::string payload = "datagram " + std::to_string(i);
    ASSERT_TRUE(e.enqueue(
      0, to, reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  }
  ASSERT_TRUE(e.ring().segmenting());
  e.flush();
  for (int i = 0; i < 3; ++i) {
    char buf[64];
    const auto n = ::recv(rx, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)),
              "datagram " + std::to_string(i));
  }
  EXPECT_EQ(e.ring().counters(0).packets, 3u);
  // The three equal datagrams left as one UDP GSO message, which the
  // kernel took: segmentation is still on for this IPv6 ring.
  EXPECT_TRUE(e.ring().segmenting());
  ::close(rx);
}
