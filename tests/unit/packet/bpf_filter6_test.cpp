// The IPv6 cBPF filter through the test interpreter: what passes and what
// does not, for each rule of bpf_filter.hpp's IPv6 section, that the
// kernel accepts every tier, and real IPv6 frames through it in a private
// network namespace.

#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>

#include "cbpf_interpreter.hpp"
#include "frame_builder.hpp"
#include "private_netns.hpp"
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/bpf_filter.hpp"

using namespace castor::packet;
using castor::packet::test::addr6;
using castor::packet::test::build_frame;
using castor::packet::test::build_frame6;
using castor::packet::test::ext_header;
using castor::packet::test::frame6_spec;
using castor::packet::test::frame_meta;
using castor::packet::test::frame_spec;
using castor::packet::test::run_cbpf;

namespace {

constexpr uint32_t multicast = PACKET_MULTICAST;

bool passes(const bpf_program& p, const std::vector<uint8_t>& f,
            uint32_t pkttype = multicast) {
  return run_cbpf(p, f.data(), f.size(), pkttype) != 0;
}

bool passes(const bpf_program& p, const frame6_spec& s,
            uint32_t pkttype = multicast) {
  return passes(p, build_frame6(s), pkttype);
}

filter_match6 any_source(const char* group, uint16_t port) {
  return {addr6(group), port, std::nullopt};
}

filter_match6 from(const char* source, const char* group, uint16_t port) {
  return {addr6(group), port, addr6(source)};
}

frame6_spec to(const char* group, uint16_t port,
               const char* source = "fd00::1") {
  frame6_spec s;
  s.dst = addr6(group);
  s.dst_port = port;
  s.src = addr6(source);
  return s;
}

filter_options counting(link_layer layer = link_layer::none) {
  filter_options o;
  o.layer = layer;
  o.fragments = fragment_policy::count_in_user;
  return o;
}

} // namespace

TEST(bpf_filter6, no_rules_drops_everything) {
  auto p = build_filter6({});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_FALSE(passes(p, to("ff3e::1:1", 5001)));
}

TEST(bpf_filter6, ruled_group_and_port_pass_others_do_not) {
  auto p =
    build_filter6({any_source("ff3e::1:1", 5001), any_source("ff3e::1:2", 5002),
                   any_source("ff3e:1::1:1", 5001)});
  EXPECT_TRUE(passes(p, to("ff3e::1:1", 5001)));
  EXPECT_TRUE(passes(p, to("ff3e::1:2", 5002)));
  EXPECT_TRUE(passes(p, to("ff3e:1::1:1", 5001)));
  EXPECT_FALSE(passes(p, to("ff3e::1:1", 5002))); // ports are per group
  EXPECT_FALSE(passes(p, to("ff3e::1:3", 5001)));
  // Differs in one word only, each word in turn.
  EXPECT_FALSE(passes(p, to("ff3f::1:1", 5001)));
  EXPECT_FALSE(passes(p, to("ff3e:0:1::1:1", 5001)));
  EXPECT_FALSE(passes(p, to("ff3e::1:0:1:1", 5001)));
  EXPECT_FALSE(passes(p, to("ff3e::1:1:1", 5001)));
  EXPECT_FALSE(passes(p, to("ff3e::1:1", 5001), PACKET_OUTGOING));
  auto f = build_frame6(to("ff3e::1:1", 5001));
  EXPECT_EQ(run_cbpf(p, f.data(), f.size(), multicast), bpf_accept);
}

TEST(bpf_filter6, source_specific_rules_check_all_of_the_source) {
  auto p = build_filter6(
    {from("fd00::1", "ff3e::1:1", 5001), from("fd00::2", "ff3e::1:1", 5001)});
  EXPECT_TRUE(passes(p, to("ff3e::1:1", 5001, "fd00::1")));
  EXPECT_TRUE(passes(p, to("ff3e::1:1", 5001, "fd00::2")));
  EXPECT_FALSE(passes(p, to("ff3e::1:1", 5001, "fd00::3")));
  EXPECT_FALSE(passes(p, to("ff3e::1:1", 5001, "fd01::1")));
  EXPECT_FALSE(passes(p, to("ff3e::1:1", 5001, "fd00:0:0:1::1")));
  EXPECT_FALSE(passes(p, to("ff3e::1:1", 5001, "fd00::1:0:0:1")));
  // An any-source rule for the same (group, port) covers every source.
  p = build_filter6(
    {from("fd00::1", "ff3e::1:1", 5001), any_source("ff3e::1:1", 5001)});
  EXPECT_TRUE(passes(p, to("ff3e::1:1", 5001, "fd00::3")));
}

