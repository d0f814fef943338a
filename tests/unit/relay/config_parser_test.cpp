// The config parser: the format of issue 5 plus include and [metrics]
// (issue 6), and every kind of error with its exact file:line:col.

#include <string>
#include <vector>

#include "config/config_parser.hpp"
#include "config_test_support.hpp"
#include "model/datapath.hpp"
#include "model/rule_validator.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>

namespace castor::relay {
namespace {

using strings = std::vector<std::string>;
using test::errors_of;
using test::messages;

// A rule with the given input and output lines, for error tests.
std::string one_rule(const std::string& body) {
  return "[[rule]]\n" + body;
}

const char* issue5_example = R"(# the example of issue 5
[relay]
workers = 2                              # forwarders per input interface
ingress = "packet"                       # "packet" | "socket"
control_socket = "/run/castor/relay.sock"
log_level = "info"

[[rule]]
name = "feed-a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [
  { interface = "eth1", address = "239.2.2.2", port = 6001, ttl = 1 },
  { interface = "eth2", address = "10.9.9.9",  port = 7000 },
]
)";

TEST(config_parser, reads_the_issue_example) {
  auto res = parse_config_string(issue5_example, "relay.toml");
  ASSERT_TRUE(res.ok()) << ::testing::PrintToString(messages(res));
  auto& s = res.config.relay;
  EXPECT_EQ(s.workers, 2u);
  EXPECT_EQ(s.ingress, ingress_mode::packet);
  EXPECT_EQ(s.control_socket, "/run/castor/relay.sock");
  EXPECT_EQ(s.log_level, "info");
  ASSERT_EQ(res.config.rules.size(), 1u);
  auto& r = res.config.rules[0];
  EXPECT_EQ(r.name, "feed-a");
  EXPECT_EQ(r.input.interface, "eth0");
  EXPECT_EQ(r.input.group.to_string(), "239.1.1.1");
  EXPECT_EQ(r.input.port, 5001);
  EXPECT_FALSE(r.input.source.has_value());
  ASSERT_EQ(r.outputs.size(), 2u);
  EXPECT_EQ(r.outputs[0].interface, "eth1");
  EXPECT_EQ(r.outputs[0].address.to_string(), "239.2.2.2");
  EXPECT_EQ(r.outputs[0].port, 6001);
  EXPECT_EQ(r.outputs[0].ttl, 1);
  EXPECT_EQ(r.outputs[1].address.to_string(), "10.9.9.9");
  EXPECT_EQ(r.outputs[1].ttl, 1) << "ttl defaults to 1";
  EXPECT_EQ(r.outputs[1].tos, 0) << "tos defaults to 0";
  EXPECT_EQ(res.files, strings{"relay.toml"});
}

TEST(config_parser, applies_defaults_and_reads_every_key) {
  auto res = parse_config_string(R"(
[relay]
ingress = "socket"
log_level = "debug"

[metrics]
enabled = false
listen = "[::1]:9200"

[[rule]]
name = "ssm"
input = { interface = "eth0", group = "232.1.1.1", port = 5001, source = "10.0.0.5" }
outputs = [ { interface = "eth1", address = "10.9.9.9", port = 7000, ttl = 64, tos = 184 } ]
)",
                                 "relay.toml");
  ASSERT_TRUE(res.ok()) << ::testing::PrintToString(messages(res));
  EXPECT_EQ(res.config.relay.workers, 0u) << "0: one per core";
  EXPECT_EQ(res.config.relay.ingress, ingress_mode::socket);
  EXPECT_EQ(res.config.relay.control_socket, "/run/castor/relay.sock");
  EXPECT_FALSE(res.config.metrics.enabled);
  EXPECT_EQ(res.config.metrics.listen, "[::1]:9200");
  auto& r = res.config.rules.at(0);
  ASSERT_TRUE(r.input.source.has_value());
  EXPECT_EQ(r.input.source->to_string(), "10.0.0.5");
  EXPECT_EQ(r.outputs.at(0).ttl, 64);
  EXPECT_EQ(r.outputs.at(0).tos, 184);
}

