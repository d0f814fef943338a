#pragma once

// The relay's Prometheus families, built from what the metrics actor last
// gathered (metrics_actor.hpp). This file holds the naming and the shape of
// every family and nothing else, so a unit test can check the exposition
// text without an actor system or a socket.
//
// Names follow Prometheus's naming practice: one application prefix,
// `castor_`, counters end in `_total`, bytes in bytes. Label
// values come from the configured rules, outputs, interfaces and tree only,
// never from traffic, so cardinality is bounded by the config:
//
//   castor_build_info{version,commit}                  gauge, always 1
//   castor_rule_packets_total{rule}                    datagrams matched
//   castor_rule_bytes_total{rule}                      their UDP payload bytes
//   castor_output_packets_total{rule,OUT}              datagrams sent
//   castor_output_bytes_total{rule,OUT}                their payload bytes
//   castor_output_drops_total{rule,OUT,reason}         queue_full|send_error|
//                                                      too_big|ttl_expired|qdisc_drop
//   castor_interface_tx_dropped_total{interface}       the kernel's tx_dropped
//                                                      of an output interface
//   castor_interface_memberships{interface,state}      joined|pending|failed
//   castor_reloads_total{result}                       ok|failed
//   castor_last_reload_timestamp_seconds               0 before any reload
//   process_cpu_seconds_total, process_resident_memory_bytes,
//   process_virtual_memory_bytes, process_open_fds, process_max_fds,
//   process_start_time_seconds                         (process_metrics.hpp)
//   castor_ingress_frames_total{interface}             frames a worker read
//   castor_ingress_drops_total{interface,reason}       no_rule, kernel_drops,
//                                                      and each malformed
//                                                      reason (truncated, ...)
//   castor_group_memberships{state}                    joined|pending|failed
//   castor_supervisor_restarts_total{child}            root/workers/fwd-eth0-1
//   castor_forwarder_queue_depth{worker}               datagrams in send rings
//   castor_peer_up{peer}                               1 while the peer is up
//   castor_peer_datagrams_total{peer,direction}        tx|rx (docs/sites.md)
//   castor_peer_bytes_total{peer,direction}            frame bytes each way
//   castor_peer_drops_total{peer,reason}               peer_down|send_error|...
//   castor_peer_duplicates_total{peer}                 emitted once, not twice
//   castor_peer_reconnects_total{peer}
//   castor_peer_rtt_seconds{peer}                      data path, smoothed
//
// OUT is the labels interface, address and port: an output's key within its
// rule. There is no castor_up: Prometheus's own `up` says whether the scrape
// worked.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "metrics/process_metrics.hpp"
#include "model/counters.hpp"
#include "sites/site_engine.hpp"
#include <prometheus/metric_family.h>

#include "castor/actors/supervisor.hpp"

namespace castor::relay {

/// Everything one exposition shows.
struct metrics_view {
  std::string version;
  /// The git commit the relay was built from ("unknown" outside git).
  std::string commit{};
  /// The current rules' names in config order. Rules a worker still
  /// reports but that are gone from here are left out: a removed rule's
  /// series disappear.
  std::vector<std::string> rules;
  /// One per worker: its counters since the relay started (all its
  /// incarnations, see worker_ledger) and its current queue depth.
  std::vector<worker_snapshot> workers;
  /// Group memberships by state; joined, pending and failed always show.
  std::map<std::string, uint64_t> memberships;
  /// Restarts per child path below the root, in tree order.
  std::vector<std::pair<std::string, uint64_t>> restarts;
  /// The peer sites (issue 17); empty without a [node].
  std::vector<sites::site_peer_stats> peers;
  /// Memberships per interface and state.
  std::map<std::string, std::map<std::string, uint64_t>>
    memberships_per_interface{};
  /// The kernel's tx_dropped per output interface.
  std::map<std::string, uint64_t> tx_dropped{};
  /// Reloads by outcome, and the time of the last one (0: none).
  uint64_t reloads_ok{};
  uint64_t reloads_failed{};
  double last_reload_time{};
  /// process_* (no family when !process.valid).
  process_sample process{};
};

/// The families of `view`, each with its # HELP and # TYPE.
std::vector<prometheus::MetricFamily> to_metric_families(const metrics_view& x);

/// Every node of `tree` below its root as ("root/workers/fwd-eth0-1",
/// restarts), depth first in start order, so an operator can paste the
/// label into `castorctl kill`.
std::vector<std::pair<std::string, uint64_t>>
restarts_by_path(const tree_node& tree);

} // namespace castor::relay
