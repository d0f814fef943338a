// The control protocol codec: every command decodes, and every kind of bad
// input becomes an error that names the problem, never an exception.

#include <string>

#include "control/control_protocol.hpp"
#include <gtest/gtest.h>

namespace castor::relay::control {
namespace {

using nlohmann::json;

std::string error_of(std::string_view line) {
  auto res = decode_request(line);
  EXPECT_FALSE(res) << line;
  return res.error;
}

const char* good_rule = R"({"name":"feed-a",
  "input":{"interface":"eth0","group":"239.1.1.1","port":5001,"source":"10.0.0.5"},
  "outputs":[{"interface":"eth1","address":"239.2.2.2","port":6001,"ttl":4,"tos":184},
             {"interface":"eth2","address":"10.9.9.9","port":7000}]})";

TEST(control_protocol, decodes_an_add_request) {
  auto res =
    decode_request(std::string{R"({"cmd":"add","rule":)"} + good_rule + "}");
  ASSERT_TRUE(res) << res.error;
  auto& add = std::get<add_cmd>(res.value->command);
  EXPECT_EQ(add.rule.name, "feed-a");
  EXPECT_EQ(add.rule.input.source->to_string(), "10.0.0.5");
  ASSERT_EQ(add.rule.outputs.size(), 2u);
  EXPECT_EQ(add.rule.outputs[0].ttl, 4);
  EXPECT_EQ(add.rule.outputs[0].tos, 184);
  EXPECT_EQ(add.rule.outputs[1].ttl, 1);
  EXPECT_EQ(add.rule.outputs[1].tos, 0);
}

TEST(control_protocol, packet_identity_options) {
  auto res = rule_from_json(json::parse(R"({"name":"feed-a",
    "input":{"interface":"eth0","group":"239.1.1.1","port":5001},
    "outputs":[{"interface":"eth1","address":"239.2.2.2","port":6001,
                "ttl":"decrement","tos":"preserve","source_port":4000},
               {"interface":"eth1","address":"239.2.2.3","port":6001,
                "ttl":9,"tos":46}]})"));
  ASSERT_TRUE(res) << res.error;
  const auto& r = *res.value;
  EXPECT_TRUE(r.outputs[0].ttl_decrement);
  EXPECT_TRUE(r.outputs[0].tos_preserve);
  EXPECT_EQ(r.outputs[0].source_port, 4000);
  EXPECT_EQ(r.outputs[1].ttl, 9);
  EXPECT_EQ(r.outputs[1].source_port, 0);
  // The words go back out as words, and the rule comes back equal.
  const auto j = to_json(r);
  EXPECT_EQ(j["outputs"][0]["ttl"], "decrement");
  EXPECT_EQ(j["outputs"][0]["tos"], "preserve");
  EXPECT_EQ(j["outputs"][0]["source_port"], 4000);
  EXPECT_EQ(j["outputs"][1]["ttl"], 9);
  EXPECT_FALSE(j["outputs"][1].contains("source_port"));
  EXPECT_EQ(*rule_from_json(j).value, r);
  EXPECT_EQ(rule_from_json(json::parse(R"({"name":"x",
    "input":{"interface":"eth0","group":"239.1.1.1","port":5001},
    "outputs":[{"interface":"eth1","address":"239.2.2.2","port":6001,
                "ttl":"down","source_port":70000}]})"))
              .error,
            "outputs[0].ttl: 'down' is neither an integer nor \"decrement\"; "
            "outputs[0].source_port: port 70000 is out of range 1..65535");
}

