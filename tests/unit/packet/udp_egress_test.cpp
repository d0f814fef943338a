// The real egress socket over loopback: the options it promises, and a
// batch going out through sendmmsg (joined into UDP GSO messages) intact
// and in order. Needs no privilege.

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

#include "castor/packet/udp_egress.hpp"

using namespace castor::packet;

namespace {

int get_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, level, name, &v, &len) != 0)
    return -1;
  // IP_MULTICAST_TTL and _LOOP may come back as a single byte.
  return len == 1 ? static_cast<unsigned char>(v & 0xff) : v;
}

} // namespace

TEST(udp_egress, sets_the_options_it_documents) {
  egress_options o;
  o.ifindex = if_nametoindex("lo");
  o.ttl = 7;
  o.tos = 0x28;
  udp_egress e(o);
  EXPECT_EQ(get_int(e.fd(), IPPROTO_IP, IP_MULTICAST_TTL), 7);
  EXPECT_EQ(get_int(e.fd(), IPPROTO_IP, IP_MULTICAST_LOOP), 0);
  EXPECT_EQ(get_int(e.fd(), IPPROTO_IP, IP_TOS), 0x28);
  // The kernel doubles the value; without CAP_NET_ADMIN it is capped at
  // wmem_max, so only check it grew past the 208 KiB default when root.
  if (::geteuid() == 0) {
    EXPECT_GE(get_int(e.fd(), SOL_SOCKET, SO_SNDBUF), 4 << 20);
  }
  ip_mreqn m{};
  socklen_t len = sizeof m;
  ASSERT_EQ(::getsockopt(e.fd(), IPPROTO_IP, IP_MULTICAST_IF, &m, &len), 0);
  // The kernel reports the interface's address for IP_MULTICAST_IF; for an
  // index-only setting that is 0.0.0.0, so check IP_UNICAST_IF instead.
  uint32_t unicast_if = 0;
  len = sizeof unicast_if;
  ASSERT_EQ(::getsockopt(e.fd(), IPPROTO_IP, IP_UNICAST_IF, &unicast_if, &len),
            0);
  EXPECT_EQ(ntohl(unicast_if), if_nametoindex("lo"));
  EXPECT_EQ(e.ring().capacity(), o.slots);
}

TEST(udp_egress, a_batch_arrives_intact_and_in_order) {
  int rx = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(rx, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t alen = sizeof a;
  ASSERT_EQ(::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &alen), 0);
  const int big = 4 << 20;
  ::setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  const int on = 1;
  ::setsockopt(rx, IPPROTO_IP, IP_RECVTOS, &on, sizeof on);
  timeval guard{10, 0}; // bounds a hang; not an assertion on time
  ::setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);

  egress_options o;
  o.ifindex = if_nametoindex("lo");
  o.tos = 0x10;
  o.slots = 64;
  o.max_batch = 16;
  udp_egress e(o);
  // Equal-size runs ("datagram 10" .. "datagram 99") leave as UDP GSO
  // messages (Linux >= 4.18), so this also checks that the receiver gets
  // them cut back into the same datagrams.
  EXPECT_TRUE(e.ring().segmenting());
  const auto dest = make_destination(htonl(INADDR_LOOPBACK), ntohs(a.sin_port));
  constexpr int n = 200; // more than the ring: it is sent as it fills
  for (int i = 0; i < n; ++i) {
    const std::string p = "datagram " + std::to_string(i);
    ASSERT_TRUE(
      e.enqueue(0, dest, reinterpret_cast<const uint8_t*>(p.data()), p.size()));
  }
  EXPECT_FALSE(e.flush().blocked);
  EXPECT_EQ(e.ring().queued(), 0u);
  EXPECT_EQ(e.ring().counters(0).packets, static_cast<uint64_t>(n));
  // 200 into a 64-slot ring: a full ring is flushed, not dropped (issue
  // 15); the kernel never pushed back, so nothing counts as queue_full.
  EXPECT_EQ(e.ring().counters(0).queue_full, 0u);
  for (int i = 0; i < n; ++i) {
    char buf[64];
    char cbuf[64];
    iovec iov{buf, sizeof buf};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    const auto got = ::recvmsg(rx, &mh, 0);
    ASSERT_GT(got, 0) << "datagram " << i << " missing";
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(got)),
              "datagram " + std::to_string(i));
    int tos = -1;
    for (auto* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
        tos = *CMSG_DATA(c);
    EXPECT_EQ(tos, 0x10);
  }
  ::close(rx);
}
