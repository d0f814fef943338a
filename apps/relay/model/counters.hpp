#pragma once

// Forwarding counters. Each forwarder loop counts in plain integers that
// only its own thread touches (no shared atomic per packet). On a `stats`
// request every loop copies its counters into a worker_snapshot on its own
// thread; control/stats_view.hpp merges the snapshots of all workers into
// the control protocol's per-rule and per-output view.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "castor/packet/drop_reason.hpp"

namespace castor::relay {

/// Why an output dropped a datagram. Names as in the stats output.
struct output_drops {
  uint64_t queue_full = 0; ///< the output's send ring was full
  uint64_t send_error = 0; ///< the kernel refused it, or no such interface
  uint64_t too_big = 0;    ///< larger than the output's MTU (or a slot)
  /// ttl = "decrement" and the input's TTL was 1: the copy would leave
  /// with TTL 0 (a loop between relays ends here).
  uint64_t ttl_expired = 0;
  /// Dropped by the output's queue discipline or device after the kernel
  /// took it (ENOBUFS).
  uint64_t qdisc_drop = 0;
};

struct output_snapshot {
  /// Identifies the output across workers and table swaps.
  std::string key;
  std::string interface;
  std::string address;
  uint16_t port = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  output_drops drops;
  /// The output interface as the worker last saw it: "up", "down" or
  /// "missing" (dataplane/output_links.hpp); empty if not known.
  std::string state{};
};

struct rule_snapshot {
  std::string name;
  /// Datagrams (and payload bytes) that matched the rule's input.
  uint64_t packets = 0;
  uint64_t bytes = 0;
  std::vector<output_snapshot> outputs;
};

/// What arrived at a worker and matched no rule or was not a datagram.
struct ingress_snapshot {
  uint64_t frames = 0;
  /// Passed the kernel filter but matched no rule: a rule removed between
  /// the filter swap and the table swap, or, beyond the exact filter's
  /// capacity, an unruled group on a ruled port.
  uint64_t no_rule = 0;
  /// Malformed frames by packet::drop_reason.
  packet::drop_counters malformed{};
  /// Lost in the kernel before the worker saw them (ring or buffer full).
  uint64_t kernel_drops = 0;
};

struct worker_snapshot {
  std::string worker;
  std::string interface;
  /// The epoch of the rule table the worker runs.
  uint64_t epoch = 0;
  std::vector<rule_snapshot> rules;
  ingress_snapshot ingress;
  /// Datagrams queued in the worker's send rings right now.
  uint64_t queued = 0;
  /// The kernel filter's tier ("exact", "ports", "udp"); empty for socket
  /// ingress.
  std::string filter;
  /// Why the last rule change could not change the ingress (empty: it
  /// could), and how many changes failed so far.
  std::string filter_error;
  uint64_t filter_failures = 0;
  /// The state of each output interface of its rules, by name.
  std::map<std::string, std::string> output_links{};
};

/// Adds `from`'s drops to `into`, reason by reason.
void accumulate(output_drops& into, const output_drops& from);

/// Adds `from`'s counters to `into`: rules by name, outputs by key, the
/// ingress field by field. `into` keeps its worker name and epoch.
void accumulate(worker_snapshot& into, const worker_snapshot& from);

/// Drops the counters of rules not named in `keep` (a removed rule's
/// history must not reappear if a rule of that name is added later).
void keep_rules(worker_snapshot& x, const std::vector<std::string>& keep);

/// What the stopped incarnations of one worker id counted, exactly: the sum
/// of their final snapshots, and the newest of their actor ids. A worker
/// id's incarnations run one after another and CAF's actor ids only grow,
/// so every incarnation with an id up to `up_to` has stopped and is in
/// `sum`.
struct retired_counts {
  uint64_t up_to = 0;
  worker_snapshot sum;
};

/// Per worker id ("fwd-eth0-1").
using retired_by_worker = std::map<std::string, retired_counts>;

} // namespace castor::relay
