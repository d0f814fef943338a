// /metrics without a socket: the families built from gathered snapshots
// (metrics_families.hpp), their text exposition through prometheus-cpp's
// TextSerializer checked against the rules of the text format 0.0.4 (a final
// newline, HELP and TYPE once per family and before its samples, escaped
// label values), and the ledger that keeps counters monotonic
// across forwarder restarts (metrics_ledger.hpp).

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "metrics/metrics_families.hpp"
#include "metrics/metrics_ledger.hpp"
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace castor::relay {
namespace {

output_snapshot output(const std::string& rule, const std::string& itf,
                       const std::string& addr, uint16_t port,
                       uint64_t packets) {
  output_snapshot o;
  o.key = rule + "|" + addr + ":" + std::to_string(port) + "@" + itf;
  o.interface = itf;
  o.address = addr;
  o.port = port;
  o.packets = packets;
  o.bytes = packets * 100;
  return o;
}

/// A worker of eth0 that saw `n` datagrams of rule `rule`, all sent on.
worker_snapshot worker(const std::string& id, const std::string& rule,
                       uint64_t n) {
  worker_snapshot w;
  w.worker = id;
  w.interface = "eth0";
  rule_snapshot r;
  r.name = rule;
  r.packets = n;
  r.bytes = n * 100;
  r.outputs.push_back(output(rule, "eth1", "239.2.2.2", 6001, n));
  w.rules.push_back(r);
  w.ingress.frames = n + 1;
  w.ingress.no_rule = 1;
  w.queued = 3;
  return w;
}

std::string exposition(const metrics_view& view) {
  return prometheus::TextSerializer{}.Serialize(to_metric_families(view));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// The metric name of a sample line: up to '{' or ' '.
std::string sample_name(const std::string& line) {
  return line.substr(0, line.find_first_of("{ "));
}

/// The sample line of `name` whose labels contain `labels`, or "".
std::string sample(const std::string& text, const std::string& name,
                   const std::string& labels) {
  for (const auto& line : lines_of(text))
    if (sample_name(line) == name && line.find(labels) != std::string::npos)
      return line;
  return "";
}

/// The value at the end of a sample line.
double value_of(const std::string& line) {
  return std::stod(line.substr(line.rfind(' ') + 1));
}

metrics_view typical_view() {
  metrics_view v;
  v.version = "0.1.0";
  v.rules = {"feed-a", "idle"};
  v.workers = {worker("fwd-eth0-1", "feed-a", 10),
               worker("fwd-eth0-2", "feed-a", 5)};
  v.memberships = {{"joined", 2}};
  v.restarts = {{"root/workers", 0}, {"root/workers/fwd-eth0-1", 2}};
  return v;
}

TEST(metrics, text_follows_the_exposition_format_rules) {
  const auto text = exposition(typical_view());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the last line must end with \\n";

  std::map<std::string, std::string> type_of;
  std::set<std::string> finished; // families whose samples have ended
  std::string current;            // the family of the previous sample
  size_t samples = 0;
  for (const auto& line : lines_of(text)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream in{line.substr(7)};
      std::string name, type;
      in >> name >> type;
      EXPECT_EQ(type_of.count(name), 0u) << "a second # TYPE for " << name;
      type_of[name] = type;
      if (type == "counter") {
        EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
      }
      EXPECT_EQ(name.rfind("castor_", 0), 0u) << name;
      continue;
    }
    if (line.empty() || line[0] == '#')
      continue;
    ++samples;
    auto name = sample_name(line);
    EXPECT_EQ(type_of.count(name), 1u)
      << "sample before its # TYPE line: " << line;
    if (name != current) {
      EXPECT_EQ(finished.count(name), 0u)
        << "samples of " << name << " are not grouped together";
      if (!current.empty())
        finished.insert(current);
      current = name;
    }
  }
  EXPECT_GT(samples, 10u);
  EXPECT_EQ(type_of["castor_rule_packets_total"], "counter");
  EXPECT_EQ(type_of["castor_group_memberships"], "gauge");
  EXPECT_EQ(type_of["castor_forwarder_queue_depth"], "gauge");
  EXPECT_EQ(type_of["castor_forwarder_frames_total"], "counter");
  EXPECT_EQ(type_of["castor_build_info"], "gauge");
}

TEST(metrics, ttl_expired_is_an_output_drop_reason) {
  // ttl = "decrement" drops what arrived with TTL 1, per output; both
  // workers' counts are summed.
  auto v = typical_view();
  v.workers[0].rules[0].outputs[0].drops.ttl_expired = 4;
  v.workers[1].rules[0].outputs[0].drops.ttl_expired = 3;
  const auto text = exposition(v);
  EXPECT_EQ(value_of(sample(text, "castor_output_drops_total",
                            "reason=\"ttl_expired\"")),
            7);
}

TEST(metrics, workers_of_a_rule_are_summed_and_every_family_shows) {
  const auto text = exposition(typical_view());
  EXPECT_EQ(
    value_of(sample(text, "castor_rule_packets_total", "rule=\"feed-a\"")), 15);
  EXPECT_EQ(
    value_of(sample(text, "castor_rule_bytes_total", "rule=\"feed-a\"")), 1500);
  // A configured rule without traffic shows with 0, a dashboard's series
  // exists from the start.
  EXPECT_EQ(
    value_of(sample(text, "castor_rule_packets_total", "rule=\"idle\"")), 0);
  // Issue 14: the output's key as three labels, not "ADDR:PORT@IF".
  EXPECT_EQ(value_of(sample(text, "castor_output_packets_total",
                            "interface=\"eth1\",address=\"239.2.2.2\","
                            "port=\"6001\"")),
            15);
  EXPECT_NE(sample(text, "castor_output_drops_total", "reason=\"queue_full\""),
            "");
  EXPECT_EQ(
    value_of(sample(text, "castor_ingress_frames_total", "interface=\"eth0\"")),
    17);
  EXPECT_EQ(
    value_of(sample(text, "castor_ingress_drops_total", "reason=\"no_rule\"")),
    2);
  EXPECT_NE(sample(text, "castor_ingress_drops_total", "reason=\"truncated\""),
            "");
  EXPECT_EQ(
    value_of(sample(text, "castor_group_memberships", "state=\"joined\"")), 2);
  EXPECT_EQ(
    value_of(sample(text, "castor_group_memberships", "state=\"pending\"")), 0);
  EXPECT_EQ(value_of(sample(text, "castor_supervisor_restarts_total",
                            "child=\"root/workers/fwd-eth0-1\"")),
            2);
  EXPECT_EQ(value_of(sample(text, "castor_forwarder_queue_depth",
                            "worker=\"fwd-eth0-2\"")),
            3);
  // Per worker, not summed: the fanout's spread.
  EXPECT_EQ(value_of(sample(text, "castor_forwarder_frames_total",
                            "worker=\"fwd-eth0-1\"")),
            11);
  EXPECT_EQ(value_of(sample(text, "castor_forwarder_frames_total",
                            "worker=\"fwd-eth0-2\"")),
            6);
  EXPECT_EQ(value_of(sample(text, "castor_build_info", "version=\"0.1.0\"")),
            1);
}

TEST(metrics, a_removed_rule_disappears) {
  auto v = typical_view();
  v.rules = {"idle"}; // feed-a removed; its workers still report it
  const auto text = exposition(v);
  EXPECT_EQ(text.find("feed-a"), std::string::npos) << text;
}

TEST(metrics, label_values_are_escaped) {
  metrics_view v;
  const std::string name = "a\"b\\c\nd";
  v.rules = {name};
  v.workers = {worker("fwd-eth0-1", name, 1)};
  const auto text = exposition(v);
  EXPECT_NE(text.find("castor_rule_packets_total{rule=\"a\\\"b\\\\c\\nd\"} 1"),
            std::string::npos)
    << text;
  // The raw newline must not split a sample line.
  for (const auto& line : lines_of(text))
    EXPECT_NE(line.rfind("d\"", 0), 0u) << line;
}

TEST(metrics, restart_paths_follow_the_tree) {
  tree_node root{"root", "supervisor", "one_for_one", "running", 0, 1, {}};
  tree_node workers{"workers", "supervisor", "one_for_one", "running", 1, 2,
                    {}};
  workers.children.push_back(
    tree_node{"fwd-eth0-1", "worker", "", "running", 4, 3, {}});
  root.children.push_back(
    tree_node{"group-manager", "worker", "", "running", 0, 4, {}});
  root.children.push_back(workers);
  const auto paths = restarts_by_path(root);
  const std::vector<std::pair<std::string, uint64_t>> want{
    {"root/group-manager", 0},
    {"root/workers", 1},
    {"root/workers/fwd-eth0-1", 4}};
  EXPECT_EQ(paths, want);
}

// -- the ledger ----------------------------------------------------------------

uint64_t rule_packets(const std::vector<worker_snapshot>& totals,
                      const std::string& rule) {
  uint64_t n = 0;
  for (const auto& w : totals)
    for (const auto& r : w.rules)
      if (r.name == rule)
        n += r.packets;
  return n;
}

/// The final counts of incarnation `incarnation` of `id`, as
/// relay_context::retire records them.
void retire(retired_by_worker& retired, const std::string& id,
            uint64_t incarnation, const worker_snapshot& last) {
  auto& r = retired[id];
  accumulate(r.sum, last);
  r.up_to = std::max(r.up_to, incarnation);
}

TEST(metrics_ledger, a_restarted_worker_adds_to_its_old_counts) {
  worker_ledger ledger;
  retired_by_worker retired;
  ledger.record("fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 10));
  ledger.record("fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 12));
  EXPECT_EQ(rule_packets(ledger.totals(retired), "feed-a"), 12u);
  // A new incarnation counts from 0 again: the sum must not fall. Until
  // the old one's final count is in, its last snapshot stands in for it.
  ledger.record("fwd-eth0-1", 9, worker("fwd-eth0-1", "feed-a", 3));
  EXPECT_EQ(rule_packets(ledger.totals(retired), "feed-a"), 15u);
  // Incarnation 7 forwarded 2 more after the last gather, before it
  // stopped: its final count replaces the stand-in, and nothing is lost.
  retire(retired, "fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 14));
  ledger.retain({"fwd-eth0-1"}, {"feed-a"}, retired);
  auto totals = ledger.totals(retired);
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(rule_packets(totals, "feed-a"), 17u);
  EXPECT_EQ(totals[0].rules[0].outputs[0].packets, 17u);
  EXPECT_EQ(totals[0].ingress.frames, 15u + 4u);
  // Queue depth is a level: the current incarnation's, not a sum.
  EXPECT_EQ(totals[0].queued, 3u);
}

TEST(metrics_ledger,
     counts_after_the_last_gather_are_kept_when_a_worker_stops) {
  // The worker stops between two gathers and its replacement has not
  // answered yet: the total is its exact final count, not the last
  // gathered one.
  worker_ledger ledger;
  retired_by_worker retired;
  ledger.record("fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 10));
  retire(retired, "fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 25));
  auto totals = ledger.totals(retired);
  EXPECT_EQ(rule_packets(totals, "feed-a"), 25u);
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].queued, 0u) << "a stopped worker queues nothing";
}

TEST(metrics_ledger, a_late_answer_from_a_stopped_incarnation_counts_once) {
  worker_ledger ledger;
  retired_by_worker retired;
  ledger.record("fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 10));
  retire(retired, "fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 14));
  ledger.record("fwd-eth0-1", 9, worker("fwd-eth0-1", "feed-a", 3));
  // Incarnation 7's answer to an older request arrives last.
  ledger.record("fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 14));
  EXPECT_EQ(rule_packets(ledger.totals(retired), "feed-a"), 17u);
  ledger.retain({"fwd-eth0-1"}, {"feed-a"}, retired);
  EXPECT_EQ(rule_packets(ledger.totals(retired), "feed-a"), 17u);
}

TEST(metrics_ledger, a_worker_that_does_not_answer_keeps_its_counts) {
  worker_ledger ledger;
  retired_by_worker retired;
  ledger.record("fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 10));
  ledger.record("fwd-eth0-2", 8, worker("fwd-eth0-2", "feed-a", 5));
  // The next gather hears only from fwd-eth0-2, fwd-eth0-1 is still listed.
  ledger.record("fwd-eth0-2", 8, worker("fwd-eth0-2", "feed-a", 6));
  ledger.retain({"fwd-eth0-1", "fwd-eth0-2"}, {"feed-a"}, retired);
  EXPECT_EQ(rule_packets(ledger.totals(retired), "feed-a"), 16u);
}

TEST(metrics_ledger, deleted_workers_and_removed_rules_are_forgotten) {
  worker_ledger ledger;
  retired_by_worker retired;
  ledger.record("fwd-eth0-1", 7, worker("fwd-eth0-1", "feed-a", 10));
  ledger.record("fwd-eth0-1", 9, worker("fwd-eth0-1", "feed-b", 1));
  ledger.record("fwd-eth1-1", 8, worker("fwd-eth1-1", "feed-c", 5));
  ledger.retain({"fwd-eth0-1"}, {"feed-b"}, retired);
  auto totals = ledger.totals(retired);
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].worker, "fwd-eth0-1");
  EXPECT_EQ(rule_packets(totals, "feed-a"), 0u);
  EXPECT_EQ(rule_packets(totals, "feed-b"), 1u);
}

TEST(metrics, issue_14_families) {
  auto v = typical_view();
  v.commit = "abc123def456";
  v.memberships_per_interface = {{"eth0", {{"joined", 2}}}};
  v.tx_dropped = {{"eth1", 7}};
  v.reloads_ok = 3;
  v.reloads_failed = 1;
  v.last_reload_time = 1700000000;
  v.process = read_process_sample();
  const auto text = exposition(v);
  EXPECT_EQ(text.find("castor_up"), std::string::npos) << text;
  EXPECT_EQ(value_of(sample(text, "castor_build_info",
                            "version=\"0.1.0\",commit=\"abc123def456\"")),
            1);
  EXPECT_EQ(value_of(sample(text, "castor_interface_memberships",
                            "interface=\"eth0\",state=\"joined\"")),
            2);
  EXPECT_EQ(value_of(sample(text, "castor_interface_memberships",
                            "interface=\"eth0\",state=\"failed\"")),
            0);
  EXPECT_EQ(value_of(sample(text, "castor_interface_tx_dropped_total",
                            "interface=\"eth1\"")),
            7);
  EXPECT_EQ(value_of(sample(text, "castor_reloads_total", "result=\"ok\"")), 3);
  EXPECT_EQ(value_of(sample(text, "castor_reloads_total", "result=\"failed\"")),
            1);
  EXPECT_EQ(value_of(sample(text, "castor_last_reload_timestamp_seconds", "")),
            1700000000);
  // /proc/self of this test: it has run, holds memory and descriptors.
  ASSERT_TRUE(v.process.valid);
  EXPECT_GT(value_of(sample(text, "process_resident_memory_bytes", "")), 0);
  EXPECT_GT(value_of(sample(text, "process_open_fds", "")), 2);
  EXPECT_GE(value_of(sample(text, "process_max_fds", "")),
            value_of(sample(text, "process_open_fds", "")));
  EXPECT_GT(value_of(sample(text, "process_start_time_seconds", "")), 1.5e9);
}

} // namespace
} // namespace castor::relay