TEST(config_parser, reads_the_datapath) {
  for (auto [word, mode] : {std::pair{"packet", datapath_mode::packet},
                            std::pair{"kernel", datapath_mode::kernel},
                            std::pair{"auto", datapath_mode::automatic}}) {
    auto res = parse_config_string(
      std::string{"[relay]\ndatapath = \""} + word + "\"\n", "relay.toml");
    ASSERT_TRUE(res.ok()) << ::testing::PrintToString(messages(res));
    EXPECT_EQ(res.config.relay.datapath, mode) << word;
  }
  auto res = parse_config_string("[relay]\ndatapath = \"xdp\"\n", "relay.toml");
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(parse_config_string("", "relay.toml").config.relay.datapath,
            datapath_mode::packet)
    << "packet by default";
}

TEST(config_parser, kernel_rules_leave_socket_ingress_and_wide_rules_out) {
  relay_settings s;
  s.datapath = datapath_mode::kernel;
  rule r;
  r.outputs.resize(2);
  EXPECT_TRUE(served_by_kernel(r, s));
  r.outputs.resize(kernel_max_outputs + 1);
  EXPECT_EQ(kernel_refusal(r, s), "more than 16 outputs");
  r.outputs.resize(1);
  s.ingress = ingress_mode::socket;
  EXPECT_EQ(kernel_refusal(r, s), "socket ingress");
  s.ingress = ingress_mode::packet;
  s.datapath = datapath_mode::packet;
  EXPECT_FALSE(served_by_kernel(r, s));
}

TEST(config_parser, metrics_default_to_loopback) {
  auto res = parse_config_string("", "relay.toml");
  ASSERT_TRUE(res.ok());
  EXPECT_TRUE(res.config.metrics.enabled);
  EXPECT_EQ(res.config.metrics.listen, "127.0.0.1:17108");
  EXPECT_TRUE(res.config.rules.empty());
}

TEST(config_parser, shipped_configs_are_valid) {
  for (auto name : {"config/relay.toml", "config/examples/fanout.toml",
                    "config/examples/rewrite-and-unicast.toml",
                    "config/examples/socket-ingress.toml"}) {
    auto path = std::string{CASTOR_SOURCE_DIR} + "/" + name;
    auto res = parse_config_file(path);
    EXPECT_TRUE(res.ok()) << path << ": "
                          << ::testing::PrintToString(messages(res));
    EXPECT_FALSE(res.config.rules.empty()) << path;
  }
}

// -- unknown keys, at every level ---------------------------------------------

TEST(config_parser, unknown_keys_are_errors_at_every_level) {
  auto errs = errors_of(R"(bogus = 1
[relay]
worker = 2
[metrics]
port = 9108
[[rule]]
name = "a"
nmae = "b"
input = { interface = "eth0", group = "239.1.1.1", port = 5001, prot = 1 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001, ttl = 1, tls = 2 } ]
)");
  EXPECT_EQ(errs,
            (strings{
              "relay.toml:1:1: unknown key 'bogus' (expected include, relay, "
              "metrics, node, peer or rule)",
              "relay.toml:3:1: relay: unknown key 'worker' (expected workers, "
              "ingress, datapath, control_socket, log_level, log_target, "
              "max_frame, max_buffer_memory_mib, control_admin_group)",
              "relay.toml:5:1: metrics: unknown key 'port' (expected enabled, "
              "listen)",
              "relay.toml:8:1: rule: unknown key 'nmae' (expected name, "
              "input, outputs)",
              "relay.toml:9:65: input: unknown key 'prot' (expected "
              "interface, group, port, source)",
              "relay.toml:10:80: outputs[0]: unknown key 'tls' (expected "
              "interface, address, port, ttl, tos, source_port)",
            }));
}

// -- types ------------------------------------------------------------------------

