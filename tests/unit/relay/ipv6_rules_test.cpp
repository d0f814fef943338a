// IPv6 in the relay's rules (issue 19): the config takes IPv6 groups,
// sources and output addresses, mixes families between input and outputs,
// and refuses, naming the rule's field at file:line:col, groups that are
// never relayed (interface-local, link-local, reserved scopes), an SSM
// group (ff3x::/32) without a source, a source of the other family. The
// forwarder's table looks IPv6 inputs up by family, and gives IPv6 outputs
// their own egress sockets and sockaddr_in6 destinations.

#include <set>
#include <string>
#include <vector>

#include "config/config_parser.hpp"
#include "config/config_writer.hpp"
#include "config_test_support.hpp"
#include "dataplane/rule_table.hpp"
#include "model/datapath.hpp"
#include "model/rule_validator.hpp"
#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace castor::relay {
namespace {

using strings = std::vector<std::string>;
using test::errors_of;
using test::messages;

std::string rule_with(const std::string& input, const std::string& output) {
  return "[[rule]]\nname = \"r6\"\ninput = { " + input + " }\noutputs = [ { "
         + output + " } ]\n";
}

ip_addr ip(const char* text) {
  auto a = ip_addr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a ? *a : ip_addr{};
}

TEST(ipv6_rules, addresses_parse_print_and_classify) {
  EXPECT_EQ(ip("ff3e:0:0::1:1").to_string(), "ff3e::1:1");
  EXPECT_TRUE(ip("ff3e::1:1").v6);
  EXPECT_FALSE(ip("239.1.1.1").v6);
  EXPECT_EQ(ip("239.1.1.1").v4_be(), inet_addr("239.1.1.1"));
  EXPECT_TRUE(ip("ff3e::1").is_multicast());
  EXPECT_FALSE(ip("fd00::1").is_multicast());
  EXPECT_TRUE(ip("ff02::1").is_link_local_multicast());
  EXPECT_TRUE(ip("ff01::1").is_link_local_multicast());
  EXPECT_TRUE(ip("ff12::1").is_link_local_multicast());
  EXPECT_TRUE(ip("ff32::1").is_link_local_multicast());
  EXPECT_FALSE(ip("ff05::1").is_link_local_multicast());
  EXPECT_FALSE(ip("ff0e::1").is_link_local_multicast());
  EXPECT_TRUE(ip("ff3e::1:1").is_ssm6());
  EXPECT_TRUE(ip("ff35::8000:1").is_ssm6());
  EXPECT_FALSE(ip("ff3e:40:2001:db8::1").is_ssm6()); // RFC 3306, plen 64
  EXPECT_FALSE(ip("ff1e::1").is_ssm6());
  EXPECT_FALSE(ip("232.1.1.1").is_ssm6());
  EXPECT_FALSE(ip_addr::parse("ff3e::1%eth0").has_value());
  EXPECT_FALSE(ip_addr::parse("[ff3e::1]").has_value());
  EXPECT_NE(ip("::1"), ip("0.0.0.1"));
}

TEST(ipv6_rules, ipv6_and_mixed_family_rules_are_accepted) {
  const auto text =
    rule_with(R"(interface = "in0", group = "ff3e::1:1", port = 5001, )"
              R"(source = "fd00:1::2")",
              R"(interface = "out0", address = "ff3e::2:1", port = 6001, )"
              R"(ttl = "decrement", tos = "preserve")")
    + R"([[rule]]
name = "v4-to-v6"
input = { interface = "in0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "out0", address = "ff1e::7", port = 6001, ttl = 4 },
            { interface = "out1", address = "fd00:2::9", port = 6002 } ]
[[rule]]
name = "v6-to-v4"
input = { interface = "in0", group = "ff05::1:3", port = 5003 }
outputs = [ { interface = "out0", address = "239.2.2.2", port = 6003 } ]
)";
  auto res = parse_config_string(text, "relay.toml");
  ASSERT_TRUE(res.ok()) << ::testing::PrintToString(messages(res));
  ASSERT_EQ(res.config.rules.size(), 3u);
  auto& r = res.config.rules[0];
  EXPECT_EQ(r.input.group.to_string(), "ff3e::1:1");
  ASSERT_TRUE(r.input.source.has_value());
  EXPECT_EQ(r.input.source->to_string(), "fd00:1::2");
  EXPECT_TRUE(r.outputs[0].ttl_decrement);
  EXPECT_TRUE(r.outputs[0].tos_preserve);
  EXPECT_TRUE(res.config.rules[1].outputs[0].address.v6);
  EXPECT_FALSE(res.config.rules[1].input.group.v6);
  EXPECT_FALSE(res.config.rules[2].outputs[0].address.v6);
  EXPECT_EQ(to_string(r.input), "in0 [ff3e::1:1]:5001 source fd00:1::2");
  // The writer's text reads back as the same rules.
  auto again = parse_config_string(write_config(res.config), "again.toml");
  ASSERT_TRUE(again.ok()) << ::testing::PrintToString(messages(again));
  EXPECT_EQ(again.config.rules, res.config.rules);
}

