// The warnings a valid config still gets on this host (config/
// config_warnings.hpp), which the relay logs at start and -t prints:
// interfaces that do not exist, with the rules that use them, and settings
// the relay overrides. Interfaces come from a fixed set, not the host.

#include <set>
#include <string>
#include <vector>

#include "config/config_parser.hpp"
#include "config/config_warnings.hpp"
#include <gtest/gtest.h>

namespace castor::relay {
namespace {

using strings = std::vector<std::string>;

daemon_config parsed(const std::string& text) {
  auto res = parse_config_string(text, "relay.toml");
  EXPECT_TRUE(res.ok());
  return res.config;
}

interface_probe only(std::set<std::string> names) {
  return [names](const std::string& name) { return names.count(name) > 0; };
}

std::string rule(const std::string& name, const std::string& in,
                 const std::string& out, int port) {
  return "[[rule]]\nname = \"" + name + "\"\ninput = { interface = \"" + in
         + "\", group = \"239.1.1.1\", port = " + std::to_string(port)
         + " }\noutputs = [ { interface = \"" + out
         + "\", address = \"239.2.2.2\", port = " + std::to_string(port + 1000)
         + " }, { interface = \"" + out + "\", address = \"239.2.2.3\", port = "
         + std::to_string(port + 1000) + " } ]\n";
}

TEST(config_warnings, none_when_every_interface_exists) {
  auto cfg = parsed(rule("a", "eth0", "eth1", 5000));
  EXPECT_EQ(config_warnings(cfg, only({"eth0", "eth1"})), strings{});
}

TEST(config_warnings, a_missing_interface_names_the_rules_that_use_it) {
  auto cfg =
    parsed(rule("a", "eth0", "eht1", 5000) + rule("b", "eht1", "eth0", 5001));
  EXPECT_EQ(config_warnings(cfg, only({"eth0", "eth1"})),
            strings{"interface 'eht1' does not exist on this host; nothing "
                    "is forwarded through it until it appears (used by rule "
                    "'a' (output), 'b' (input))"});
}

TEST(config_warnings, many_rules_on_one_missing_interface_make_one_line) {
  std::string text;
  for (int i = 0; i < 8; ++i)
    text += rule("r" + std::to_string(i), "vlan99", "eth1", 5000 + i);
  auto warnings = config_warnings(parsed(text), only({"eth1"}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("'r4' (input) and 3 more)"), std::string::npos)
    << warnings[0];
}

TEST(config_warnings, socket_ingress_runs_one_worker) {
  auto cfg = parsed("[relay]\ningress = \"socket\"\nworkers = 4\n");
  EXPECT_EQ(config_warnings(cfg, only({})),
            strings{"ingress = \"socket\" runs one forwarder per input "
                    "interface (4 configured)"});
  cfg = parsed("[relay]\ningress = \"socket\"\nworkers = 1\n");
  EXPECT_EQ(config_warnings(cfg, only({})), strings{});
}

TEST(config_warnings, the_host_probe_knows_loopback) {
  EXPECT_TRUE(interface_exists("lo"));
  EXPECT_FALSE(interface_exists("castornoif0"));
}

} // namespace
} // namespace castor::relay
