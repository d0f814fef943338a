#include "metrics/metrics_families.hpp"

#include <algorithm>
#include <type_traits>

#include "control/stats_view.hpp"
#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

namespace castor::relay {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

/// Appends a sample of any number to `f`: counters and bytes (uint64_t),
/// rates and times (double), flags (bool, 1 or 0). One template rather
/// than overloads, so that no caller needs a cast to pick one. Doubles hold
/// integers exactly up to 2^53: ~9e15 datagrams or bytes, beyond any
/// relay's lifetime.
template <class T>
void add_sample(MetricFamily& f, std::vector<ClientMetric::Label> labels,
                T value) {
  static_assert(std::is_arithmetic_v<T>, "a sample is a number");
  ClientMetric m;
  m.label = std::move(labels);
  const auto v = static_cast<double>(value);
  if (f.type == MetricType::Counter)
    m.counter.value = v;
  else
    m.gauge.value = v;
  f.metric.push_back(std::move(m));
}

/// An output's labels after its rule's: interface, address, port.
std::vector<ClientMetric::Label> output_labels(const std::string& rule,
                                               const control::output_stats& o) {
  return {{"rule", rule},
          {"interface", o.interface},
          {"address", o.address},
          {"port", std::to_string(o.port)}};
}

void add_process_families(const process_sample& p,
                          std::vector<MetricFamily>& out) {
  if (!p.valid)
    return;
  auto one = [&out](const char* name, const char* help, MetricType type,
                    auto value) {
    auto f = family(name, help, type);
    add_sample(f, {}, value);
    out.push_back(std::move(f));
  };
  one("process_cpu_seconds_total",
      "Total user and system CPU time spent in "
      "seconds.",
      MetricType::Counter, p.cpu_seconds);
  one("process_resident_memory_bytes", "Resident memory size in bytes.",
      MetricType::Gauge, p.resident_bytes);
  one("process_virtual_memory_bytes", "Virtual memory size in bytes.",
      MetricType::Gauge, p.virtual_bytes);
  one("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
      p.open_fds);
  one("process_max_fds", "Maximum number of open file descriptors.",
      MetricType::Gauge, p.max_fds);
  one("process_start_time_seconds",
      "Start time of the process since unix "
      "epoch in seconds.",
      MetricType::Gauge, p.start_time_seconds);
}

/// Relaying across sites: one series set per configured peer.
void add_peer_families(const std::vector<sites::site_peer_stats>& peers,
                       std::vector<MetricFamily>& out) {
  auto up = family("castor_peer_up", "1 while the peer site's link is up.",
                   MetricType::Gauge);
  auto datagrams =
    family("castor_peer_datagrams_total",
           "Datagrams sent to (tx) and received from (rx) the peer site.",
           MetricType::Counter);
  auto bytes = family("castor_peer_bytes_total",
                      "Frame bytes sent to and received from the peer site.",
                      MetricType::Counter);
  auto drops = family("castor_peer_drops_total",
                      "Datagrams (or frames, for auth and malformed) of the "
                      "peer site dropped, by reason.",
                      MetricType::Counter);
  auto dups = family("castor_peer_duplicates_total",
                     "Datagrams from the peer site seen before and not "
                     "emitted again.",
                     MetricType::Counter);
  auto bus = family("castor_peer_bus_total",
                    "castor::bus repair across sites (docs/bus.md): "
                    "datagrams repaired here for imports from the peer "
                    "(repairs), NAKs sent to the peer (naks_up) and NAKs "
                    "from it handed to a local publisher (naks_in).",
                    MetricType::Counter);
  auto reconnects = family("castor_peer_reconnects_total",
                           "Times the peer site came back after being down.",
                           MetricType::Counter);
  auto rtt = family("castor_peer_rtt_seconds",
                    "Smoothed round-trip time of the data path to the peer "
                    "site (probes every 500 ms); absent until measured.",
                    MetricType::Gauge);
  for (const auto& p : peers) {
    add_sample(up, {{"peer", p.name}}, p.up);
    add_sample(datagrams, {{"peer", p.name}, {"direction", "tx"}},
               p.tx_datagrams);
    add_sample(datagrams, {{"peer", p.name}, {"direction", "rx"}},
               p.rx_datagrams);
    add_sample(bytes, {{"peer", p.name}, {"direction", "tx"}}, p.tx_bytes);
    add_sample(bytes, {{"peer", p.name}, {"direction", "rx"}}, p.rx_bytes);
    for (std::size_t i = 0; i < sites::site_drop_count; ++i)
      add_sample(drops,
                 {{"peer", p.name},
                  {"reason", to_string(static_cast<sites::site_drop>(i))}},
                 p.drops[i]);
    add_sample(dups, {{"peer", p.name}}, p.duplicates);
    add_sample(bus, {{"peer", p.name}, {"kind", "repairs"}}, p.bus_repairs);
    add_sample(bus, {{"peer", p.name}, {"kind", "naks_up"}}, p.bus_naks_up);
    add_sample(bus, {{"peer", p.name}, {"kind", "naks_in"}}, p.bus_naks_in);
    add_sample(reconnects, {{"peer", p.name}}, p.reconnects);
    if (p.rtt_ns > 0)
      add_sample(rtt, {{"peer", p.name}}, static_cast<double>(p.rtt_ns) / 1e9);
  }
  for (auto* f :
       {&up, &datagrams, &bytes, &drops, &dups, &bus, &reconnects, &rtt})
    out.push_back(std::move(*f));
}

void add_rule_families(const metrics_view& x, std::vector<MetricFamily>& out) {
  auto packets =
    family("castor_rule_packets_total",
           "Datagrams that matched the rule's input.", MetricType::Counter);
  auto bytes = family("castor_rule_bytes_total",
                      "UDP payload bytes of the datagrams that matched the "
                      "rule's input.",
                      MetricType::Counter);
  auto out_packets = family("castor_output_packets_total",
                            "Datagrams the output sent.", MetricType::Counter);
  auto out_bytes =
    family("castor_output_bytes_total", "UDP payload bytes the output sent.",
           MetricType::Counter);
  auto out_drops =
    family("castor_output_drops_total",
           "Datagrams the output dropped, by reason.", MetricType::Counter);
  for (const auto& r : merge_rule_stats(x.workers, x.rules)) {
    add_sample(packets, {{"rule", r.name}}, r.packets);
    add_sample(bytes, {{"rule", r.name}}, r.bytes);
    for (const auto& o : r.outputs) {
      auto labels = output_labels(r.name, o);
      add_sample(out_packets, labels, o.packets);
      add_sample(out_bytes, labels, o.bytes);
      for (const auto& [reason, n] : o.drops) {
        auto with_reason = labels;
        with_reason.push_back({"reason", reason});
        add_sample(out_drops, std::move(with_reason), n);
      }
    }
  }
  for (auto* f : {&packets, &bytes, &out_packets, &out_bytes, &out_drops})
    out.push_back(std::move(*f));
}

void add_ingress_families(const metrics_view& x,
                          std::vector<MetricFamily>& out) {
  auto frames =
    family("castor_ingress_frames_total",
           "Frames the forwarders of the interface read.", MetricType::Counter);
  auto drops = family("castor_ingress_drops_total",
                      "Frames dropped before any rule, by reason: no_rule, "
                      "kernel_drops (lost in the kernel's ring or buffer) or "
                      "a malformed frame's reason.",
                      MetricType::Counter);
  std::vector<std::string> interfaces;
  for (const auto& w : x.workers)
    if (std::find(interfaces.begin(), interfaces.end(), w.interface)
        == interfaces.end())
      interfaces.push_back(w.interface);
  for (const auto& itf : interfaces) {
    std::vector<worker_snapshot> of_itf;
    for (const auto& w : x.workers)
      if (w.interface == itf)
        of_itf.push_back(w);
    // One summation of ingress counters for castorctl stats and here.
    auto sum = merge_ingress_stats(of_itf);
    add_sample(frames, {{"interface", itf}}, sum["frames"].get<uint64_t>());
    for (const char* reason : {"no_rule", "kernel_drops"})
      add_sample(drops, {{"interface", itf}, {"reason", reason}},
                 sum[reason].get<uint64_t>());
    for (const auto& [reason, n] : sum["malformed"].items())
      add_sample(drops, {{"interface", itf}, {"reason", reason}},
                 n.get<uint64_t>());
  }
  out.push_back(std::move(frames));
  out.push_back(std::move(drops));
}

} // namespace