TEST(config_parser, wrong_types_name_the_key_and_both_types) {
  auto errs = errors_of(R"([relay]
workers = "2"
ingress = 1
[metrics]
enabled = "yes"
[[rule]]
name = 7
input = { interface = "eth0", group = "239.1.1.1", port = "5001" }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001, ttl = 1.5 } ]
)");
  EXPECT_EQ(errs, (strings{
                    "relay.toml:2:11: relay.workers: expected an integer, "
                    "found a string",
                    "relay.toml:3:11: relay.ingress: expected a string, found "
                    "an integer",
                    "relay.toml:5:11: metrics.enabled: expected a boolean, "
                    "found a string",
                    "relay.toml:7:8: name: expected a string, found an integer",
                    "relay.toml:8:59: input.port: expected an integer, found "
                    "a string",
                    "relay.toml:9:77: outputs[0].ttl: expected an integer, "
                    "found a float",
                  }));
}

TEST(config_parser, sections_of_the_wrong_shape) {
  EXPECT_EQ(errors_of("relay = 1\n"),
            strings{"relay.toml:1:9: relay: expected a table, found an "
                    "integer"});
  EXPECT_EQ(errors_of("[rule]\nname = \"a\"\n"),
            strings{"relay.toml:1:1: rule: expected an array of tables "
                    "([[rule]]), found a table"});
  EXPECT_EQ(errors_of(one_rule("name = \"a\"\ninput = \"eth0\"\n"
                               "outputs = { interface = \"eth1\" }\n")),
            (strings{"relay.toml:3:9: input: expected a table, found a string",
                     "relay.toml:4:11: outputs: expected an array of tables, "
                     "found a table"}));
}

// -- missing keys --------------------------------------------------------------

TEST(config_parser, missing_required_keys) {
  auto errs = errors_of(R"([[rule]]
input = { interface = "eth0", group = "239.1.1.1" }
outputs = [ { interface = "eth1", port = 6001 } ]
[[rule]]
name = "b"
)");
  EXPECT_EQ(errs, (strings{
                    "relay.toml:1:1: rule: missing required key 'name'",
                    "relay.toml:2:9: input: missing required key 'port'",
                    "relay.toml:3:13: outputs[0]: missing required key "
                    "'address'",
                    "relay.toml:4:1: rule: missing required key 'input'",
                    "relay.toml:4:1: rule: missing required key 'outputs'",
                  }));
}

TEST(config_parser, empty_outputs) {
  EXPECT_EQ(errors_of(one_rule(R"(name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = []
)")),
            strings{"relay.toml:4:11: outputs: a rule needs at least one "
                    "output"});
}

// -- values ---------------------------------------------------------------------

TEST(config_parser, relay_settings_out_of_range) {
  auto errs = errors_of(R"([relay]
workers = 300
ingress = "raw"
control_socket = "relay.sock"
log_level = "verbose"
log_target = "journal"
)");
  EXPECT_EQ(errs, (strings{
                    "relay.toml:2:11: relay.workers: 300 is out of range "
                    "0..256 (0 means one per core)",
                    "relay.toml:3:11: relay.ingress: 'raw' is not one of "
                    "\"packet\", \"socket\", \"auto\"",
                    "relay.toml:4:18: relay.control_socket: 'relay.sock' is "
                    "not an absolute path",
                    "relay.toml:5:13: relay.log_level: 'verbose' is not one of "
                    "\"none\", \"err\", \"warn\", \"notice\", \"info\", "
                    "\"debug\"",
                    "relay.toml:6:14: relay.log_target: 'journal' is not "
                    "\"stderr\", \"syslog\" or \"file:PATH\"",
                  }));
  EXPECT_EQ(errors_of("[relay]\nworkers = -1\n"),
            strings{"relay.toml:2:11: relay.workers: -1 is out of range "
                    "0..256 (0 means one per core)"});
  EXPECT_TRUE(errors_of("[relay]\nworkers = 256\n").empty());
  EXPECT_EQ(
    errors_of("[relay]\ncontrol_socket = \"/" + std::string(120, 'x') + "\"\n"),
    strings{"relay.toml:2:18: relay.control_socket: the path is 121 "
            "bytes long; a unix socket path holds at most 107"});
}

TEST(config_parser, max_frame_takes_jumbo_frames_and_no_more) {
  EXPECT_EQ(parse_config_string("", "relay.toml").config.relay.max_frame,
            2048u);
  auto res = parse_config_string("[relay]\nmax_frame = 9216\n", "relay.toml");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res.config.relay.max_frame, 9216u);
  EXPECT_EQ(errors_of("[relay]\nmax_frame = 9217\n"),
            strings{"relay.toml:2:13: relay.max_frame: 9217 is out of range "
                    "576..9216 (bytes of IP packet; 9216 takes jumbo frames)"});
  EXPECT_EQ(errors_of("[relay]\nmax_frame = 575\n"),
            strings{"relay.toml:2:13: relay.max_frame: 575 is out of range "
                    "576..9216 (bytes of IP packet; 9216 takes jumbo frames)"});
  EXPECT_EQ(errors_of("[relay]\nmax_frame = \"9k\"\n"),
            strings{"relay.toml:2:13: relay.max_frame: expected an integer, "
                    "found a string"});
}