TEST(bpf_filter6, only_ipv6_udp_passes) {
  auto p = build_filter6({any_source("ff3e::1:1", 5001)});
  auto s = to("ff3e::1:1", 5001);
  s.protocol = 58; // ICMPv6
  EXPECT_FALSE(passes(p, s));
  s.protocol = 6;
  EXPECT_FALSE(passes(p, s));
  s = to("ff3e::1:1", 5001);
  s.version = 4;
  EXPECT_FALSE(passes(p, s));
  // An IPv4 frame whose bytes would otherwise line up does not pass.
  frame_spec v4;
  EXPECT_FALSE(passes(p, build_frame(v4)));
  // And the IPv4 program refuses IPv6.
  filter_match m4{castor::packet::test::addr("239.1.1.1"), 5001, {}};
  EXPECT_FALSE(passes(build_filter({m4}), to("ff3e::1:1", 5001)));
}

TEST(bpf_filter6, ethernet_layout_checks_the_ethertype) {
  filter_options o;
  o.layer = link_layer::ethernet;
  auto p = build_filter6({any_source("ff3e::1:1", 5001)}, o);
  auto s = to("ff3e::1:1", 5001);
  s.layer = link_layer::ethernet;
  EXPECT_TRUE(passes(p, s));
  s.ethertype = 0x0800;
  EXPECT_FALSE(passes(p, s));
  s.ethertype = 0x8100;
  EXPECT_FALSE(passes(p, s));
}

TEST(bpf_filter6, extension_headers_are_dropped_in_the_kernel_by_default) {
  auto p = build_filter6({any_source("ff3e::1:1", 5001)});
  for (uint8_t t : {0, 43, 44, 51, 60}) {
    auto s = to("ff3e::1:1", 5001);
    s.ext = {ext_header{t, t == 51 ? std::size_t{12} : std::size_t{8}}};
    EXPECT_FALSE(passes(p, s)) << int{t};
  }
}

TEST(bpf_filter6, counted_chains_to_ruled_groups_reach_the_parser) {
  for (auto layer : {link_layer::none, link_layer::ethernet}) {
    auto p = build_filter6({any_source("ff3e::1:1", 5001)}, counting(layer));
    for (uint8_t t : {0, 43, 44, 60}) {
      auto s = to("ff3e::1:1", 5001);
      s.layer = layer;
      s.ext = {ext_header{t, 8}};
      EXPECT_TRUE(passes(p, s)) << int{t};
      s.dst_port = 6000; // the port is not checked behind a header
      EXPECT_TRUE(passes(p, s)) << int{t};
      s.dst = addr6("ff3e::1:2"); // the group is
      EXPECT_FALSE(passes(p, s)) << int{t};
    }
    // Plain UDP is still checked in full.
    auto s = to("ff3e::1:1", 6000);
    s.layer = layer;
    EXPECT_FALSE(passes(p, s));
    s.dst_port = 5001;
    EXPECT_TRUE(passes(p, s));
  }
}

TEST(bpf_filter6, mld_to_a_ruled_group_is_never_passed) {
  auto p = build_filter6({any_source("ff3e::1:1", 5001)}, counting());
  auto mld = to("ff3e::1:1", 5001);
  mld.ext = {ext_header{0, 8}};
  mld.protocol = 58;
  EXPECT_FALSE(passes(p, mld));
  auto esp = to("ff3e::1:1", 5001);
  esp.protocol = 50;
  EXPECT_FALSE(passes(p, esp));
  filter_tier tier{};
  // Nor in the coarse tiers.
  std::vector<filter_match6> many;
  for (int i = 0; i < 1000; ++i)
    many.push_back(any_source(
      ("ff3e::" + std::to_string(i / 100 + 1) + ":" + std::to_string(i + 1))
        .c_str(),
      static_cast<uint16_t>(5000 + i % 7)));
  auto coarse = build_filter6(many, counting(), &tier);
  EXPECT_EQ(tier, filter_tier::ports);
  EXPECT_FALSE(passes(coarse, mld));
  auto frag = to("ff3e::9:9", 5001);
  frag.ext = {ext_header{44, 8}};
  EXPECT_TRUE(passes(coarse, frag));
}

