// The cBPF filter: its semantics through the test interpreter (each rule
// of bpf_filter.hpp, then a randomized comparison against a reference
// predicate), and that the kernel's verifier accepts what we build.

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>

#include "cbpf_interpreter.hpp"
#include "frame_builder.hpp"
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/bpf_filter.hpp"
#include "castor/packet/error.hpp"

using namespace castor::packet;
using castor::packet::test::addr;
using castor::packet::test::build_frame;
using castor::packet::test::frame_spec;
using castor::packet::test::run_cbpf;

namespace {

constexpr uint32_t host = PACKET_HOST;
constexpr uint32_t multicast = PACKET_MULTICAST;
constexpr uint32_t outgoing = PACKET_OUTGOING;

bool passes(const bpf_program& p, const frame_spec& s,
            uint32_t pkttype = multicast) {
  auto f = build_frame(s);
  return run_cbpf(p, f.data(), f.size(), pkttype) != 0;
}

filter_match any_source(const char* group, uint16_t port) {
  return {addr(group), port, std::nullopt};
}

filter_match from(const char* source, const char* group, uint16_t port) {
  return {addr(group), port, addr(source)};
}

frame_spec to(const char* group, uint16_t port,
              const char* source = "10.0.0.1") {
  frame_spec s;
  s.dst_be = addr(group);
  s.dst_port = port;
  s.src_be = addr(source);
  return s;
}

} // namespace

TEST(bpf_filter, no_rules_drops_everything) {
  auto p = build_filter({});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_FALSE(passes(p, to("239.1.1.1", 5001)));
}

TEST(bpf_filter, ruled_group_and_port_pass_whatever_the_pkttype_but_outgoing) {
  auto p = build_filter({any_source("239.1.1.1", 5001)});
  EXPECT_TRUE(passes(p, to("239.1.1.1", 5001), multicast));
  EXPECT_TRUE(passes(p, to("239.1.1.1", 5001), host));
  EXPECT_FALSE(passes(p, to("239.1.1.1", 5001), outgoing));
  auto f = build_frame(to("239.1.1.1", 5001));
  EXPECT_EQ(run_cbpf(p, f.data(), f.size(), multicast), bpf_accept);
}

TEST(bpf_filter, unruled_group_or_port_is_dropped) {
  auto p = build_filter(
    {any_source("239.1.1.1", 5001), any_source("239.1.1.2", 5002)});
  EXPECT_TRUE(passes(p, to("239.1.1.2", 5002)));
  EXPECT_FALSE(passes(p, to("239.1.1.3", 5001)));
  EXPECT_FALSE(passes(p, to("239.1.1.1", 5002))); // ports are per group
  EXPECT_FALSE(passes(p, to("239.1.1.2", 5001)));
  EXPECT_FALSE(passes(p, to("239.1.1.1", 5000)));
}

TEST(bpf_filter, source_specific_rules_check_the_source) {
  auto p = build_filter(
    {from("10.0.0.5", "239.1.1.1", 5001), from("10.0.0.6", "239.1.1.1", 5001)});
  EXPECT_TRUE(passes(p, to("239.1.1.1", 5001, "10.0.0.5")));
  EXPECT_TRUE(passes(p, to("239.1.1.1", 5001, "10.0.0.6")));
  EXPECT_FALSE(passes(p, to("239.1.1.1", 5001, "10.0.0.7")));
  // An any-source rule for the same (group, port) covers every source.
  auto q = build_filter(
    {from("10.0.0.5", "239.1.1.1", 5001), any_source("239.1.1.1", 5001)});
  EXPECT_TRUE(passes(q, to("239.1.1.1", 5001, "10.0.0.7")));
}

TEST(bpf_filter, only_ipv4_udp_passes) {
  auto p = build_filter({any_source("239.1.1.1", 5001)});
  auto s = to("239.1.1.1", 5001);
  s.protocol = 6;
  EXPECT_FALSE(passes(p, s));
  s = to("239.1.1.1", 5001);
  s.version = 6;
  EXPECT_FALSE(passes(p, s));
}

