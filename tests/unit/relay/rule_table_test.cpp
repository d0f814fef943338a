// The forwarder's rule table (lookup, egress sharing, filter matches) and
// the merging of per-worker counters into the stats reply.

#include "control/stats_view.hpp"
#include "dataplane/rule_table.hpp"
#include "model/counters.hpp"
#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace castor::relay {
namespace {

ipv4 ip(const char* text) {
  return *ipv4::parse(text);
}

rule_output output(const char* itf, const char* addr, uint16_t port,
                   uint8_t ttl = 1, uint8_t tos = 0) {
  rule_output o;
  o.interface = itf;
  o.address = ip(addr);
  o.port = port;
  o.ttl = ttl;
  o.tos = tos;
  return o;
}

rule make_rule(std::string name, const char* itf, const char* group,
               uint16_t port, std::vector<rule_output> outs,
               const char* source = nullptr) {
  rule r;
  r.name = std::move(name);
  r.input.interface = itf;
  r.input.group = ip(group);
  r.input.port = port;
  if (source != nullptr)
    r.input.source = ip(source);
  r.outputs = std::move(outs);
  return r;
}

// eth1 and eth2 exist; anything else does not.
unsigned fake_index(const std::string& name) {
  return name == "eth1" ? 11 : name == "eth2" ? 12 : 0;
}

std::shared_ptr<const rule_table> build(const std::vector<rule>& rules,
                                        const std::string& itf = "eth0") {
  return rule_table::build(rules, itf, 7, fake_index);
}

uint32_t be(const char* text) {
  return ip(text).be;
}

TEST(rule_table, finds_the_rule_of_a_group_and_port_only) {
  auto t = build({make_rule("a", "eth0", "239.1.1.1", 5001,
                            {output("eth1", "239.2.2.2", 6001)}),
                  make_rule("b", "eth0", "239.1.1.2", 5001,
                            {output("eth1", "239.2.2.3", 6001)})});
  ASSERT_EQ(t->rules().size(), 2u);
  EXPECT_EQ(t->epoch(), 7u);
  const auto a = t->find(be("239.1.1.1"), 5001, be("10.0.0.1"));
  const auto b = t->find(be("239.1.1.2"), 5001, be("10.0.0.1"));
  ASSERT_NE(a, rule_table::no_rule);
  ASSERT_NE(b, rule_table::no_rule);
  EXPECT_EQ(t->rules()[a].spec.name, "a");
  EXPECT_EQ(t->rules()[b].spec.name, "b");
  EXPECT_EQ(t->find(be("239.1.1.1"), 5002, be("10.0.0.1")),
            rule_table::no_rule);
  EXPECT_EQ(t->find(be("239.1.1.3"), 5001, be("10.0.0.1")),
            rule_table::no_rule);
}

TEST(rule_table, ignores_rules_of_other_input_interfaces) {
  auto t = build({make_rule("a", "eth9", "239.1.1.1", 5001,
                            {output("eth1", "239.2.2.2", 6001)})});
  EXPECT_TRUE(t->rules().empty());
  EXPECT_TRUE(t->filter_matches().empty());
  EXPECT_EQ(t->find(be("239.1.1.1"), 5001, 0), rule_table::no_rule);
}

TEST(rule_table, a_matching_source_specific_rule_wins_over_any_source) {
  auto t = build({make_rule("any", "eth0", "239.1.1.1", 5001,
                            {output("eth1", "239.2.2.2", 6001)}),
                  make_rule("ssm", "eth0", "239.1.1.1", 5001,
                            {output("eth2", "239.2.2.2", 6001)}, "10.0.0.5")});
  const auto from_s = t->find(be("239.1.1.1"), 5001, be("10.0.0.5"));
  const auto from_other = t->find(be("239.1.1.1"), 5001, be("10.0.0.6"));
  ASSERT_NE(from_s, rule_table::no_rule);
  ASSERT_NE(from_other, rule_table::no_rule);
  EXPECT_EQ(t->rules()[from_s].spec.name, "ssm");
  EXPECT_EQ(t->rules()[from_other].spec.name, "any");
}

TEST(rule_table, a_source_specific_rule_alone_refuses_other_sources) {
  auto t = build({make_rule("ssm", "eth0", "232.1.1.1", 5001,
                            {output("eth1", "239.2.2.2", 6001)}, "10.0.0.5")});
  EXPECT_NE(t->find(be("232.1.1.1"), 5001, be("10.0.0.5")),
            rule_table::no_rule);
  EXPECT_EQ(t->find(be("232.1.1.1"), 5001, be("10.0.0.6")),
            rule_table::no_rule);
  auto m = t->filter_matches();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].group_be, be("232.1.1.1"));
  EXPECT_EQ(m[0].port, 5001);
  ASSERT_TRUE(m[0].source_be.has_value());
  EXPECT_EQ(*m[0].source_be, be("10.0.0.5"));
}