TEST(control_protocol, every_request_round_trips) {
  auto rule = *rule_from_json(json::parse(good_rule)).value;
  std::vector<request> all{{add_cmd{rule}},
                           {add_rules_cmd{{rule, rule}}},
                           {remove_cmd{"feed-a"}},
                           {list_cmd{}},
                           {stats_cmd{}},
                           {workers_cmd{}},
                           {tree_cmd{}},
                           {kill_cmd{"root/workers/fwd-eth0-1"}},
                           {ping_cmd{}},
                           {version_cmd{}},
                           {reload_cmd{}},
                           {config_show_cmd{}},
                           {config_save_cmd{""}},
                           {config_save_cmd{"/etc/castor/relay.conf"}},
                           {log_level_cmd{"forwarder", "debug"}}};
  for (auto& req : all) {
    auto line = encode_request(req);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto back = decode_request(line);
    ASSERT_TRUE(back) << line << ": " << back.error;
    EXPECT_EQ(back.value->command.index(), req.command.index()) << line;
    EXPECT_EQ(encode_request(*back.value), line);
  }
  EXPECT_EQ(encode_request({kill_cmd{"root/x"}}),
            R"({"cmd":"kill","path":"root/x"})");
  EXPECT_EQ(encode_request({config_show_cmd{}}),
            R"({"action":"show","cmd":"config"})");
}

TEST(control_protocol, malformed_json) {
  // Our part is the prefix and the position; the rest is nlohmann's wording
  // (its column points past the offending character, and the text varies
  // between nlohmann releases), so only its gist is checked.
  auto starts = [](const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
  };
  auto e = error_of("{not json");
  EXPECT_TRUE(starts(e, "malformed JSON: parse error at line 1, column ")) << e;
  EXPECT_NE(e.find("invalid literal"), std::string::npos) << e;
  EXPECT_EQ(e.find("[json.exception"), std::string::npos)
    << "the exception id means nothing to an operator: " << e;
  e = error_of("");
  EXPECT_TRUE(starts(e, "malformed JSON: parse error at line 1, column 1: "))
    << e;
  EXPECT_NE(e.find("unexpected end of input"), std::string::npos) << e;
  e = error_of("{\"cmd\":\"ping\"}\n{");
  EXPECT_TRUE(starts(e, "malformed JSON: parse error at line 2, column ")) << e;
  EXPECT_NE(error_of("{\"cmd\":\"ping\"} trailing").find("malformed JSON"),
            std::string::npos);
}

TEST(control_protocol, invalid_utf8_is_an_error_not_an_exception) {
  EXPECT_NE(error_of("{\"cmd\":\"p\xff\"}").find("malformed JSON"),
            std::string::npos);
}

TEST(control_protocol, a_member_named_twice_is_refused) {
  // Otherwise the last one wins in the daemon, while whatever read the
  // first (a proxy, a log) saw another request.
  EXPECT_EQ(error_of(R"({"cmd":"ping","cmd":"list"})"),
            "malformed request: member 'cmd' appears twice");
  EXPECT_EQ(error_of(R"({"cmd":"remove","name":"a","name":"b"})"),
            "malformed request: member 'name' appears twice");
  // Nested objects have members of their own.
  auto e = error_of(R"({"cmd":"add","rule":{"name":"a","input":{"port":1,)"
                    R"("port":2},"outputs":[]}})");
  EXPECT_EQ(e, "malformed request: member 'port' appears twice");
  // The same name in sibling objects is no duplicate.
  EXPECT_TRUE(decode_request(
    R"({"cmd":"add","rule":{"name":"a","input":{"interface":"e0",)"
    R"("group":"239.1.1.1","port":5001},"outputs":[{"interface":"e1",)"
    R"("address":"239.2.2.2","port":6001},{"interface":"e2",)"
    R"("address":"239.2.2.3","port":6002}]}})"));
}

