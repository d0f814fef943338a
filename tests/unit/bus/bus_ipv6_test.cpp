// The bus over IPv6, without a network: addresses of either family, the
// IPv6 default mapping and explicit IPv6 entries (and the errors for groups
// the bus cannot use), the announcement's body version 2 beside version 1,
// and a publisher on an AF_INET6 socket over ::1 (its datagrams fit an IPv6
// path MTU).

#define CAF_SUITE bus_ipv6

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"
#include "castor/bus/publisher.hpp"
#include "castor/bus/topic_map.hpp"
#include "castor/bus/wire.hpp"
#include "castor/testkit/io_fixture.hpp"

using namespace castor;
using namespace castor::bus;

namespace {

ip_address addr(const std::string& text) {
  auto a = ip_address::parse(text);
  CAF_REQUIRE(a);
  return *a;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

// -- addresses and the map ----------------------------------------------------

CAF_TEST(addresses of either family parse and print) {
  auto v4 = addr("239.193.1.2");
  CAF_CHECK(v4.is_v4());
  CAF_CHECK_EQUAL(v4.to_v4(), 0xefc10102u);
  CAF_CHECK_EQUAL(v4.to_string(), "239.193.1.2");
  CAF_CHECK(v4 == ip_address::v4(0xefc10102));
  auto v6 = addr("FF3E:0040:fd00:0203::8000:1");
  CAF_CHECK(v6.is_v6());
  CAF_CHECK_EQUAL(v6.to_string(), "ff3e:40:fd00:203::8000:1"); // RFC 5952
  CAF_CHECK_EQUAL(v6.bytes()[0], 0xff);
  CAF_CHECK_EQUAL(v6.bytes()[15], 1);
  CAF_CHECK_EQUAL(v6.v6_scope(), 14u);
  CAF_CHECK(v6.is_multicast());
  CAF_CHECK(!v6.is_v6_ssm()); // a prefix length: unicast-prefix-based
  CAF_CHECK(addr("ff3e::1").is_v6_ssm());
  CAF_CHECK(addr("ff38::1:2").is_v6_ssm());
  CAF_CHECK(!addr("ff1e::1").is_v6_ssm());
  CAF_CHECK(!addr("232.1.1.1").is_v6_ssm());
  CAF_CHECK(!addr("fd00::1").is_multicast());
  CAF_CHECK(!ip_address::parse("ff3e::1%eth0"));
  CAF_CHECK(!ip_address::parse("[ff3e::1]"));
  CAF_CHECK(!ip_address::parse("239.1.1"));
  CAF_CHECK(!ip_address::parse(""));
}

CAF_TEST(the IPv4 mapping is what it was) {
  // Publishers and subscribers of different versions must meet: the
  // mapping of a topic is part of the protocol.
  topic_map m;
  CAF_CHECK(m.family() == ip_family::v4);
  auto p = m.resolve("prices");
  CAF_CHECK_EQUAL(p.group.to_string(), "239.193.62.98");
  CAF_CHECK_EQUAL(p.port, 24700);
  CAF_CHECK_EQUAL(m.discovery_group().to_string(), "239.192.0.77");
  CAF_CHECK_EQUAL(m.discovery_port(), 24699);
}

CAF_TEST(topics hash into ff18 :: / 96 with IPv6 defaults) {
  topic_map m{ip_family::v6};
  CAF_CHECK(m.family() == ip_family::v6);
  auto p = m.resolve("prices");
  // topic_hash("prices") = 0x15792b1b; the group ID sets the top bit
  // (RFC 3307's dynamic IDs) over the hash's low 31 bits.
  CAF_CHECK_EQUAL(p.hash, 0x15792b1bu);
  CAF_CHECK_EQUAL(p.group.to_string(), "ff18::9579:2b1b");
  CAF_CHECK_EQUAL(p.port, topic_map::default_port);
  CAF_CHECK(!p.raw);
  auto a = m.resolve("a");
  CAF_CHECK_EQUAL(a.group.to_string(), "ff18::e40c:292c");
  CAF_CHECK(check_group(p.group).empty());
  // Discovery: its own group per family, outside the topics' IDs.
  CAF_CHECK_EQUAL(m.discovery_group().to_string(), "ff18::4d");
  CAF_CHECK_EQUAL(m.discovery_port(), 24699);
  CAF_CHECK_EQUAL(m.discovery_group(ip_family::v4).to_string(), "239.192.0.77");
  m.set_discovery(addr("ff3e:40:fd00:203::4d"), 24698);
  CAF_CHECK_EQUAL(m.discovery_group().to_string(), "ff3e:40:fd00:203::4d");
  CAF_CHECK_EQUAL(m.discovery_port(), 24698);
  CAF_CHECK_EQUAL(m.discovery_group(ip_family::v4).to_string(), "239.192.0.77");
}

CAF_TEST(an IPv6 base keeps its / 96 and sets the family) {
  topic_map m{addr("ff3e:40:fd00:203::1:2"), 5000};
  CAF_CHECK(m.family() == ip_family::v6);
  auto p = m.resolve("prices");
  CAF_CHECK_EQUAL(p.group.to_string(), "ff3e:40:fd00:203::9579:2b1b");
  CAF_CHECK_EQUAL(p.port, 5000);
  topic_map v4{addr("239.194.7.7"), 3000};
  CAF_CHECK(v4.family() == ip_family::v4);
  CAF_CHECK_EQUAL(v4.resolve("prices").group.to_string(), "239.194.62.98");
}

CAF_TEST(explicit entries take IPv6 groups in brackets) {
  topic_map m; // IPv4 hashing; an entry may still be IPv6
  CAF_CHECK_EQUAL(m.add_entry("feed=[ff3e:40:fd00:203::77:1]:24710,raw"), "");
  auto f = m.resolve("feed");
  CAF_CHECK(f.group.is_v6());
  CAF_CHECK_EQUAL(f.group.to_string(), "ff3e:40:fd00:203::77:1");
  CAF_CHECK_EQUAL(f.port, 24710);
  CAF_CHECK(f.raw);
  CAF_CHECK(m.resolve("other").group.is_v4());
  CAF_CHECK(m.parse_entry("old=239.9.9.9:5000"));
  CAF_CHECK_EQUAL(m.resolve("old").group.to_string(), "239.9.9.9");
  // What is wrong is named: each entry, and a part of its error.
  const std::pair<const char*, const char*> refused[] = {
    {"x=ff18::1:5000", "brackets"},
    {"x=[ff3e::1]:5000", "source-specific"},
    {"x=[ff38::1:2]:5000", "RFC 4607"},
    {"x=[fd00::1]:5000", "not a multicast group"},
    {"x=10.0.0.1:5000", "not a multicast group"},
    {"x=[ff10::1]:5000", "reserved scope 0"},
    {"x=[ff1f::1]:5000", "reserved scope 15"},
    {"x=[ff18::1]", "not [GROUP]:PORT"},
    {"x=[ff18::1]:0", "not a port"},
    {"x=[ff18::1]:65536", "not a port"},
    {"x=[ff18::zz]:5", "not an IPv4 or IPv6"},
    {"x=[ff18::1]:5,cooked", "not a flag"},
    {"=[ff18::1]:5", "TOPIC=GROUP:PORT"},
  };
  for (auto& [entry, part] : refused) {
    auto why = m.add_entry(entry);
    CAF_MESSAGE(entry << " -> " << why);
    CAF_CHECK(contains(why, part));
  }
  CAF_CHECK(!m.parse_entry("x=239.1.1:5"));
  // None of them was added.
  CAF_CHECK(m.resolve("x").group.is_v4());
}

// -- announcements ---------------------------------------------------------

namespace {

announce_body sample(ip_address group) {
  announce_body b;
  b.topic = "prices.eu";
  b.group = group;
  b.port = 24700;
  b.msgs_per_sec = 50000;
  b.bytes_per_sec = 1600000;
  b.gaps = 3;
  b.drops = 4;
  return b;
}

} // namespace

CAF_TEST(an IPv6 group is announced in body version 2) {
  header h;
  h.origin = 5;
  h.flags = flag_subscriber;
  auto dg = make_announce(h, sample(addr("ff3e:40:fd00:203::9579:2b1b")));
  // A new type: a receiver that predates it drops it as an unknown type
  // (bad_type: it accepted types 1..5) rather than reading the first 4
  // bytes of an IPv6 address as an IPv4 group.
  CAF_CHECK_EQUAL(dg[3], 6);
  CAF_CHECK(decode_header(dg.data(), dg.size())->type == msg_type::announce_v2);
  // Body: family, 16 bytes of group, then version 1's fields.
  CAF_CHECK_EQUAL(dg[header_size], 6);
  CAF_CHECK_EQUAL(dg[header_size + 1], 0xff);
  CAF_CHECK_EQUAL(dg[header_size + 2], 0x3e);
  CAF_CHECK_EQUAL(dg.size(), header_size + 17 + 32 + 9);
  auto back = decode_announce(dg.data(), dg.size());
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->group.to_string(), "ff3e:40:fd00:203::9579:2b1b");
  CAF_CHECK_EQUAL(back->topic, "prices.eu");
  CAF_CHECK_EQUAL(back->port, 24700);
  CAF_CHECK_EQUAL(back->msgs_per_sec, 50000u);
  CAF_CHECK_EQUAL(back->bytes_per_sec, 1600000u);
  CAF_CHECK_EQUAL(back->gaps, 3u);
  CAF_CHECK_EQUAL(back->drops, 4u);
  CAF_CHECK(!decode_announce(dg.data(), dg.size() - 1));
  auto bad = dg;
  bad[header_size] = 5; // no such family
  CAF_CHECK(!decode_announce(bad.data(), bad.size()));
}

CAF_TEST(an IPv4 group is still announced in body version 1) {
  header h;
  h.origin = 5;
  auto dg = make_announce(h, sample(addr("239.193.2.3")));
  CAF_CHECK_EQUAL(dg[3], 5);
  // Version 1's layout: the group's 4 bytes first, 36 bytes before the
  // topic: what receivers built before IPv6 read.
  CAF_CHECK_EQUAL(dg.size(), header_size + 36 + 9);
  CAF_CHECK_EQUAL(dg[header_size], 239);
  CAF_CHECK_EQUAL(dg[header_size + 3], 3);
  CAF_CHECK_EQUAL(dg[header_size + 4], 24700 >> 8);
  auto back = decode_announce(dg.data(), dg.size());
  CAF_REQUIRE(back);
  CAF_CHECK(back->group.is_v4());
  CAF_CHECK_EQUAL(back->group.to_string(), "239.193.2.3");
  CAF_CHECK_EQUAL(back->topic, "prices.eu");
  // Another type is no announcement.
  auto hb = make_heartbeat(h, 1);
  CAF_CHECK(!decode_announce(hb.data(), hb.size()));
}

// -- a publisher on an AF_INET6 socket --------------------------------------

namespace {

// A plain UDP socket on ::1 that keeps the sizes of the bus data datagrams
// reaching it.
class peer6 {
public:
  peer6() {
    fd_ = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    CAF_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin6_port);
  }
  ~peer6() { ::close(fd_); }

