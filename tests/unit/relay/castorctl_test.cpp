// castorctl, the real binary, against a control server whose handler
// answers the way the relay does: argument parsing, what reaches the
// daemon, the tables it prints, and its exit status.

#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>

#include <caf/all.hpp>

#include "actor_io_env.hpp"
#include "control/castorctl_output.hpp"
#include "control/control_server.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace castor::relay {
namespace {

using nlohmann::json;
namespace ctl = control;

rule feed_a() {
  rule r;
  r.name = "feed-a";
  r.input = {"eth0", *ipv4::parse("239.1.1.1"), 5001, std::nullopt};
  r.outputs.push_back({"eth1", *ipv4::parse("239.2.2.2"), 6001, 1, 0});
  r.outputs.push_back({"eth2", *ipv4::parse("10.9.9.9"), 7000, 8, 184});
  return r;
}

/// The last request the handler saw. Written on a CAF thread and read by
/// the test once the reply has come back through the control socket: the
/// kernel orders the two, but ThreadSanitizer cannot see that, so a lock
/// says it.
class last_request {
public:
  void set(std::string text) {
    std::lock_guard<std::mutex> guard{mtx_};
    text_ = std::move(text);
  }

  std::string get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return text_;
  }

private:
  mutable std::mutex mtx_;
  std::string text_;
};