TEST(bpf_filter6, many_groups_all_match_and_the_tiers_degrade) {
  std::vector<filter_match6> m;
  std::set<std::string> groups;
  for (int i = 0; i < 300; ++i) {
    // Groups spread over the second and last words, so the trie branches.
    auto g = "ff3e:" + std::to_string(i % 3) + "::1:" + std::to_string(i + 1);
    groups.insert(g);
    m.push_back(any_source(g.c_str(), 5001));
  }
  filter_tier tier{};
  auto p = build_filter6(m, {}, &tier);
  ASSERT_EQ(tier, filter_tier::exact);
  ASSERT_LE(p.size(), static_cast<std::size_t>(BPF_MAXINSNS));
  for (const auto& g : groups) {
    EXPECT_TRUE(passes(p, to(g.c_str(), 5001))) << g;
    EXPECT_FALSE(passes(p, to(g.c_str(), 5002))) << g;
  }
  EXPECT_FALSE(passes(p, to("ff3e:3::1:1", 5001)));
  // A frame meets a handful of comparisons, not one per group.
  auto f = build_frame6(to("ff3e:2::1:300", 5001));
  std::size_t executed = 0;
  run_cbpf(p, f.data(), f.size(), frame_meta{multicast, 0, 0}, &executed);
  EXPECT_LT(executed, 60u);

  // Beyond the exact program's capacity: the ports tier, then all UDP.
  std::vector<filter_match6> big;
  for (int i = 0; i < 2000; ++i)
    big.push_back(any_source(("ff3e::2:" + std::to_string(i + 1)).c_str(),
                             static_cast<uint16_t>(5000 + i % 5)));
  p = build_filter6(big, {}, &tier);
  EXPECT_EQ(tier, filter_tier::ports);
  EXPECT_TRUE(passes(p, to("ff3e::7:7", 5003)));
  EXPECT_FALSE(passes(p, to("ff3e::7:7", 6000)));
  for (int i = 0; i < 5000; ++i)
    big.push_back(any_source("ff3e::3:1", static_cast<uint16_t>(10000 + i)));
  p = build_filter6(big, {}, &tier);
  EXPECT_EQ(tier, filter_tier::udp);
  EXPECT_TRUE(passes(p, to("ff3e::7:7", 6000)));
  EXPECT_THROW(build_exact_filter6(big), std::length_error);
}

TEST(bpf_filter6, interface_and_vlan_checks_apply) {
  filter_options o;
  o.ifindex = 7;
  auto p = build_filter6({any_source("ff3e::1:1", 5001)}, o);
  auto f = build_frame6(to("ff3e::1:1", 5001));
  EXPECT_NE(run_cbpf(p, f.data(), f.size(), frame_meta{multicast, 7, 0}), 0u);
  EXPECT_EQ(run_cbpf(p, f.data(), f.size(), frame_meta{multicast, 8, 0}), 0u);
  EXPECT_EQ(run_cbpf(p, f.data(), f.size(), frame_meta{multicast, 7, 1}), 0u);
}

TEST(bpf_filter6, short_frames_drop_instead_of_reading_past_the_end) {
  auto p = build_filter6({any_source("ff3e::1:1", 5001)}, counting());
  auto f = build_frame6(to("ff3e::1:1", 5001));
  for (std::size_t cut = 0; cut < 44; ++cut)
    EXPECT_EQ(run_cbpf(p, f.data(), cut, multicast), 0u) << cut;
}

TEST(bpf_filter6, the_kernel_accepts_every_tier) {
  int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  std::vector<filter_match6> m{any_source("ff3e::1:1", 5001),
                               from("fd00::1", "ff3e::1:2", 5002)};
  for (auto o : {filter_options{}, counting(), counting(link_layer::ethernet)})
    EXPECT_NO_THROW(attach_filter(fd, build_filter6(m, o)));
  std::vector<filter_match6> big;
  for (int i = 0; i < 7000; ++i)
    big.push_back(any_source(("ff3e::2:" + std::to_string(i + 1)).c_str(),
                             static_cast<uint16_t>(1000 + i)));
  filter_tier tier{};
  auto p = build_filter6(big, counting(), &tier);
  EXPECT_EQ(tier, filter_tier::udp);
  EXPECT_NO_THROW(attach_filter(fd, p));
  ::close(fd);
}