std::vector<MetricFamily> to_metric_families(const metrics_view& x) {
  std::vector<MetricFamily> out;

  auto info = family("castor_build_info",
                     "The running castor-relay's version and git commit; "
                     "always 1.",
                     MetricType::Gauge);
  add_sample(info,
             {{"version", x.version},
              {"commit", x.commit.empty() ? "unknown" : x.commit}},
             1);
  out.push_back(std::move(info));

  add_rule_families(x, out);
  add_ingress_families(x, out);

  auto groups =
    family("castor_group_memberships",
           "Multicast memberships of the relay, by state.", MetricType::Gauge);
  auto states = x.memberships;
  // Absent states show as 0, so that a dashboard's series do not vanish.
  for (const char* s : {"joined", "pending", "failed"})
    states.emplace(s, 0);
  for (const auto& [state, n] : states)
    add_sample(groups, {{"state", state}}, n);
  out.push_back(std::move(groups));

  auto per_if = family("castor_interface_memberships",
                       "Multicast memberships of the relay per interface, by "
                       "state.",
                       MetricType::Gauge);
  for (auto [itf, by_state] : x.memberships_per_interface) {
    for (const char* s : {"joined", "pending", "failed"})
      by_state.emplace(s, 0);
    for (const auto& [state, n] : by_state)
      add_sample(per_if, {{"interface", itf}, {"state", state}}, n);
  }
  out.push_back(std::move(per_if));

  auto tx_dropped = family("castor_interface_tx_dropped_total",
                           "The kernel's tx_dropped of each output interface "
                           "(all its traffic): drops after the relay.",
                           MetricType::Counter);
  for (const auto& [itf, n] : x.tx_dropped)
    add_sample(tx_dropped, {{"interface", itf}}, n);
  out.push_back(std::move(tx_dropped));

  auto reloads = family("castor_reloads_total",
                        "Config reloads (SIGHUP or castorctl reload), by "
                        "result.",
                        MetricType::Counter);
  add_sample(reloads, {{"result", "ok"}}, x.reloads_ok);
  add_sample(reloads, {{"result", "failed"}}, x.reloads_failed);
  out.push_back(std::move(reloads));
  auto last_reload = family("castor_last_reload_timestamp_seconds",
                            "When the last reload was tried, in seconds since "
                            "the Unix epoch; 0 before the first.",
                            MetricType::Gauge);
  add_sample(last_reload, {}, x.last_reload_time);
  out.push_back(std::move(last_reload));

  auto restarts = family("castor_supervisor_restarts_total",
                         "Restarts of each supervised child since the relay "
                         "started, by its path in the tree.",
                         MetricType::Counter);
  for (const auto& [path, n] : x.restarts)
    add_sample(restarts, {{"child", path}}, n);
  out.push_back(std::move(restarts));

  auto queue = family("castor_forwarder_queue_depth",
                      "Datagrams waiting in the forwarder's send rings.",
                      MetricType::Gauge);
  for (const auto& w : x.workers)
    add_sample(queue, {{"worker", w.worker}}, w.queued);
  out.push_back(std::move(queue));
  // Per worker, unlike castor_ingress_frames_total: how the fanout spreads
  // the load. Like every counter here it carries on across the worker's
  // restarts (worker_ledger).
  auto frames = family("castor_forwarder_frames_total",
                       "Frames the forwarders of this worker id read.",
                       MetricType::Counter);
  for (const auto& w : x.workers)
    add_sample(frames, {{"worker", w.worker}}, w.ingress.frames);
  out.push_back(std::move(frames));
  if (!x.peers.empty())
    add_peer_families(x.peers, out);
  add_process_families(x.process, out);
  return out;
}

namespace {

void walk(const tree_node& node, const std::string& prefix,
          std::vector<std::pair<std::string, uint64_t>>& out) {
  for (const auto& child : node.children) {
    auto path = prefix + "/" + child.id;
    out.emplace_back(path, child.restarts);
    walk(child, path, out);
  }
}

} // namespace

std::vector<std::pair<std::string, uint64_t>>
restarts_by_path(const tree_node& tree) {
  std::vector<std::pair<std::string, uint64_t>> out;
  walk(tree, tree.id, out);
  return out;
}

} // namespace castor::relay