/// Answers like the relay; the last request is kept for inspection.
caf::behavior relay_like_handler(caf::event_based_actor*,
                                 std::shared_ptr<last_request> last) {
  return {[last](control_atom, ctl::request& req) -> ctl::response {
    last->set(ctl::encode_request(req));
    auto& c = req.command;
    if (std::holds_alternative<ctl::ping_cmd>(c))
      return ctl::make_ok({{"pong", true}});
    if (std::holds_alternative<ctl::version_cmd>(c))
      return ctl::make_ok(ctl::version_reply("0.1.0", "abc123"));
    if (std::holds_alternative<ctl::list_cmd>(c))
      return ctl::make_ok(ctl::list_reply({feed_a()}));
    if (auto* add = std::get_if<ctl::add_cmd>(&c))
      return ctl::make_ok({{"rule", ctl::to_json(add->rule)}});
    if (std::holds_alternative<ctl::stats_cmd>(c)) {
      ctl::rule_stats s{
        "feed-a", 10, 1000, {{"malformed", 2}, {"no_rule", 0}}, {}};
      s.outputs.push_back({"eth1", "239.2.2.2", 6001, 8, 800, {}, "up"});
      return ctl::make_ok(ctl::stats_reply({s}));
    }
    if (std::holds_alternative<ctl::workers_cmd>(c))
      return ctl::make_ok(
        ctl::workers_reply({{"fwd-eth0-1",
                             "eth0",
                             "running",
                             2,
                             0,
                             4000,
                             17,
                             "ports",
                             "",
                             0,
                             {{"eth1", "up"}, {"gre1", "missing"}}},
                            {"fwd-eth0-2",
                             "eth0",
                             "running",
                             0,
                             0,
                             10,
                             0,
                             "exact",
                             "SO_ATTACH_FILTER: Cannot allocate memory",
                             1,
                             {}}}));
    if (std::holds_alternative<ctl::tree_cmd>(c))
      return ctl::make_ok({{"tree", json::parse(R"({"id":"root",
        "kind":"supervisor","strategy":"one_for_one","state":"running",
        "restarts":0,"actor_id":1,"children":[{"id":"workers",
        "kind":"supervisor","strategy":"one_for_one","state":"running",
        "restarts":0,"actor_id":2,"children":[{"id":"fwd-eth0-1",
        "kind":"worker","strategy":"","state":"running","restarts":3,
        "actor_id":3,"children":[]}]}]})")}});
    if (std::holds_alternative<ctl::reload_cmd>(c))
      return ctl::reload_failed(
        {"/etc/castor/relay.toml:3:11: relay.workers: expected an integer, "
         "found a string"});
    if (std::holds_alternative<ctl::config_show_cmd>(c))
      return ctl::make_ok({{"config", "[relay]\nworkers = 2\n"}});
    if (auto* save = std::get_if<ctl::config_save_cmd>(&c))
      return ctl::make_ok({{"file", save->file}});
    if (auto* lvl = std::get_if<ctl::log_level_cmd>(&c))
      return ctl::make_ok(
        {{"component", lvl->component}, {"level", lvl->level}});
    if (auto* rm = std::get_if<ctl::remove_cmd>(&c))
      return ctl::make_error("no rule named '" + rm->name + "'");
    if (std::holds_alternative<ctl::groups_cmd>(c))
      return ctl::make_ok({{"groups", json::parse(R"([{"interface":"eth0",
        "group":"239.1.1.1","source":"","state":"joined","reason":"",
        "rules":["feed-a"],"packets":10,"rate":2.5,
        "last_packet_s":1.25}])")}});
    if (std::holds_alternative<ctl::status_cmd>(c))
      return ctl::make_ok(json::parse(R"({"version":"0.1.0","uptime_s":12,
        "config_file":"/etc/castor/relay.toml","rules":1,
        "workers":{"running":2},"worker_restarts":0,
        "memberships":{"joined":1,"pending":0,"failed":0},"packets":10,
        "rate":2.5,"drops":0,"silent_rules":[],"outputs_down":["eth1"]})"));
    if (auto* dg = std::get_if<ctl::diagnose_cmd>(&c))
      return ctl::make_ok(json::parse(R"({"rule":{"name":")" + dg->name
                                      + R"(","input":{"interface":"eth9",
        "group":"239.1.1.1","port":5001},"outputs":[]},
        "stats":{"name":"feed-a","packets":0},"input":{"name":"eth9",
        "exists":false},"outputs":{},"membership":null,"workers":[],
        "memberships_known":true})"));
    return ctl::make_ok({{"path", std::get<ctl::kill_cmd>(c).path}});
  }};
}

struct castorctl : ::testing::Test, test::actor_io_env {
  test::temp_dir dir;
  std::string path = dir.path() + "/relay.sock";
  std::shared_ptr<last_request> last = std::make_shared<last_request>();
  caf::actor handler;
  caf::actor server;

  castorctl() {
    handler = sys->spawn(relay_like_handler, last);
    control_server_options opts;
    opts.socket_path = path;
    server = *start_control_server(*sys, io, fixed_handler(handler), opts);
  }

  ~castorctl() override {
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(handler, caf::exit_reason::user_shutdown);
    server = nullptr;
    handler = nullptr;
    sys->await_all_actors_done();
  }

  /// Runs castorctl against the test server; returns its exit status.
  int run(const std::string& args, std::string& out) {
    return test::run_command(
      std::string{CASTORCTL_PATH} + " -u " + path + " " + args, out);
  }
};

TEST_F(castorctl, ping_and_version) {
  std::string out;
  EXPECT_EQ(run("ping", out), 0);
  EXPECT_EQ(out, "pong\n");
  EXPECT_EQ(run("version", out), 0);
  EXPECT_EQ(out, "castor-relay 0.1.0 (abc123)\n");
  EXPECT_EQ(run("--json ping", out), 0);
  EXPECT_EQ(out, "{\"ok\":true,\"pong\":true}\n");
}

TEST_F(castorctl, says_when_the_daemon_is_not_there) {
  std::string out;
  EXPECT_EQ(test::run_command(std::string{CASTORCTL_PATH}
                                + " -u /nonexistent/relay.sock ping",
                              out),
            1);
  EXPECT_EQ(out, "castorctl: cannot connect to /nonexistent/relay.sock: No "
                 "such file or directory — is castor-relay running?\n");
}

TEST_F(castorctl, add_builds_the_rule_from_flags) {
  std::string out;
  ASSERT_EQ(run("add --name feed-b --in eth0:239.1.1.2:5002:10.0.0.5 "
                "--out eth1:239.2.2.3:6002:ttl=4 "
                "--out eth2:10.9.9.9:7000:tos=184:ttl=9",
                out),
            0)
    << out;
  EXPECT_EQ(out, "added rule feed-b\n");
  EXPECT_EQ(json::parse(last->get()),
            json::parse(R"({"cmd":"add","rule":{"name":"feed-b",
    "input":{"interface":"eth0","group":"239.1.1.2","port":5002,
             "source":"10.0.0.5"},
    "outputs":[{"interface":"eth1","address":"239.2.2.3","port":6002,
                "ttl":4,"tos":0},
               {"interface":"eth2","address":"10.9.9.9","port":7000,
                "ttl":9,"tos":184}]}})"));
}