TEST(bpf_filter, fragments_are_dropped_in_the_kernel_by_default) {
  auto p = build_filter({any_source("239.1.1.1", 5001)});
  auto s = to("239.1.1.1", 5001);
  s.flags_fragment = 0x2000; // first fragment: has ports, still dropped
  EXPECT_FALSE(passes(p, s));
  s.flags_fragment = 0x00b9; // a later one
  EXPECT_FALSE(passes(p, s));
  s.flags_fragment = 0x4000; // DF only
  EXPECT_TRUE(passes(p, s));
}

TEST(bpf_filter, fragments_to_ruled_groups_can_be_passed_to_be_counted) {
  filter_options o;
  o.fragments = fragment_policy::count_in_user;
  auto p = build_filter({any_source("239.1.1.1", 5001)}, o);
  auto s = to("239.1.1.1", 9999); // a later fragment has no real port
  s.flags_fragment = 0x00b9;
  EXPECT_TRUE(passes(p, s));
  s = to("239.1.1.9", 5001);
  s.flags_fragment = 0x2000;
  EXPECT_FALSE(passes(p, s));
  EXPECT_FALSE(passes(p, to("239.1.1.1", 9999))); // not a fragment
}

TEST(bpf_filter, ip_options_are_passed_for_the_parser_to_count) {
  auto p = build_filter({any_source("239.1.1.1", 5001)});
  auto s = to("239.1.1.1", 5001);
  s.option_bytes = 12; // the port moves with the header length
  EXPECT_TRUE(passes(p, s));
  s.dst_port = 5002;
  EXPECT_FALSE(passes(p, s));
}

TEST(bpf_filter, ethernet_layout_checks_the_ethertype) {
  filter_options o;
  o.layer = link_layer::ethernet;
  auto p = build_filter({any_source("239.1.1.1", 5001)}, o);
  auto s = to("239.1.1.1", 5001);
  s.layer = link_layer::ethernet;
  EXPECT_TRUE(passes(p, s));
  s.ethertype = 0x86dd;
  EXPECT_FALSE(passes(p, s));
  EXPECT_THROW(
    build_filter({}, filter_options{link_layer::linux_sll,
                                    fragment_policy::drop_in_kernel}),
    std::invalid_argument);
}

TEST(bpf_filter, short_frames_drop_instead_of_reading_past_the_end) {
  auto p = build_filter({any_source("239.1.1.1", 5001)});
  auto f = build_frame(to("239.1.1.1", 5001));
  for (std::size_t cut = 0; cut < 24; ++cut)
    EXPECT_EQ(run_cbpf(p, f.data(), cut, multicast), 0u) << cut;
}

TEST(bpf_filter, same_rule_set_gives_the_same_program) {
  std::vector<filter_match> a{any_source("239.1.1.2", 2),
                              from("10.0.0.1", "239.1.1.1", 1),
                              any_source("239.1.1.1", 3)};
  auto b = a;
  std::reverse(b.begin(), b.end());
  b.push_back(a[0]); // duplicates do not matter
  auto pa = build_filter(a);
  auto pb = build_filter(b);
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].code, pb[i].code);
    EXPECT_EQ(pa[i].k, pb[i].k);
    EXPECT_EQ(pa[i].jt, pb[i].jt);
    EXPECT_EQ(pa[i].jf, pb[i].jf);
  }
}

TEST(bpf_filter, hundreds_of_groups_all_match) {
  std::vector<filter_match> m;
  for (uint32_t i = 0; i < 600; ++i) {
    filter_match x;
    x.group_be = htonl((239u << 24) | (10u << 16) | i);
    x.port = static_cast<uint16_t>(1000 + i);
    m.push_back(x);
  }
  auto p = build_filter(m);
  ASSERT_GT(p.size(), 2000u);
  for (uint32_t i = 0; i < 600; i += 37) {
    frame_spec s;
    s.dst_be = htonl((239u << 24) | (10u << 16) | i);
    s.dst_port = static_cast<uint16_t>(1000 + i);
    EXPECT_TRUE(passes(p, s)) << i;
    s.dst_port = static_cast<uint16_t>(1001 + i);
    EXPECT_FALSE(passes(p, s)) << i;
  }
  frame_spec last;
  last.dst_be = htonl((239u << 24) | (10u << 16) | 599);
  last.dst_port = 1599;
  EXPECT_TRUE(passes(p, last));
}