TEST(config_parser, metrics_listen_must_be_host_and_port) {
  for (auto bad : {"localhost:9108", "127.0.0.1", "127.0.0.1:", "::1:9108",
                   "127.0.0.1:http"})
    EXPECT_EQ(errors_of(std::string{"[metrics]\nlisten = \""} + bad + "\"\n"),
              strings{std::string{"relay.toml:2:10: metrics.listen: '"} + bad
                      + "' is not HOST:PORT with an IP address, such as "
                        "127.0.0.1:17108 or [::1]:17108"})
      << bad;
  EXPECT_EQ(errors_of("[metrics]\nlisten = \"127.0.0.1:70000\"\n"),
            strings{"relay.toml:2:10: metrics.listen: port 70000 is out of "
                    "range 1..65535"});
  EXPECT_TRUE(errors_of("[metrics]\nlisten = \"0.0.0.0:9108\"\n").empty());
}

TEST(config_parser, ports_ttl_and_tos_ranges) {
  auto errs = errors_of(one_rule(R"(name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 0 }
outputs = [
  { interface = "eth1", address = "239.2.2.2", port = 70000 },
  { interface = "eth1", address = "239.2.2.3", port = 6001, ttl = 0 },
  { interface = "eth1", address = "239.2.2.4", port = 6001, ttl = 256, tos = 300 },
  { interface = "eth1", address = "239.2.2.5", port = 6001, ttl = 255, tos = 255 },
]
)"));
  EXPECT_EQ(errs, (strings{
                    "relay.toml:3:59: input.port: port 0 is out of range "
                    "1..65535",
                    "relay.toml:5:55: outputs[0].port: port 70000 is out of "
                    "range 1..65535",
                    "relay.toml:6:67: outputs[1].ttl: ttl 0 is out of range "
                    "1..255",
                    "relay.toml:7:67: outputs[2].ttl: ttl 256 is out of range "
                    "1..255",
                    "relay.toml:7:78: outputs[2].tos: tos 300 is out of range "
                    "0..255",
                  }));
}

TEST(config_parser, packet_identity_options) {
  // ttl = "decrement", tos = "preserve" and source_port beside the numeric
  // values, which keep working (issue 15, "Packet identity").
  auto res = parse_config_string(one_rule(R"(name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [
  { interface = "eth1", address = "239.2.2.2", port = 6001, ttl = "decrement", tos = "preserve", source_port = 4000 },
  { interface = "eth1", address = "239.2.2.3", port = 6001, ttl = 7, tos = 184 },
  { interface = "eth1", address = "239.2.2.4", port = 6001, ttl = "decrement", tos = 46 },
]
)"),
                                 "relay.toml");
  ASSERT_TRUE(res.ok()) << ::testing::PrintToString(messages(res));
  const auto& outs = res.config.rules.at(0).outputs;
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_TRUE(outs[0].ttl_decrement);
  EXPECT_TRUE(outs[0].tos_preserve);
  EXPECT_EQ(outs[0].source_port, 4000);
  EXPECT_FALSE(outs[1].ttl_decrement);
  EXPECT_FALSE(outs[1].tos_preserve);
  EXPECT_EQ(outs[1].ttl, 7);
  EXPECT_EQ(outs[1].tos, 184);
  EXPECT_EQ(outs[1].source_port, 0) << "0: the relay's shared port";
  EXPECT_TRUE(outs[2].ttl_decrement);
  EXPECT_FALSE(outs[2].tos_preserve);
  EXPECT_EQ(outs[2].tos, 46);
}

