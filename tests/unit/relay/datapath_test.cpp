// Which data path serves each rule (model/datapath.hpp, issue 16).
#include <string>
#include <vector>

#include "model/datapath.hpp"
#include <gtest/gtest.h>

using namespace castor::relay;

namespace {

ipv4 ip(const std::string& text) {
  return *ipv4::parse(text);
}

rule make_rule(std::string name, std::string group, uint16_t port,
               std::vector<std::string> outputs, std::string source = {}) {
  rule r;
  r.name = std::move(name);
  r.input.interface = "in0";
  r.input.group = ip(group);
  r.input.port = port;
  if (!source.empty())
    r.input.source = ip(source);
  for (auto& out : outputs) {
    rule_output o;
    o.interface = out == "lo" ? "lo" : "out1";
    o.address = ip(out == "lo" ? "239.9.9.9" : out);
    o.port = 6000;
    r.outputs.push_back(o);
  }
  return r;
}

relay_settings kernel() {
  relay_settings s;
  s.datapath = datapath_mode::kernel;
  return s;
}

std::vector<std::string> names(const std::vector<rule>& rules) {
  std::vector<std::string> out;
  for (const auto& r : rules)
    out.push_back(r.name);
  return out;
}

} // namespace

TEST(datapath, one_unicast_output_is_the_kernels_more_are_not) {
  auto r = make_rule("r", "239.1.1.1", 5000, {"239.2.2.2", "10.0.0.2"});
  EXPECT_TRUE(served_by_kernel(r, kernel()));
  r.outputs.push_back(r.outputs.back());
  r.outputs.back().address = ip("10.0.0.3");
  EXPECT_EQ(kernel_refusal(r, kernel()),
            "more than one unicast output (the tc program resolves the "
            "neighbour of one per datagram)");
}

TEST(datapath, rules_of_one_group_and_port_take_one_path) {
  // A source-specific rule the kernel could serve, next to an any-source
  // one of the same group and port it cannot (an output on lo): both on
  // the packet path, so that no datagram meets both paths.
  const std::vector<rule> rules{
    make_rule("ssm", "239.1.1.1", 5000, {"239.2.2.2"}, "10.0.0.1"),
    make_rule("any", "239.1.1.1", 5000, {"lo"}),
    make_rule("other_port", "239.1.1.1", 5001, {"239.2.2.3"}),
    make_rule("other_group", "239.1.1.2", 5000, {"239.2.2.4"}),
  };
  const auto why = kernel_refusals(rules, kernel());
  ASSERT_EQ(why.size(), 4u);
  EXPECT_EQ(why[0], "shares its input group and port with rule any (an "
                    "output on lo)");
  EXPECT_EQ(why[1], "an output on lo");
  EXPECT_EQ(why[2], "");
  EXPECT_EQ(why[3], "");
  EXPECT_EQ(names(rules_on_path(rules, kernel(), true)),
            (std::vector<std::string>{"other_port", "other_group"}));
  EXPECT_EQ(names(rules_on_path(rules, kernel(), false)),
            (std::vector<std::string>{"ssm", "any"}));
}

TEST(datapath, the_split_is_the_same_in_any_rule_order) {
  // The refused rule last: its family still goes to the packet path.
  const std::vector<rule> rules{
    make_rule("any", "239.1.1.1", 5000, {"239.2.2.2"}),
    make_rule("ssm", "239.1.1.1", 5000, {"10.0.0.2", "10.0.0.3"}, "10.0.0.1"),
  };
  EXPECT_TRUE(rules_on_path(rules, kernel(), true).empty());
  EXPECT_EQ(names(rules_on_path(rules, kernel(), false)),
            (std::vector<std::string>{"any", "ssm"}));
}

TEST(datapath, the_packet_datapath_serves_every_rule) {
  relay_settings s;
  const std::vector<rule> rules{
    make_rule("a", "239.1.1.1", 5000, {"239.2.2.2"})};
  EXPECT_TRUE(rules_on_path(rules, s, true).empty());
  EXPECT_EQ(rules_on_path(rules, s, false).size(), 1u);
}