TEST(ipv6_rules, link_local_and_interface_local_groups_are_never_relayed) {
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff02::fb", port = 5353)",
                        R"(interface = "out0", address = "ff3e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:38: input.group: ff02::fb is a link-local group "
             "(scope 2, ff02::/16), which is never relayed"}));
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff01::1:5", port = 5)",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:38: input.group: ff01::1:5 is an interface-local "
             "group (scope 1, ff01::/16), which never leaves the host and "
             "is never relayed"}));
  // The flags do not matter: ff12:: is link-local too.
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff12::4", port = 5)",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:38: input.group: ff12::4 is a link-local group "
             "(scope 2, ff02::/16), which is never relayed"}));
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff0f::4", port = 5)",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:38: input.group: ff0f::4 is a group of reserved "
             "scope 15, which is never relayed"}));
  // Nor sent to.
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff0e::4", port = 5)",
                        R"(interface = "out0", address = "ff02::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:4:45: outputs[0].address: ff02::1 is a link-local "
             "group (scope 2, ff02::/16), which is never relayed"}));
}

TEST(ipv6_rules, an_ssm_group_needs_a_source_and_a_source_its_family) {
  // RFC 4607 §3 / RFC 4604 §2.2.1: no any-source join of an SSM group.
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff3e::1:1", port = 5)",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:38: input.group: ff3e::1:1 is a source-specific "
             "multicast group (ff3x::/32, RFC 4607), which needs a source: "
             "add input.source"}));
  // A source on a group outside ff3x::/32 is MLDv2 source filtering: fine.
  EXPECT_TRUE(
    errors_of(rule_with(R"(interface = "in0", group = "ff0e::1:1", port = 5, )"
                        R"(source = "fd00::2")",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)"))
      .empty());
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff3e::1:1", port = 5, )"
                        R"(source = "10.0.0.2")",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:70: input.source: 10.0.0.2 is an IPv4 address and "
             "the group ff3e::1:1 is not; a source filter is of the group's "
             "family"}));
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff3e::1:1", port = 5, )"
                        R"(source = "ff0e::9")",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:70: input.source: ff0e::9 is not a unicast "
             "address; a source filter names the sender's unicast address"}));
}

TEST(ipv6_rules, other_ipv6_mistakes_name_the_field) {
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "fd00::1", port = 5)",
                        R"(interface = "out0", address = "::", port = 6001)")),
    (strings{"relay.toml:3:38: input.group: fd00::1 is not a multicast group "
             "(ff00::/8)",
             "relay.toml:4:45: outputs[0].address: :: is not a destination"}));
  EXPECT_EQ(
    errors_of(rule_with(R"(interface = "in0", group = "ff3e::1::2", port = 5)",
                        R"(interface = "out0", address = "ff0e::1", )"
                        R"(port = 6001)")),
    (strings{"relay.toml:3:38: input.group: 'ff3e::1::2' is not an IP "
             "address (expected an IPv4 dotted quad such as 239.1.1.1 or an "
             "IPv6 address such as ff3e::1:1)"}));
}