TEST_F(castorctl, add_takes_the_packet_identity_options) {
  std::string out;
  ASSERT_EQ(
    run("add --name feed-c --in eth0:239.1.1.3:5003 "
        "--out eth1:239.2.2.4:6004:ttl=decrement:tos=preserve:sport=4000",
        out),
    0)
    << out;
  EXPECT_EQ(json::parse(last->get()),
            json::parse(R"({"cmd":"add","rule":{"name":"feed-c",
    "input":{"interface":"eth0","group":"239.1.1.3","port":5003},
    "outputs":[{"interface":"eth1","address":"239.2.2.4","port":6004,
                "ttl":"decrement","tos":"preserve","source_port":4000}]}})"));
}

TEST_F(castorctl, add_takes_bracketed_ipv6_addresses) {
  std::string out;
  ASSERT_EQ(run("add --name feed-6 --in eth0:[ff3e::1:3]:5003:[fd00::5] "
                "--out eth1:[ff0e::2:4]:6004:ttl=decrement "
                "--out eth2:239.2.2.4:6005",
                out),
            0)
    << out;
  EXPECT_EQ(json::parse(last->get()),
            json::parse(R"({"cmd":"add","rule":{"name":"feed-6",
    "input":{"interface":"eth0","group":"ff3e::1:3","port":5003,
             "source":"fd00::5"},
    "outputs":[{"interface":"eth1","address":"ff0e::2:4","port":6004,
                "ttl":"decrement","tos":0},
               {"interface":"eth2","address":"239.2.2.4","port":6005,
                "ttl":1,"tos":0}]}})"));
}

TEST_F(castorctl, bad_arguments_exit_2_without_contacting_the_daemon) {
  std::string out;
  last->set("untouched");
  EXPECT_EQ(
    run("add --name x --in eth0:239.1.1.2 --out eth1:239.2.2.3:6002", out), 2);
  EXPECT_EQ(out, "castorctl: --in 'eth0:239.1.1.2': expected "
                 "IF:GROUP:PORT[:SOURCE], e.g. eth0:239.1.1.1:5001\n");
  EXPECT_EQ(run("add --name x --in eth0:239.1.1.2:5002 "
                "--out eth1:239.2.2.3:6002:hops=3",
                out),
            2);
  EXPECT_EQ(out, "castorctl: --out 'eth1:239.2.2.3:6002:hops=3': unknown "
                 "option 'hops=3' (expected ttl=N|decrement, "
                 "tos=N|preserve or sport=N)\n");
  EXPECT_EQ(run("add --name x --in eth0:10.1.1.1:5002 "
                "--out eth1:239.2.2.3:99999",
                out),
            2);
  // Decode problems come first; the multicast check of the group waits for
  // a rule that decodes.
  EXPECT_EQ(out, "castorctl: invalid rule 'x': outputs[0].port: port 99999 "
                 "is out of range 1..65535\n");
  EXPECT_EQ(run("log-level forwarder loud", out), 2);
  EXPECT_EQ(out, "castorctl: 'log_level' request: level: 'loud' is not one "
                 "of none, err, warn, notice, info, debug\n");
  EXPECT_EQ(run("frobnicate", out), 2);
  EXPECT_EQ(last->get(), "untouched");
}