// The exact program searches the groups as a tree: a frame's cost grows
// with log(groups), not with the groups ruled before its own.
TEST(bpf_filter, a_frame_meets_a_logarithmic_number_of_instructions) {
  std::vector<filter_match> m;
  for (uint32_t i = 0; i < 700; ++i)
    m.push_back(filter_match{htonl((239u << 24) | (30u << 16) | (i * 3)), 5000,
                             std::nullopt});
  auto p = build_exact_filter(m);
  std::size_t worst = 0;
  for (uint32_t i = 0; i < 700 * 3 + 2; ++i) {
    frame_spec s;
    s.dst_be = htonl((239u << 24) | (30u << 16) | i);
    s.dst_port = 5000;
    auto f = build_frame(s);
    std::size_t steps = 0;
    const bool pass = run_cbpf(p, f.data(), f.size(), multicast, &steps) != 0;
    EXPECT_EQ(pass, i % 3 == 0 && i < 2100) << i;
    worst = std::max(worst, steps);
  }
  // Preamble (~14) + log2(700 / 4) (~8) + a leaf of 4 groups (~8) + the
  // block; a chain would run up to ~1,400 instructions.
  EXPECT_LT(worst, 50u);
}

TEST(bpf_filter, a_group_with_hundreds_of_ports_needs_long_jumps) {
  // 300 ports in one group and 100 source-specific ports in another: the
  // blocks are longer than a conditional jump can skip.
  std::vector<filter_match> m;
  for (uint16_t port = 1; port <= 300; ++port)
    m.push_back({addr("239.1.1.1"), port, std::nullopt});
  for (uint16_t port = 1; port <= 100; ++port)
    m.push_back({addr("239.1.1.2"), port, addr("10.0.0.9")});
  m.push_back({addr("239.1.1.3"), 7, std::nullopt});
  auto p = build_filter(m);
  bool long_jump = false;
  for (const auto& in : p)
    long_jump |= in.code == (BPF_JMP | BPF_JA) && in.k > 255;
  EXPECT_TRUE(long_jump);
  for (uint16_t port : {1, 150, 300}) {
    EXPECT_TRUE(passes(p, to("239.1.1.1", port))) << port;
    EXPECT_FALSE(passes(p, to("239.1.1.2", port))) << port;
  }
  EXPECT_FALSE(passes(p, to("239.1.1.1", 301)));
  EXPECT_TRUE(passes(p, to("239.1.1.2", 100, "10.0.0.9")));
  EXPECT_FALSE(passes(p, to("239.1.1.2", 101, "10.0.0.9")));
  EXPECT_TRUE(passes(p, to("239.1.1.3", 7))); // after both long blocks
  EXPECT_FALSE(passes(p, to("239.1.1.4", 7)));
}

TEST(bpf_filter, too_many_rules_is_an_error_not_a_bad_program) {
  std::vector<filter_match> m;
  for (uint32_t i = 0; i < 2000; ++i)
    m.push_back(filter_match{htonl((239u << 24) | i), 1, std::nullopt});
  EXPECT_THROW(build_exact_filter(m), std::length_error);
}