TEST(ipv6_rules, the_kernel_path_serves_one_family_and_leaves_mixed_ones) {
  relay_settings s;
  s.datapath = datapath_mode::kernel;
  rule r;
  r.name = "r";
  r.input = {"in0", ip("ff0e::1"), 5001, ip("fd00::5")};
  r.outputs.push_back({"out0", ip("ff0e::2"), 6001});
  r.outputs.push_back({"out1", ip("fd00:1::2"), 6001});
  EXPECT_EQ(kernel_refusal(r, s), "");
  // Two unicast outputs: the same limit as for IPv4.
  r.outputs.push_back({"out2", ip("fd00:2::2"), 6001});
  EXPECT_EQ(kernel_refusal(r, s),
            "more than one unicast output (the tc program resolves the "
            "neighbour of one per datagram)");
  r.outputs.pop_back();
  r.outputs.push_back({"out0", ip("239.2.2.2"), 6001});
  EXPECT_EQ(kernel_refusal(r, s), "mixed address families (IPv6 in, IPv4 out)");
  r.input = {"in0", ip("239.1.1.1"), 5001, std::nullopt};
  r.outputs = {{"out0", ip("239.2.2.2"), 6001}, {"out0", ip("ff0e::2"), 6001}};
  EXPECT_EQ(kernel_refusal(r, s), "mixed address families (IPv4 in, IPv6 out)");
  // A mixed rule takes its IPv6 neighbours of the same group and port
  // along to the packet path, as any refused rule does.
  rule same = r;
  same.name = "same";
  same.outputs = {{"out0", ip("239.2.2.3"), 6001}};
  const auto why = kernel_refusals({r, same}, s);
  EXPECT_EQ(why[1], "shares its input group and port with rule r (mixed "
                    "address families (IPv4 in, IPv6 out))");
}

rule mixed_rule(std::string name, const char* group, uint16_t port,
                std::vector<rule_output> outs, const char* source = nullptr) {
  rule r;
  r.name = std::move(name);
  r.input.interface = "in0";
  r.input.group = ip(group);
  r.input.port = port;
  if (source != nullptr)
    r.input.source = ip(source);
  r.outputs = std::move(outs);
  return r;
}

// find6 searches keys held as two 64-bit words: groups that differ in
// either half only, in the first or the last byte of each, are all found
// (a search on one half would miss them), the others are not, and the
// kernel filter gets back the same bytes.
TEST(ipv6_rules, the_table_finds_every_ipv6_group_among_many) {
  auto resolve = [](const std::string&) { return 7u; };
  const std::vector<std::string> groups{
    "ff0e::1",        "ff0e::100",       "ff0e::1:0",      "ff0e::100:0",
    "ff0e::1:0:0",    "ff0e:0:0:1::",    "ff0e:0:0:100::", "ff0e:0:1::",
    "ff0e:1::",       "ff0e:100::",      "ff1e::1",        "ff3e::8000:1",
    "ff1e::ff00:0:1", "ff1e:ffff::ffff", "ff0e::ff",       "ff0e::ff00"};
  std::vector<rule> rules;
  for (std::size_t i = 0; i < groups.size(); ++i)
    rules.push_back(mixed_rule(
      "g" + std::to_string(i), groups[i].c_str(),
      static_cast<uint16_t>(5000 + i % 2), {{"out0", ip("ff0e::2"), 6001}},
      groups[i].rfind("ff3e", 0) == 0 ? "fd00::5" : nullptr));
  auto t = rule_table::build(rules, "in0", 1, resolve);
  auto b = [](const std::string& text) { return ip(text.c_str()).bytes; };
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto port = static_cast<uint16_t>(5000 + i % 2);
    const auto r = t->find6(b(groups[i]), port, b("fd00::5"));
    ASSERT_NE(r, rule_table::no_rule) << groups[i];
    EXPECT_EQ(t->rules()[r].spec.name, "g" + std::to_string(i)) << groups[i];
    EXPECT_EQ(
      t->find6(b(groups[i]), static_cast<uint16_t>(port + 2), b("fd00::5")),
      rule_table::no_rule)
      << groups[i];
  }
  for (const char* absent : {"ff0e::2", "ff0e::101", "ff0e:2::", "ff1e::",
                             "ff0e:100::1", "ff3e::8000:2"})
    for (uint16_t port : {5000, 5001})
      EXPECT_EQ(t->find6(b(absent), port, b("fd00::5")), rule_table::no_rule)
        << absent;
  std::set<std::array<uint8_t, 16>> filtered;
  for (const auto& m : t->filter_matches6())
    filtered.insert(m.group);
  std::set<std::array<uint8_t, 16>> expected;
  for (const auto& g : groups)
    expected.insert(b(g));
  EXPECT_EQ(filtered, expected);
}