TEST_F(castorctl, list_stats_workers_and_tree_print_tables) {
  std::string out;
  ASSERT_EQ(run("list", out), 0);
  EXPECT_EQ(out,
            "NAME    INPUT                OUTPUT\n"
            "feed-a  eth0 239.1.1.1:5001  eth1 239.2.2.2:6001 ttl=1 tos=0\n"
            "                             eth2 10.9.9.9:7000 ttl=8 "
            "tos=184\n");
  ASSERT_EQ(run("stats", out), 0);
  // The output's interface state (issue 15) is the last column; issue 14
  // adds each rule's rate and the time since its last packet ("-": not
  // sampled yet).
  EXPECT_EQ(out,
            "RULE    WHERE                    PACKETS  BYTES  RATE/S  LAST  "
            "DROPS        STATE\n"
            "feed-a  in                       10       1000   0.0     -     "
            "malformed=2\n"
            "        out eth1 239.2.2.2:6001  8        800                  "
            "0            up\n");
  ASSERT_EQ(run("workers", out), 0);
  EXPECT_EQ(out, "ID          INTERFACE  STATE    RESTARTS  FRAMES  "
                 "KERNEL_DROPS  QUEUE  FILTER        OUTPUTS\n"
                 "fwd-eth0-1  eth0       running  2         4000    17       "
                 "     0      ports         eth1=up,gre1=missing\n"
                 "fwd-eth0-2  eth0       running  0         10      0        "
                 "     0      exact,failed  -\n"
                 "fwd-eth0-2: the last rule change did not reach its ingress "
                 "(SO_ATTACH_FILTER: Cannot allocate memory)\n");
  ASSERT_EQ(run("tree", out), 0);
  EXPECT_EQ(out,
            "PATH                     KIND        STRATEGY     STATE    "
            "RESTARTS\n"
            "root                     supervisor  one_for_one  running  0\n"
            "root/workers             supervisor  one_for_one  running  0\n"
            "root/workers/fwd-eth0-1  worker                   running  "
            "3\n");
}

TEST_F(castorctl, a_failed_reload_prints_every_error_and_exits_1) {
  std::string out;
  EXPECT_EQ(run("reload", out), 1);
  EXPECT_EQ(out, "castorctl: the new config is invalid (1 error); the running "
                 "config is unchanged\n"
                 "  /etc/castor/relay.toml:3:11: relay.workers: expected an "
                 "integer, found a string\n");
  EXPECT_EQ(run("remove feed-z", out), 1);
  EXPECT_EQ(out, "castorctl: no rule named 'feed-z'\n");
}

TEST_F(castorctl, config_log_level_and_kill) {
  std::string out;
  ASSERT_EQ(run("config show", out), 0);
  EXPECT_EQ(out, "[relay]\nworkers = 2\n");
  ASSERT_EQ(run("config save /etc/castor/saved.toml", out), 0);
  EXPECT_EQ(out, "saved the running config to /etc/castor/saved.toml\n");
  // A relative file is made absolute: the daemon's working directory
  // differs from ours.
  ASSERT_EQ(test::run_command("cd / && " + std::string{CASTORCTL_PATH} + " -u "
                                + path + " config save tmp/x.toml",
                              out),
            0);
  EXPECT_EQ(out, "saved the running config to /tmp/x.toml\n");
  ASSERT_EQ(run("log-level forwarder debug", out), 0);
  EXPECT_EQ(out, "log level of forwarder is now debug\n");
  ASSERT_EQ(run("kill root/workers/fwd-eth0-1", out), 0);
  EXPECT_EQ(out, "killed root/workers/fwd-eth0-1\n");
}

