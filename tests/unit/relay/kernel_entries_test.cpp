// How rules become the kernel data path's map entries
// (dataplane/kernel_entries.hpp, issues 16 and 19): the bytes the tc
// program reads, in the layout of kernel/relay_maps.h and relay_maps6.h.
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <string>

#include "dataplane/kernel_entries.hpp"
#include "relay_maps6.h"
#include <arpa/inet.h>
#include <gtest/gtest.h>

using namespace castor::relay;

namespace {

ip_addr ip(const char* text) {
  return *ip_addr::parse(text);
}

std::array<uint8_t, 16> bytes(const char* text) {
  return ip(text).bytes;
}

template <class T>
T as(const std::vector<uint8_t>& b) {
  T x{};
  EXPECT_EQ(b.size(), sizeof x);
  std::memcpy(&x, b.data(), std::min(b.size(), sizeof x));
  return x;
}

kernel_link link(unsigned ifindex, const char* addr6, uint8_t hop_limit,
                 unsigned mtu) {
  kernel_link l;
  l.ifindex = ifindex;
  l.up = true;
  if (addr6 != nullptr)
    l.addr6 = bytes(addr6);
  l.hop_limit6 = hop_limit;
  l.mtu = mtu;
  l.mac[5] = static_cast<uint8_t>(ifindex);
  return l;
}

} // namespace

TEST(kernel_entries, an_ipv6_rule_is_keyed_by_group_port_and_source) {
  rule r;
  r.name = "ssm";
  r.input = {"in0", ip("ff3e::1:1"), 5001, ip("fd00:a:32::1")};
  r.outputs.push_back({"out1", ip("ff1e::2"), 6001});
  const auto e =
    encode_rule(r, 7, 3, {11}, {{"out1", link(9, "fd00::9", 64, 1500)}});
  ASSERT_TRUE(e.v6);
  EXPECT_EQ(e.kind, CASTOR_GROUP_SOURCE_SPECIFIC);
  const auto k = as<castor_rule_key6>(e.key);
  EXPECT_EQ(k.ifindex, 7u);
  EXPECT_EQ(k.port, htons(5001));
  EXPECT_EQ(std::memcmp(k.group, bytes("ff3e::1:1").data(), 16), 0);
  EXPECT_EQ(std::memcmp(k.source, bytes("fd00:a:32::1").data(), 16), 0);
  const auto g = as<castor_group_key6>(e.group_key);
  EXPECT_EQ(g.ifindex, 7u);
  EXPECT_EQ(std::memcmp(g.group, k.group, 16), 0);

  r.input.source.reset();
  const auto any = encode_rule(r, 7, 3, {11}, {});
  EXPECT_EQ(any.kind, CASTOR_GROUP_ANY_SOURCE);
  const auto k2 = as<castor_rule_key6>(any.key);
  EXPECT_EQ(std::memcmp(k2.source, std::array<uint8_t, 16>{}.data(), 16), 0);
}

TEST(kernel_entries, ipv6_outputs_send_as_the_packet_paths_sockets_would) {
  rule r;
  r.name = "v6";
  r.input = {"in0", ip("ff1e::1"), 5001, std::nullopt};
  rule_output group{"out1", ip("ff1e::2"), 6001};
  group.ttl = 5;
  group.tos = 0xb8;
  rule_output host{"out2", ip("fd00:2::2"), 7001};
  host.ttl = 1; // IPV6_MULTICAST_HOPS: not a unicast datagram's
  host.ttl_decrement = false;
  host.source_port = 4444;
  rule_output marks{"out1", ip("ff1e::3"), 6003};
  marks.ttl_decrement = true;
  marks.tos_preserve = true;
  rule_output nowhere{"out3", ip("ff1e::4"), 6004}; // no stable address
  r.outputs = {group, host, marks, nowhere};
  const std::map<std::string, kernel_link> links{
    {"out1", link(9, "fd00:1::1", 64, 1500)},
    {"out2", link(10, "2001:db8::1", 17, 1280)},
    {"out3", link(11, nullptr, 64, 1500)},
  };
  const auto e = encode_rule(r, 7, 3, {20, 21, 22, 23}, links);
  const auto v = as<castor_rule_value6>(e.value);
  EXPECT_EQ(v.slot, 3u);
  ASSERT_EQ(v.count, 4u);

  const auto& o0 = v.outputs[0];
  EXPECT_EQ(o0.ifindex, 9u);
  EXPECT_EQ(o0.slot, 20u);
  EXPECT_EQ(std::memcmp(o0.saddr, bytes("fd00:1::1").data(), 16), 0);
  EXPECT_EQ(std::memcmp(o0.daddr, bytes("ff1e::2").data(), 16), 0);
  EXPECT_EQ(o0.dport, htons(6001));
  EXPECT_EQ(o0.hop_limit, 5);
  EXPECT_EQ(o0.tclass, 0xb8);
  EXPECT_EQ(o0.mtu, 1500);
  EXPECT_EQ(o0.flags, CASTOR_OUT_MULTICAST);
  EXPECT_EQ(o0.smac[5], 9);

  // Unicast: the interface's hop limit, not the multicast ttl.
  const auto& o1 = v.outputs[1];
  EXPECT_EQ(o1.ifindex, 10u);
  EXPECT_EQ(std::memcmp(o1.saddr, bytes("2001:db8::1").data(), 16), 0);
  EXPECT_EQ(o1.hop_limit, 17);
  EXPECT_EQ(o1.sport, htons(4444));
  EXPECT_EQ(o1.mtu, 1280);
  EXPECT_EQ(o1.flags, 0);

  const auto& o2 = v.outputs[2];
  EXPECT_EQ(o2.flags,
            CASTOR_OUT_MULTICAST | CASTOR_OUT_TTL_DEC | CASTOR_OUT_TOS_KEEP);
  // The shared source port, the same for every output without one.
  EXPECT_EQ(o2.sport, o0.sport);

  // No stable global or ULA address: the packet path cannot open its
  // egress and counts send_error; the program does for ifindex 0.
  EXPECT_EQ(v.outputs[3].ifindex, 0u);
  EXPECT_EQ(v.outputs[3].slot, 23u);
}

TEST(kernel_entries, an_ipv4_rule_keeps_the_ipv4_layout) {
  rule r;
  r.name = "v4";
  r.input = {"in0", ip("239.1.1.1"), 5001, ip("10.0.0.1")};
  r.outputs.push_back({"out1", ip("239.2.2.2"), 6001});
  kernel_link l = link(9, nullptr, 64, 1500);
  l.addr_be = htonl(0x0a000001);
  const auto e = encode_rule(r, 7, 3, {11}, {{"out1", l}});
  EXPECT_FALSE(e.v6);
  EXPECT_EQ(e.kind, CASTOR_GROUP_SOURCE_SPECIFIC);
  const auto k = as<castor_rule_key>(e.key);
  EXPECT_EQ(k.group, ip("239.1.1.1").v4_be());
  EXPECT_EQ(k.source, ip("10.0.0.1").v4_be());
  const auto v = as<castor_rule_value>(e.value);
  ASSERT_EQ(v.count, 1u);
  EXPECT_EQ(v.outputs[0].saddr, htonl(0x0a000001));
  EXPECT_EQ(v.outputs[0].daddr, ip("239.2.2.2").v4_be());
}