TEST(rule_table, outputs_share_an_egress_only_with_equal_socket_options) {
  auto t = build({make_rule("a", "eth0", "239.1.1.1", 5001,
                            {output("eth1", "239.2.2.2", 6001),
                             output("eth1", "10.9.9.9", 7000),
                             output("eth1", "239.2.2.4", 6001, 4),
                             output("eth2", "239.2.2.2", 6001)}),
                  make_rule("b", "eth0", "239.1.1.2", 5001,
                            {output("eth1", "239.3.3.3", 6001, 1, 184)})});
  const auto& outs = t->outputs();
  ASSERT_EQ(outs.size(), 5u);
  EXPECT_EQ(t->egresses().size(), 4u);
  EXPECT_EQ(outs[0].egress, outs[1].egress); // same interface, TTL, TOS
  EXPECT_NE(outs[0].egress, outs[2].egress); // TTL differs
  EXPECT_NE(outs[0].egress, outs[3].egress); // interface differs
  EXPECT_NE(outs[0].egress, outs[4].egress); // TOS differs
  EXPECT_EQ(t->egresses()[outs[2].egress].ttl, 4);
  EXPECT_EQ(t->egresses()[outs[3].egress].ifindex, 12u);
  EXPECT_EQ(t->egresses()[outs[4].egress].tos, 184);
  EXPECT_EQ(outs[1].destination.v4.sin_addr.s_addr, be("10.9.9.9"));
  EXPECT_EQ(ntohs(outs[1].destination.v4.sin_port), 7000);
  EXPECT_EQ(t->rules()[1].first_output, 4u);
  EXPECT_EQ(t->rules()[1].output_count, 1u);
  EXPECT_NE(outs[0].key, outs[1].key);
}

TEST(rule_table, per_datagram_ttl_and_tos_share_an_egress_per_source_port) {
  // ttl = "decrement" and tos = "preserve" are not socket options: their
  // outputs share one egress of an interface whatever values the datagrams
  // carry, apart from those with numeric options; a configured source port
  // is a socket of its own.
  auto marked = [](const char* addr, bool decrement, bool preserve,
                   uint16_t source_port = 0) {
    auto o = output("eth1", addr, 6001);
    o.ttl_decrement = decrement;
    o.tos_preserve = preserve;
    o.source_port = source_port;
    return o;
  };
  auto t = build({make_rule(
    "a", "eth0", "239.1.1.1", 5001,
    {marked("239.2.2.1", true, false), marked("239.2.2.2", true, true),
     marked("239.2.2.3", false, true), output("eth1", "239.2.2.4", 6001),
     marked("239.2.2.5", true, true, 4000),
     marked("239.2.2.6", false, false, 4000)})});
  const auto& outs = t->outputs();
  const auto& eg = t->egresses();
  EXPECT_EQ(outs[0].egress, outs[1].egress);
  EXPECT_EQ(outs[1].egress, outs[2].egress);
  EXPECT_TRUE(eg[outs[0].egress].marks);
  EXPECT_NE(outs[0].egress, outs[3].egress); // numeric: socket options
  EXPECT_FALSE(eg[outs[3].egress].marks);
  EXPECT_NE(outs[1].egress, outs[4].egress); // its own source port
  EXPECT_EQ(eg[outs[4].egress].source_port, 4000);
  EXPECT_NE(outs[4].egress, outs[5].egress); // same port, numeric options
  EXPECT_EQ(eg[outs[5].egress].source_port, 4000);
  EXPECT_EQ(eg[outs[3].egress].source_port, 0) << "0: the shared port";
  EXPECT_EQ(eg.size(), 4u);
}

TEST(rule_table, an_output_on_a_missing_interface_is_unusable) {
  auto t = build({make_rule(
    "a", "eth0", "239.1.1.1", 5001,
    {output("gone0", "239.2.2.2", 6001), output("eth1", "239.2.2.2", 6001)})});
  ASSERT_EQ(t->outputs().size(), 2u);
  EXPECT_FALSE(t->outputs()[0].usable);
  EXPECT_TRUE(t->outputs()[1].usable);
  EXPECT_EQ(t->egresses().size(), 1u);
}

// -- counters -------------------------------------------------------------------