// The defect of issue 15: about 640 groups on one interface made the
// filter unbuildable, the forwarder crash-looped and the relay exited.
// Beyond what an exact program can hold, the filter passes the ruled ports
// and leaves the group to the forwarder's table: every ruled frame passes.
TEST(bpf_filter, ten_thousand_rules_on_one_interface_still_pass_every_rule) {
  std::vector<filter_match> m;
  for (uint32_t i = 0; i < 10000; ++i)
    m.push_back(filter_match{
      htonl((239u << 24) | (20u << 16) | i),
      static_cast<uint16_t>(5000 + i % 4),
      i % 5 ? std::nullopt : std::optional<uint32_t>(addr("10.0.0.9"))});
  filter_tier tier = filter_tier::exact;
  bpf_program p;
  ASSERT_NO_THROW(p = build_filter(m, {}, &tier));
  EXPECT_LE(p.size(), static_cast<std::size_t>(BPF_MAXINSNS));
  EXPECT_EQ(tier, filter_tier::ports);
  for (uint32_t i = 0; i < 10000; i += 97) {
    frame_spec s;
    s.dst_be = m[i].group_be;
    s.dst_port = m[i].port;
    s.src_be = addr("10.0.0.9");
    EXPECT_TRUE(passes(p, s)) << i;
  }
  // An unruled port, other protocols, fragments and our own output still
  // stay in the kernel; an unruled group on a ruled port passes (the
  // forwarder counts it as no_rule).
  EXPECT_FALSE(passes(p, to("239.20.0.1", 4999)));
  EXPECT_TRUE(passes(p, to("239.99.0.1", 5000)));
  EXPECT_FALSE(passes(p, to("239.20.0.1", 5000), outgoing));
  auto tcp = to("239.20.0.1", 5000);
  tcp.protocol = 6;
  EXPECT_FALSE(passes(p, tcp));
  auto frag = to("239.20.0.1", 5000);
  frag.flags_fragment = 0x2000;
  EXPECT_FALSE(passes(p, frag));
}

TEST(bpf_filter, rules_that_fit_keep_the_exact_program) {
  std::vector<filter_match> m;
  for (uint32_t i = 0; i < 600; ++i)
    m.push_back(filter_match{htonl((239u << 24) | i), 1, std::nullopt});
  filter_tier tier = filter_tier::udp;
  const auto chosen = build_filter(m, {}, &tier);
  const auto exact = build_exact_filter(m);
  EXPECT_EQ(tier, filter_tier::exact);
  ASSERT_EQ(chosen.size(), exact.size());
  for (std::size_t i = 0; i < exact.size(); ++i) {
    EXPECT_EQ(chosen[i].code, exact[i].code);
    EXPECT_EQ(chosen[i].k, exact[i].k);
    EXPECT_EQ(chosen[i].jt, exact[i].jt);
    EXPECT_EQ(chosen[i].jf, exact[i].jf);
  }
}

TEST(bpf_filter, too_many_ports_for_a_port_list_pass_all_udp) {
  std::vector<filter_match> m;
  for (uint32_t i = 0; i < 10000; ++i)
    m.push_back(filter_match{htonl((239u << 24) | i),
                             static_cast<uint16_t>(1 + i), std::nullopt});
  filter_tier tier = filter_tier::exact;
  auto p = build_filter(m, {}, &tier);
  EXPECT_EQ(tier, filter_tier::udp);
  EXPECT_LE(p.size(), static_cast<std::size_t>(BPF_MAXINSNS));
  EXPECT_TRUE(passes(p, to("239.0.39.15", 10000)));
  EXPECT_TRUE(passes(p, to("239.0.0.1", 60000)));
  EXPECT_FALSE(passes(p, to("239.0.0.1", 2), outgoing));
  auto frag = to("239.0.0.1", 2);
  frag.flags_fragment = 0x0010;
  EXPECT_FALSE(passes(p, frag));
}

TEST(bpf_filter, the_kernel_accepts_every_tier) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  for (uint32_t ports : {1u, 1000u, 10000u}) {
    std::vector<filter_match> m;
    for (uint32_t i = 0; i < 10000; ++i)
      m.push_back(filter_match{htonl((239u << 24) | i),
                               static_cast<uint16_t>(1 + i % ports),
                               std::nullopt});
    EXPECT_NO_THROW(attach_filter(fd, build_filter(m))) << ports;
  }
  ::close(fd);
}