TEST(config_parser, packet_identity_errors) {
  auto errs = errors_of(one_rule(R"(name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [
  { interface = "eth1", address = "239.2.2.2", port = 6001, ttl = "preserve" },
  { interface = "eth1", address = "239.2.2.3", port = 6001, tos = "decrement" },
  { interface = "eth1", address = "239.2.2.4", port = 6001, source_port = 0 },
  { interface = "eth1", address = "239.2.2.5", port = 6001, source_port = "auto" },
]
)"));
  EXPECT_EQ(errs, (strings{
                    "relay.toml:5:67: outputs[0].ttl: 'preserve' is neither "
                    "an integer nor \"decrement\"",
                    "relay.toml:6:67: outputs[1].tos: 'decrement' is neither "
                    "an integer nor \"preserve\"",
                    "relay.toml:7:75: outputs[2].source_port: port 0 is out "
                    "of range 1..65535",
                    "relay.toml:8:75: outputs[3].source_port: expected an "
                    "integer, found a string",
                  }));
}

TEST(config_parser, bad_addresses) {
  auto errs = errors_of(R"([[rule]]
name = "unicast-group"
input = { interface = "eth0", group = "10.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001 } ]
[[rule]]
name = "link-local"
input = { interface = "eth0", group = "224.0.0.251", port = 5353 }
outputs = [ { interface = "eth1", address = "0.0.0.0", port = 6001 } ]
[[rule]]
name = "bad-source"
input = { interface = "eth0", group = "239.1.1.1", port = 5001, source = "239.9.9.9" }
outputs = [ { interface = "eth1", address = "239.1.1", port = 6001 } ]
)");
  EXPECT_EQ(
    errs,
    (strings{
      "relay.toml:3:39: input.group: 10.1.1.1 is not a multicast group "
      "(224.0.0.0/4)",
      "relay.toml:7:39: input.group: 224.0.0.251 is a link-local control "
      "group (224.0.0.0/24), which is never relayed",
      "relay.toml:8:45: outputs[0].address: 0.0.0.0 is not a destination",
      "relay.toml:11:74: input.source: 239.9.9.9 is not a unicast address; "
      "a source filter names the sender's unicast address",
      "relay.toml:12:45: outputs[0].address: '239.1.1' is not an IP "
      "address (expected an IPv4 dotted quad such as 239.1.1.1 or an IPv6 "
      "address such as ff3e::1:1)",
    }));
}

TEST(config_parser, names_and_interfaces) {
  auto errs = errors_of(one_rule(R"(name = "feed a"
input = { interface = "a-very-long-interface-name", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1:0", address = "239.2.2.2", port = 6001 } ]
)"));
  EXPECT_EQ(errs,
            (strings{"relay.toml:2:8: name: 'feed a' may only contain letters, "
                     "digits, '-', '_' and '.'",
                     "relay.toml:3:23: input.interface: interface name "
                     "'a-very-long-interface-name' is longer than 15 "
                     "characters",
                     "relay.toml:4:27: outputs[0].interface: interface name "
                     "'eth1:0' contains '/', ':' or whitespace"}));
}

TEST(config_parser, output_equal_to_its_input_and_repeated_outputs) {
  auto errs = errors_of(one_rule(R"(name = "loop"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [
  { interface = "eth0", address = "239.1.1.1", port = 5001 },
  { interface = "eth1", address = "239.2.2.2", port = 6001 },
  { interface = "eth1", address = "239.2.2.2", port = 6001, ttl = 3 },
]
)"));
  EXPECT_EQ(errs, (strings{
                    "relay.toml:5:3: outputs[0]: output eth0 239.1.1.1:5001 "
                    "equals the rule's input; the relay would receive its own "
                    "packets",
                    "relay.toml:7:3: outputs[2]: output eth1 239.2.2.2:6001 is "
                    "already outputs[1]; every packet would be sent twice",
                  }));
  // Same group and port on another interface is a legitimate relay.
  EXPECT_TRUE(errors_of(one_rule(R"(name = "across"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.1.1.1", port = 5001 } ]
)"))
                .empty());
}

TEST(config_parser, duplicate_names_and_inputs) {
  auto errs = errors_of(R"([[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001 } ]
[[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.2", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6002 } ]
[[rule]]
name = "c"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6003 } ]
[[rule]]
name = "d"
input = { interface = "eth0", group = "239.1.1.1", port = 5001, source = "10.0.0.5" }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6004 } ]
)");
  // "d" differs from "a" by its source filter: a different input.
  EXPECT_EQ(errs, (strings{
                    "relay.toml:6:8: name: duplicate rule name 'a' (first "
                    "defined at relay.toml:1:1)",
                    "relay.toml:11:9: input: input eth0 239.1.1.1:5001 is "
                    "already the input of rule 'a' (first defined at "
                    "relay.toml:1:1)",
                  }));
}