output_snapshot out_snap(std::string key, uint64_t packets,
                         uint64_t queue_full = 0) {
  output_snapshot o;
  o.key = std::move(key);
  o.interface = "eth1";
  o.address = "239.2.2.2";
  o.port = 6001;
  o.packets = packets;
  o.bytes = packets * 100;
  o.drops.queue_full = queue_full;
  return o;
}

TEST(counters, merges_workers_by_rule_name_and_output_key) {
  worker_snapshot w1;
  w1.rules.push_back(
    rule_snapshot{"a", 10, 1000, {out_snap("a|x", 10), out_snap("a|y", 8, 2)}});
  worker_snapshot w2;
  w2.rules.push_back(
    rule_snapshot{"a", 5, 500, {out_snap("a|y", 5), out_snap("a|x", 4, 1)}});
  w2.rules.push_back(rule_snapshot{"b", 1, 100, {out_snap("b|x", 1)}});
  auto stats = merge_rule_stats({w1, w2}, {"b", "a", "c"});
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].name, "b");
  EXPECT_EQ(stats[0].packets, 1u);
  const auto& a = stats[1];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.packets, 15u);
  EXPECT_EQ(a.bytes, 1500u);
  ASSERT_EQ(a.outputs.size(), 2u);
  // Outputs keep the order the first worker reported them in.
  EXPECT_EQ(a.outputs[0].packets, 14u);
  EXPECT_EQ(a.outputs[0].drops.at("queue_full"), 1u);
  EXPECT_EQ(a.outputs[1].packets, 13u);
  EXPECT_EQ(a.outputs[1].drops.at("queue_full"), 2u);
  // A rule's drops are its outputs' drops.
  EXPECT_EQ(a.drops.at("queue_full"), 3u);
  EXPECT_EQ(a.drops.at("send_error"), 0u);
  // A rule nobody reported shows with zeros.
  EXPECT_EQ(stats[2].name, "c");
  EXPECT_EQ(stats[2].packets, 0u);
  EXPECT_TRUE(stats[2].outputs.empty());
}

TEST(counters, a_retired_worker_keeps_counting_in_the_totals) {
  // Two generations of one worker: the first was killed after 10 datagrams
  // on a, the second has seen 5 more and a new output.
  worker_snapshot retired;
  worker_snapshot first;
  first.rules.push_back(rule_snapshot{"a", 10, 1000, {out_snap("a|x", 10)}});
  first.rules.push_back(rule_snapshot{"gone", 7, 700, {out_snap("g|x", 7)}});
  first.ingress.frames = 17;
  accumulate(retired, first);
  accumulate(retired, first); // and once more, killed again
  worker_snapshot second;
  second.rules.push_back(
    rule_snapshot{"a", 5, 500, {out_snap("a|x", 5), out_snap("a|y", 5, 1)}});
  second.ingress.frames = 5;
  auto stats = merge_rule_stats({second, retired}, {"a"});
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].packets, 25u);
  ASSERT_EQ(stats[0].outputs.size(), 2u);
  EXPECT_EQ(stats[0].outputs[0].packets, 25u);
  EXPECT_EQ(stats[0].outputs[1].packets, 5u);
  EXPECT_EQ(merge_ingress_stats({second, retired}).at("frames"), 39u);
  // A removed rule's history is dropped, so that a later rule of the same
  // name starts from zero.
  keep_rules(retired, {"a"});
  ASSERT_EQ(retired.rules.size(), 1u);
  EXPECT_EQ(retired.rules[0].name, "a");
}

TEST(counters, sums_ingress_counters_with_malformed_by_reason) {
  worker_snapshot w1;
  w1.ingress.frames = 10;
  w1.ingress.no_rule = 1;
  w1.ingress.malformed[packet::index(packet::drop_reason::ip_options)] = 2;
  worker_snapshot w2;
  w2.ingress.frames = 5;
  w2.ingress.kernel_drops = 3;
  w2.ingress.malformed[packet::index(packet::drop_reason::ip_options)] = 1;
  w2.ingress.malformed[packet::index(packet::drop_reason::fragment)] = 4;
  auto j = merge_ingress_stats({w1, w2});
  EXPECT_EQ(j.at("frames"), 15u);
  EXPECT_EQ(j.at("no_rule"), 1u);
  EXPECT_EQ(j.at("kernel_drops"), 3u);
  EXPECT_EQ(j.at("malformed").at("ip_options"), 3u);
  EXPECT_EQ(j.at("malformed").at("fragment"), 4u);
  EXPECT_EQ(j.at("malformed").at("truncated"), 0u);
}

} // namespace
} // namespace castor::relay