TEST(ipv6_rules, the_table_looks_up_by_family) {
  auto resolve = [](const std::string& name) {
    return name == "out0" ? 7u : name == "out1" ? 8u : 0u;
  };
  std::vector<rule> rules{
    mixed_rule("v6-any", "ff0e::1:1", 5001, {{"out0", ip("239.2.2.2"), 6001}}),
    mixed_rule("v6-ssm", "ff3e::1:1", 5001, {{"out0", ip("ff0e::2"), 6001}},
               "fd00::5"),
    mixed_rule("v6-filtered", "ff0e::1:1", 5001,
               {{"out1", ip("fe80::9"), 6002}}, "fd00::6"),
    mixed_rule("v4", "239.1.1.1", 5001, {{"out0", ip("ff0e::3"), 6003}}),
  };
  auto t = rule_table::build(rules, "in0", 1, resolve);
  auto name_of = [&](uint32_t r) {
    return r == rule_table::no_rule ? std::string{"none"}
                                    : t->rules()[r].spec.name;
  };
  auto b = [](const char* text) { return ip(text).bytes; };
  EXPECT_EQ(name_of(t->find6(b("ff0e::1:1"), 5001, b("fd00::9"))), "v6-any");
  EXPECT_EQ(name_of(t->find6(b("ff0e::1:1"), 5001, b("fd00::6"))),
            "v6-filtered");
  EXPECT_EQ(name_of(t->find6(b("ff3e::1:1"), 5001, b("fd00::5"))), "v6-ssm");
  EXPECT_EQ(name_of(t->find6(b("ff3e::1:1"), 5001, b("fd00::4"))), "none");
  EXPECT_EQ(name_of(t->find6(b("ff0e::1:1"), 5002, b("fd00::9"))), "none");
  // The IPv4 lookup sees the IPv4 rules only, and the reverse.
  EXPECT_EQ(name_of(t->find(inet_addr("239.1.1.1"), 5001, 0)), "v4");
  EXPECT_EQ(name_of(t->find6(b("::ffff:239.1.1.1"), 5001, b("fd00::9"))),
            "none");
  EXPECT_TRUE(t->has_ipv4_inputs());
  EXPECT_TRUE(t->has_ipv6_inputs());
  EXPECT_EQ(t->filter_matches().size(), 1u);
  ASSERT_EQ(t->filter_matches6().size(), 3u);

  // Outputs: an IPv6 one has its own egress socket (ipv6) and a
  // sockaddr_in6; a link-local unicast one is scoped to its interface.
  const auto& outs = t->outputs();
  auto out_of = [&](const std::string& rule_name) -> const table_output& {
    for (const auto& tr : t->rules())
      if (tr.spec.name == rule_name)
        return outs[tr.first_output];
    ADD_FAILURE() << rule_name;
    return outs[0];
  };
  const auto& o4 = out_of("v6-any");
  const auto& o6 = out_of("v6-ssm");
  const auto& ll = out_of("v6-filtered");
  EXPECT_FALSE(o4.destination.is_v6());
  EXPECT_FALSE(t->egresses()[o4.egress].ipv6);
  EXPECT_TRUE(o6.destination.is_v6());
  EXPECT_TRUE(t->egresses()[o6.egress].ipv6);
  EXPECT_NE(o4.egress, o6.egress); // same interface and options, not family
  EXPECT_EQ(ntohs(o6.destination.v6.sin6_port), 6001);
  EXPECT_EQ(o6.destination.v6.sin6_scope_id, 0u);
  EXPECT_EQ(ll.destination.v6.sin6_scope_id, 8u);
}

} // namespace
} // namespace castor::relay