// Two rules' outputs to one destination from one fixed source port would
// be a single flow on the wire: refused where the rule arrives (-t and
// reload parse the file; castorctl add checks find_conflicts), naming both
// rules. The shared port (no source_port) stays a deliberate fan-in, and a
// different port, destination or interface is another flow.
TEST(config_parser, two_rules_sending_one_flow_from_a_fixed_source_port) {
  auto errs = errors_of(R"([[rule]]
name = "a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001, source_port = 7000 } ]
[[rule]]
name = "b"
input = { interface = "eth0", group = "239.1.1.2", port = 5001 }
outputs = [
  { interface = "eth2", address = "239.2.2.2", port = 6001, source_port = 7000 },
  { interface = "eth1", address = "239.2.2.2", port = 6001, source_port = 7000, ttl = 4 },
]
[[rule]]
name = "fan-in"
input = { interface = "eth0", group = "239.1.1.3", port = 5001 }
outputs = [
  { interface = "eth1", address = "239.2.2.2", port = 6001 },
  { interface = "eth1", address = "239.2.2.2", port = 6002, source_port = 7000 },
  { interface = "eth1", address = "239.2.2.3", port = 6001, source_port = 7000 },
]
[[rule]]
name = "fan-in-2"
input = { interface = "eth0", group = "239.1.1.4", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001, source_port = 7001 } ]
)");
  EXPECT_EQ(errs, (strings{
                    "relay.toml:10:75: outputs[1].source_port: output eth1 "
                    "239.2.2.2:6001 from source port 7000 is the same flow "
                    "as outputs[0] of rule 'a' (same interface, destination "
                    "and source port): receivers could not tell rule 'b''s "
                    "datagrams from rule 'a''s; give one of them another "
                    "source_port (first defined at relay.toml:1:1)",
                  }));
}

TEST(rule_validator, an_added_rule_sending_another_rules_flow_is_refused) {
  auto a = test::simple_rule("a", "239.1.1.1", 5001);
  a.outputs[0].source_port = 7000;
  auto b = test::simple_rule("b", "239.1.1.2", 5001);
  b.outputs = a.outputs;
  auto issues =
    find_conflicts(b, {test::simple_rule("x", "239.1.1.9", 5001), a});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].other, std::optional<size_t>{1});
  EXPECT_EQ(describe(b, issues).rfind("rule 'b': outputs[0].source_port: "
                                      "output ",
                                      0),
            0u)
    << describe(b, issues);
  EXPECT_NE(describe(b, issues).find("of rule 'a'"), std::string::npos);
  // Without the fixed port both send from the shared one: a fan-in.
  b.outputs[0].source_port = 0;
  EXPECT_TRUE(find_conflicts(b, {a}).empty());
  // Another fixed port is another flow.
  b.outputs[0].source_port = 7001;
  EXPECT_TRUE(find_conflicts(b, {a}).empty());
}

} // namespace
} // namespace castor::relay