// What the capture socket must not relay (issue 15), in every tier: a
// frame for another host, this host's own output, a frame the kernel moved
// from an upper (VLAN) device, a tagged frame.
namespace {

constexpr unsigned input_ifindex = 7;

struct tier_case {
  filter_tier tier;
  bpf_program program;
  frame_spec ruled; ///< a frame the program passes when it is the input's
};

std::vector<tier_case> every_tier(const filter_options& o) {
  std::vector<tier_case> out;
  filter_tier t = filter_tier::exact;
  auto p = build_filter({any_source("239.1.1.1", 5001)}, o, &t);
  out.push_back({t, p, to("239.1.1.1", 5001)});
  std::vector<filter_match> few_ports;
  std::vector<filter_match> many_ports;
  for (uint32_t i = 0; i < 10000; ++i) {
    const uint32_t group = htonl((239u << 24) | (20u << 16) | i);
    few_ports.push_back({group, static_cast<uint16_t>(5000 + i % 4), {}});
    many_ports.push_back({group, static_cast<uint16_t>(1 + i), {}});
  }
  p = build_filter(few_ports, o, &t);
  out.push_back({t, p, to("239.20.0.1", 5001)});
  p = build_filter(many_ports, o, &t);
  out.push_back({t, p, to("239.20.0.1", 2)});
  return out;
}

bool passes_as(const bpf_program& p, const frame_spec& s,
               const castor::packet::test::frame_meta& meta) {
  auto f = build_frame(s);
  return run_cbpf(p, f.data(), f.size(), meta) != 0;
}

} // namespace

TEST(bpf_filter, only_frames_the_wire_brought_to_this_host_pass) {
  for (const auto& c : every_tier({})) {
    SCOPED_TRACE(to_string(c.tier));
    castor::packet::test::frame_meta m;
    for (uint32_t t : {PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST}) {
      m.pkttype = t;
      EXPECT_TRUE(passes_as(c.program, c.ruled, m)) << t;
    }
    // Another host's (promiscuous mode, a bridge port, a VLAN with no
    // sub-interface here), and this host's own output.
    for (uint32_t t : {PACKET_OTHERHOST, PACKET_OUTGOING, PACKET_LOOPBACK}) {
      m.pkttype = t;
      EXPECT_FALSE(passes_as(c.program, c.ruled, m)) << t;
    }
  }
}

TEST(bpf_filter, a_tagged_frame_is_dropped_in_every_tier) {
  for (const auto& c : every_tier({})) {
    SCOPED_TRACE(to_string(c.tier));
    castor::packet::test::frame_meta m;
    m.pkttype = PACKET_MULTICAST;
    EXPECT_TRUE(passes_as(c.program, c.ruled, m));
    m.vlan_tag_present = 1;
    EXPECT_FALSE(passes_as(c.program, c.ruled, m));
  }
}

TEST(bpf_filter, a_frame_of_another_interface_is_dropped_in_every_tier) {
  filter_options o;
  o.ifindex = input_ifindex;
  const auto tiers = every_tier(o);
  ASSERT_EQ(tiers.size(), 3u);
  EXPECT_EQ(tiers[0].tier, filter_tier::exact);
  EXPECT_EQ(tiers[1].tier, filter_tier::ports);
  EXPECT_EQ(tiers[2].tier, filter_tier::udp);
  for (const auto& c : tiers) {
    SCOPED_TRACE(to_string(c.tier));
    castor::packet::test::frame_meta m;
    m.pkttype = PACKET_MULTICAST;
    m.ifindex = input_ifindex;
    EXPECT_TRUE(passes_as(c.program, c.ruled, m));
    // eth0.100's frame, handed to the socket bound to eth0 too.
    m.ifindex = input_ifindex + 1;
    EXPECT_FALSE(passes_as(c.program, c.ruled, m));
  }
  // Without an interface the check is left out.
  castor::packet::test::frame_meta m;
  m.ifindex = 12345;
  for (const auto& c : every_tier({}))
    EXPECT_TRUE(passes_as(c.program, c.ruled, m)) << to_string(c.tier);
}