  uint16_t port() const { return port_; }

  /// The sizes of the data datagrams received so far.
  const std::vector<size_t>& data() {
    uint8_t buf[9000];
    for (;;) {
      sockaddr_in6 from{};
      socklen_t len = sizeof(from);
      auto n = ::recvfrom(fd_, buf, sizeof(buf), 0,
                          reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0)
        return sizes_;
      CAF_CHECK_EQUAL(from.sin6_family, AF_INET6);
      auto h = decode_header(buf, static_cast<size_t>(n));
      if (h && h->type == msg_type::data)
        sizes_.push_back(static_cast<size_t>(n));
    }
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<size_t> sizes_;
};

struct ipv6_fixture : testkit::io_fixture<> {
  peer6 peer;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(bus_ipv6_actor_tests, ipv6_fixture)

CAF_TEST(a publisher of an IPv6 topic sends from an IPv6 socket) {
  publisher_options po;
  po.topic = "v6";
  // ::1 and the peer's port: the datagrams can be read back without
  // multicast routes.
  po.map.set("v6", addr("::1"), peer.port());
  po.announce_interval = std::chrono::milliseconds{0};
  po.core.max_delay = std::chrono::seconds{10}; // batch until flushed
  auto child = make_publisher("pub", shards, po);
  supervisor_flags flags;
  flags.name = "bus_sup";
  auto sup = spawn_supervisor(sys, flags, {child.spec});
  settle();
  auto pub = child.info->actor();
  CAF_REQUIRE(pub);
  // 100 messages of 100 bytes: 10200 bytes of batch, which must be cut at
  // the IPv6 datagram size (1452, a 1500-byte MTU less 40 + 8), not
  // IPv4's 1472, or the host would fragment them.
  std::vector<std::string> msgs;
  for (int i = 0; i < 100; ++i)
    msgs.push_back(std::string(100, static_cast<char>('a' + i % 26)));
  caf::anon_send(pub, publish_atom::value, std::move(msgs));
  caf::anon_send(pub, flush_atom::value);
  settle();
  auto& sizes = peer.data();
  // 13 messages of 102 B a datagram (1358 B; IPv4's 1472 would take 14,
  // 1460 B): 8 datagrams.
  CAF_CHECK_EQUAL(sizes.size(), 8u);
  size_t biggest = 0;
  for (auto n : sizes)
    biggest = std::max(biggest, n);
  CAF_CHECK_LESS_OR_EQUAL(biggest, ipv6_max_datagram);
  CAF_CHECK_GREATER(biggest, ipv6_max_datagram - 102);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  settle();
}

CAF_TEST_FIXTURE_SCOPE_END()