// In the kernel: an AF_PACKET socket for IPv6 on the loopback of a private
// network namespace, with build_filter6's program ruling [::1]:5001 (a
// unicast "group" on the loopback needs no multicast route). Real IPv6
// frames, parsed by parse_udp6_frame: exactly the ruled datagrams pass,
// and with fragments counted in user space the fragments of a datagram
// larger than the loopback's MTU reach the parser as drop_reason::fragment.
namespace {

int udp6_socket(uint16_t bind_port) {
  int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (bind_port != 0) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(bind_port);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  return fd;
}

bool send6(int fd, uint16_t port, const std::string& payload) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  a.sin6_port = htons(port);
  return ::sendto(fd, payload.data(), payload.size(), 0,
                  reinterpret_cast<sockaddr*>(&a), sizeof a)
         == static_cast<ssize_t>(payload.size());
}

std::string ipv6_through_the_kernel_filter() {
  const int sink = udp6_socket(5001);
  const int sink2 = udp6_socket(5002);
  const int tx = udp6_socket(0);
  if (sink < 0 || tx < 0)
    return "no IPv6 socket: " + std::string{std::strerror(errno)};
  const int rx = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          htons(ETH_P_IPV6));
  if (rx < 0)
    return "AF_PACKET: " + std::string{std::strerror(errno)};
  filter_options o;
  o.fragments = fragment_policy::count_in_user;
  o.ifindex = if_nametoindex("lo");
  attach_filter(rx, build_filter6({any_source("::1", 5001)}, o));
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_IPV6);
  ll.sll_ifindex = static_cast<int>(o.ifindex);
  if (::bind(rx, reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0)
    return "bind AF_PACKET: " + std::string{std::strerror(errno)};
  // Few datagrams: the loopback's backlog is per CPU, shared with every
  // namespace on the host, and a busy host may overflow it.
  constexpr int n = 20;
  for (int i = 0; i < n; ++i) {
    if (!send6(tx, 5001, "seq " + std::to_string(i))
        || !send6(tx, 5002, "other"))
      return "send: " + std::string{std::strerror(errno)};
  }
  // Larger than the loopback's MTU (1280): the kernel fragments it.
  if (!send6(tx, 5001, std::string(3000, 'f')))
    return "send big: " + std::string{std::strerror(errno)};
  send6(tx, 5001, "end");
  int ok = 0, fragments = 0, other = 0;
  bool end = false;
  uint8_t buf[70000];
  while (!end) {
    pollfd p{rx, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0)
      return "no end within the guard time; got " + std::to_string(ok);
    const auto len = ::recv(rx, buf, sizeof buf, 0);
    if (len < 0)
      continue;
    udp6_datagram d;
    auto r =
      parse_udp6_frame(buf, static_cast<std::size_t>(len),
                       static_cast<std::size_t>(len), link_layer::none, d);
    if (!r.ok) {
      ++(r.reason == drop_reason::fragment ? fragments : other);
      continue;
    }
    const std::string text(reinterpret_cast<const char*>(d.payload),
                           d.payload_size);
    if (d.dst_port != 5001 || text == "other")
      ++other;
    else if (text == "end")
      end = true;
    else
      ++ok;
  }
  ::close(rx);
  ::close(tx);
  ::close(sink);
  ::close(sink2);
  if (ok != n || other != 0 || fragments < 3)
    return "ok " + std::to_string(ok) + " other " + std::to_string(other)
           + " fragments " + std::to_string(fragments);
  return {};
}

} // namespace

TEST(bpf_filter6, in_the_kernel_only_ruled_ipv6_datagrams_and_fragments_pass) {
  auto o = castor::packet::test::in_private_netns(
    [] { return ipv6_through_the_kernel_filter(); }, 1280);
  if (o.skipped)
    GTEST_SKIP() << "needs CAP_SYS_ADMIN for a private network namespace";
  EXPECT_EQ(o.failure, "");
}