TEST_F(castorctl, json_anywhere_and_its_own_errors_as_json) {
  std::string out;
  EXPECT_EQ(run("ping --json", out), 0);
  EXPECT_EQ(out, "{\"ok\":true,\"pong\":true}\n");
  // A mistyped verb names the nearest one, in words or in JSON.
  last->set("untouched");
  EXPECT_EQ(run("stast", out), 2);
  EXPECT_EQ(out, "castorctl: unknown command 'stast'; did you mean 'stats'? "
                 "(castorctl --help lists the commands)\n");
  EXPECT_EQ(run("diagnoze feed-a --json", out), 2);
  EXPECT_EQ(out, "{\"error\":\"unknown command 'diagnoze'; did you mean "
                 "'diagnose'? (castorctl --help lists the commands)\","
                 "\"ok\":false}\n");
  EXPECT_EQ(last->get(), "untouched");
  EXPECT_EQ(test::run_command(std::string{CASTORCTL_PATH}
                                + " -u /nonexistent/relay.sock ping --json",
                              out),
            1);
  EXPECT_EQ(json::parse(out)["ok"], false);
}

TEST_F(castorctl, plain_output_has_no_headings_and_tabs) {
  std::string out;
  ASSERT_EQ(run("list --plain", out), 0);
  EXPECT_EQ(out, "feed-a\teth0 239.1.1.1:5001\teth1 239.2.2.2:6001 ttl=1 "
                 "tos=0\n"
                 "\t\teth2 10.9.9.9:7000 ttl=8 tos=184\n");
}

TEST_F(castorctl, groups_status_and_diagnose) {
  std::string out;
  ASSERT_EQ(run("groups", out), 0);
  EXPECT_EQ(out, "INTERFACE  GROUP      SOURCE  STATE   RULES   PACKETS  "
                 "RATE/S  LAST\n"
                 "eth0       239.1.1.1  *       joined  feed-a  10       "
                 "2.5     1.2s ago\n");
  ASSERT_EQ(run("status", out), 0);
  EXPECT_NE(out.find("outputs down     eth1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("memberships      0 failed, 1 joined, 0 pending\n"),
            std::string::npos)
    << out;
  ASSERT_EQ(run("diagnose feed-a --look 0", out), 0);
  EXPECT_EQ(last->get(), R"({"cmd":"diagnose","name":"feed-a"})");
  EXPECT_NE(out.find("most likely: the input interface eth9 does not exist "
                     "on this host"),
            std::string::npos)
    << out;
}

TEST_F(castorctl, watch_repeats_a_view_a_bounded_number_of_times) {
  std::string out;
  ASSERT_EQ(run("watch groups -n 0.1 -c 3", out), 0);
  size_t views = 0;
  for (auto pos = out.find("castorctl watch groups"); pos != std::string::npos;
       pos = out.find("castorctl watch groups", pos + 1))
    ++views;
  EXPECT_EQ(views, 3u);
  EXPECT_EQ(run("watch frobs", out), 2);
}

// Issue 14: each command waits as long as it needs, not a fixed 75 s: a
// daemon that takes the request and never answers fails `ping` after its
// own short timeout, and -t overrides it. The socket listens and is never
// accepted from: the kernel takes the connection and the request, and no
// answer comes. The assertions are on the messages, not on time.
TEST(castorctl_timeouts, ping_waits_seconds_not_a_reloads_75) {
  test::temp_dir dir;
  const auto path = dir.path() + "/silent.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  std::string out;
  const std::string ctl = std::string{CASTORCTL_PATH} + " -u " + path;
  EXPECT_EQ(test::run_command(ctl + " ping", out), 1);
  EXPECT_EQ(out, "castorctl: no answer from castor-relay within 3 s\n");
  EXPECT_EQ(test::run_command(ctl + " -t 1 list", out), 1);
  EXPECT_EQ(out, "castorctl: no answer from castor-relay within 1 s\n");
  ::close(fd);
}

// Issue 14: `workers` says "interface down" for an output that is down.
TEST(castorctl_output, workers_say_interface_down) {
  ctl::worker_info w;
  w.id = "fwd-eth0-1";
  w.interface = "eth0";
  w.state = "running";
  w.outputs = {{"eth1", "down"}, {"eth2", "up"}};
  std::ostringstream out;
  ctl::print_workers(out, ctl::workers_reply({w}));
  EXPECT_NE(out.str().find("eth1=interface down,eth2=up"), std::string::npos)
    << out.str();
}

} // namespace
} // namespace castor::relay