TEST(control_protocol, deep_nesting_is_refused_before_parsing) {
  std::string deep(100000, '[');
  EXPECT_EQ(error_of(deep),
            "malformed request: JSON nested deeper than 16 levels");
  // Brackets inside strings do not count.
  EXPECT_TRUE(
    decode_request(R"({"cmd":"remove","name":"[[[[[[[[[[[[[[[[[[["})"));
}

TEST(control_protocol, shape_errors) {
  EXPECT_EQ(error_of("[1,2]"), "a request must be a JSON object, not an array");
  EXPECT_EQ(error_of("42"), "a request must be a JSON object, not an integer");
  EXPECT_EQ(error_of("{}"),
            "missing member 'cmd' (one of add, remove, list, stats, workers, "
            "tree, kill, ping, version, reload, config, log_level, groups, "
            "status, diagnose, peers)");
  EXPECT_EQ(error_of(R"({"cmd":7})"), "'cmd' must be a string, not an integer");
  EXPECT_EQ(error_of(R"({"cmd":"frobnicate"})"),
            "unknown command 'frobnicate' (expected one of add, remove, list, "
            "stats, workers, tree, kill, ping, version, reload, config, "
            "log_level, groups, status, diagnose, peers)");
  EXPECT_EQ(error_of(R"({"cmd":"ping","verbose":true})"),
            "'ping' request: unknown member 'verbose' (expected cmd)");
  EXPECT_EQ(error_of(R"({"cmd":"remove"})"),
            "'remove' request: missing required member 'name'");
  EXPECT_EQ(error_of(R"({"cmd":"remove","name":3})"),
            "'remove' request: name: expected a string, found an integer");
  EXPECT_EQ(error_of(R"({"cmd":"remove","name":""})"),
            "'remove' request: name: must not be empty");
  EXPECT_EQ(error_of(R"({"cmd":"kill","path":null})"),
            "'kill' request: path: expected a string, found null");
  EXPECT_EQ(error_of(R"({"cmd":"add"})"),
            "'add' request: missing required member 'rule'");
}

TEST(control_protocol, config_and_log_level_arguments) {
  EXPECT_EQ(error_of(R"({"cmd":"config","action":"dump"})"),
            "'config' request: action: 'dump' is not one of \"show\", "
            "\"save\"");
  // A bare name is one the daemon writes into its state directory (issue
  // 14); a relative path would be relative to the daemon's directory.
  EXPECT_EQ(error_of(R"({"cmd":"config","action":"save","file":"etc/r.toml"})"),
            "'config' request: file: 'etc/r.toml' is neither a name nor an "
            "absolute path (the daemon's working directory is not the "
            "client's)");
  EXPECT_TRUE(
    decode_request(R"({"cmd":"config","action":"save","file":"relay.toml"})"));
  EXPECT_EQ(error_of(R"({"cmd":"config","action":"show","file":"/x"})"),
            "'config' request: file: only 'save' takes a file");
  EXPECT_EQ(error_of(R"({"cmd":"log_level","component":"fwd","level":"loud"})"),
            "'log_level' request: level: 'loud' is not one of none, err, "
            "warn, notice, info, debug");
  EXPECT_EQ(error_of(R"({"cmd":"log_level","level":"info"})"),
            "'log_level' request: missing required member 'component'");
}

TEST(control_protocol, invalid_rules_list_every_problem) {
  auto err = error_of(R"({"cmd":"add","rule":{"name":"x","colour":"red",
    "input":{"interface":"eth0","group":"239.1.1","port":"5001"},
    "outputs":[{"interface":"eth1","address":"239.2.2.2","port":70000,"ttl":1.5},
               7]}})");
  EXPECT_EQ(err, "'add' request: rule: unknown member 'colour' (expected "
                 "name, input, outputs); input.group: '239.1.1' is not an "
                 "IP address (expected an IPv4 dotted quad such as 239.1.1.1 "
                 "or an IPv6 address such as ff3e::1:1); "
                 "input.port: expected an integer, found a string; "
                 "outputs[0].port: port 70000 is out of range 1..65535; "
                 "outputs[0].ttl: expected an integer, found a number with a "
                 "fraction; outputs[1]: expected an object, found an integer");
  // A rule that decodes goes through the same validator as the config file.
  err = error_of(R"({"cmd":"add","rule":{"name":"loop",
    "input":{"interface":"eth0","group":"10.1.1.1","port":5001},
    "outputs":[]}})");
  EXPECT_EQ(err, "'add' request: rule: input.group: 10.1.1.1 is not a "
                 "multicast group (224.0.0.0/4); outputs: a rule needs at "
                 "least one output");
  // A member given twice is refused before the rule is looked at.
  EXPECT_EQ(
    error_of(
      R"({"cmd":"add","rule":{"name":"x","input":{},"outputs":[],"input":1}})"),
    "malformed request: member 'input' appears twice");
  // A huge unsigned port is an out-of-range number, not a wrapped one.
  EXPECT_EQ(rule_from_json(json::parse(
                             R"({"name":"x","input":{"interface":"eth0",
    "group":"239.1.1.1","port":18446744073709551615},"outputs":[]})"))
              .error,
            "input.port: port 9223372036854775807 is out of range 1..65535");
}

TEST(control_protocol, responses) {
  EXPECT_EQ(encode_response(make_ok()), R"({"ok":true})");
  EXPECT_EQ(encode_response(make_ok({{"pong", true}})),
            R"({"ok":true,"pong":true})");
  EXPECT_EQ(encode_response(make_error("no rule named 'x'")),
            R"({"error":"no rule named 'x'","ok":false})");
  // Data cannot override ok/error, and invalid UTF-8 cannot throw.
  EXPECT_EQ(encode_response(make_error("bad", {{"ok", true}})),
            R"({"error":"bad","ok":false})");
  EXPECT_EQ(encode_response(make_error("bad \xff")),
            "{\"error\":\"bad \xEF\xBF\xBD\",\"ok\":false}");
  auto r = decode_response(R"({"ok":false,"error":"nope","errors":["a"]})");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "nope");
  EXPECT_EQ(r.data, (json{{"errors", {"a"}}}));
  EXPECT_EQ(decode_response("garbage").error.rfind(
              "malformed response from the daemon: malformed JSON", 0),
            0u);
  EXPECT_EQ(decode_response(R"({"pong":true})").error,
            "malformed response from the daemon: no boolean member 'ok'");
}

TEST(control_protocol, reply_data_round_trips_and_tolerates_gaps) {
  rule_stats s;
  s.name = "feed-a";
  s.packets = 10;
  s.bytes = 1000;
  s.drops = {{"malformed", 1}};
  s.outputs.push_back({"eth1", "239.2.2.2", 6001, 9, 900, {{"queue_full", 1}}});
  auto j = stats_reply({s});
  auto back = j["rules"][0].get<rule_stats>();
  EXPECT_EQ(back.name, "feed-a");
  EXPECT_EQ(back.outputs.at(0).drops.at("queue_full"), 1u);
  // Missing or mistyped members keep their defaults.
  auto partial =
    json::parse(R"({"id":"fwd-1","restarts":"many"})").get<worker_info>();
  EXPECT_EQ(partial.id, "fwd-1");
  EXPECT_EQ(partial.restarts, 0u);
  auto failed = reload_failed({"relay.toml:3:1: x", "relay.toml:9:2: y"});
  EXPECT_EQ(encode_response(failed),
            R"({"error":"the new config is invalid (2 errors); the running )"
            R"(config is unchanged","errors":["relay.toml:3:1: x",)"
            R"("relay.toml:9:2: y"],"ok":false})");
}

// Issue 15: outputs whose interface comes and goes show its state, in
// `stats` per output and in `workers` per worker; a daemon without them
// (older) leaves them empty.
TEST(control_protocol, output_interface_states_round_trip) {
  rule_stats s;
  s.name = "feed-a";
  s.outputs.push_back({"gre1", "239.2.2.2", 6001, 0, 0, {}, "missing"});
  auto back = stats_reply({s})["rules"][0].get<rule_stats>();
  EXPECT_EQ(back.outputs.at(0).state, "missing");
  worker_info w;
  w.id = "fwd-eth0-1";
  w.outputs = {{"eth1", "up"}, {"gre1", "missing"}, {"vlan7", "down"}};
  auto j = workers_reply({w});
  EXPECT_EQ(j["workers"][0]["outputs"].dump(),
            R"({"eth1":"up","gre1":"missing","vlan7":"down"})");
  EXPECT_EQ(j["workers"][0].get<worker_info>().outputs, w.outputs);
  auto old = json::parse(R"({"id":"fwd-1"})").get<worker_info>();
  EXPECT_TRUE(old.outputs.empty());
  auto old_out = json::parse(R"({"interface":"eth1"})").get<output_stats>();
  EXPECT_EQ(old_out.state, "");
}

} // namespace
} // namespace castor::relay::control