// The checks cost instructions in every program; at 10,000 rules every
// tier still fits the kernel's limit, and the kernel takes each.
TEST(bpf_filter, the_checks_keep_every_tier_within_the_kernel_limit) {
  filter_options o;
  o.ifindex = input_ifindex;
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  for (const auto& c : every_tier(o)) {
    EXPECT_LE(c.program.size(), static_cast<std::size_t>(BPF_MAXINSNS))
      << to_string(c.tier);
    EXPECT_NO_THROW(attach_filter(fd, c.program)) << to_string(c.tier);
  }
  ::close(fd);
}

// Reference semantics, written from the header's contract rather than the
// builder's code: the randomized test compares the two on many frames.
namespace {

bool reference(const std::vector<filter_match>& rules, const frame_spec& s,
               uint32_t pkttype) {
  if (pkttype > PACKET_MULTICAST || s.version != 4 || s.protocol != 17
      || (s.flags_fragment & 0x3fff) != 0)
    return false;
  for (const auto& r : rules)
    if (r.group_be == s.dst_be && r.port == s.dst_port
        && (!r.source_be || *r.source_be == s.src_be))
      return true;
  return false;
}

} // namespace

TEST(bpf_filter, agrees_with_the_reference_on_random_frames_and_rules) {
  std::mt19937 rng(12345); // fixed seed: a failure reproduces
  const char* groups[] = {"239.1.1.1", "239.1.1.2", "239.9.9.9"};
  const char* sources[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};
  const uint16_t ports[] = {5001, 5002, 6000};
  auto pick = [&](auto& arr) {
    return arr[rng() % (sizeof arr / sizeof arr[0])];
  };
  int passed = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<filter_match> rules;
    const int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      filter_match r{addr(pick(groups)), pick(ports), std::nullopt};
      if (rng() % 2)
        r.source_be = addr(pick(sources));
      rules.push_back(r);
    }
    auto prog = build_filter(rules);
    for (int k = 0; k < 50; ++k) {
      frame_spec s;
      s.dst_be = addr(pick(groups));
      s.src_be = addr(pick(sources));
      s.dst_port = pick(ports);
      s.protocol = rng() % 8 ? 17 : 6;
      s.version = rng() % 16 ? 4 : 6;
      s.flags_fragment = rng() % 8 ? 0x4000 : (rng() % 2 ? 0x2000 : 0x0010);
      s.option_bytes = rng() % 8 ? 0 : 8;
      const uint32_t types[] = {PACKET_HOST,      PACKET_MULTICAST,
                                PACKET_OUTGOING,  PACKET_OTHERHOST,
                                PACKET_BROADCAST, PACKET_LOOPBACK};
      const uint32_t type = pick(types);
      const bool want = reference(rules, s, type);
      passed += want;
      ASSERT_EQ(passes(prog, s, type), want)
        << "round " << round << " frame " << k;
    }
  }
  EXPECT_GT(passed, 100); // the generator does exercise the accept path
}

TEST(bpf_filter, kernel_accepts_and_replaces_our_programs) {
  // Any socket takes SO_ATTACH_FILTER, and the kernel checks the program
  // (jump targets, ancillary loads) when it is attached.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  std::vector<filter_match> m;
  for (uint32_t i = 0; i < 400; ++i)
    m.push_back(
      filter_match{htonl((239u << 24) | (i % 7)), static_cast<uint16_t>(i),
                   i % 3 ? std::nullopt : std::optional<uint32_t>(htonl(i))});
  EXPECT_NO_THROW(attach_filter(fd, build_filter(m)));
  filter_options o;
  o.layer = link_layer::ethernet;
  o.fragments = fragment_policy::count_in_user;
  EXPECT_NO_THROW(attach_filter(fd, build_filter(m, o)));
  EXPECT_NO_THROW(attach_filter(fd, build_filter({})));
  // A broken program is refused with an io_error naming the option.
  bpf_program broken{{BPF_JMP | BPF_JA, 0, 0, 5}};
  try {
    attach_filter(fd, broken);
    ADD_FAILURE() << "the kernel took a jump past the end";
  } catch (const io_error& e) {
    EXPECT_EQ(e.code(), EINVAL);
    EXPECT_NE(std::string(e.what()).find("SO_ATTACH_FILTER"),
              std::string::npos);
  }
  ::close(fd);
}
