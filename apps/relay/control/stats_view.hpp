#pragma once

// The control protocol's view of the forwarders' counters: the snapshots of
// all workers (model/counters.hpp) merged per rule and output, as
// `castorctl stats` shows them and /metrics exports them.
//
// Merging is by rule name and output key, so a rule counts the traffic of
// all workers of its interface; an output shows in the order its rule lists
// it.

#include <string>
#include <vector>

#include "control/control_protocol.hpp"
#include "model/counters.hpp"
#include <nlohmann/json.hpp>

namespace castor::relay {

/// Per-rule stats summed over workers, rules in `order` (names; rules no
/// worker reported appear with zero counters, so a rule whose interface has
/// no traffic still shows up).
std::vector<control::rule_stats>
merge_rule_stats(const std::vector<worker_snapshot>& workers,
                 const std::vector<std::string>& order);

/// Ingress counters summed over workers, as a JSON object
/// {"frames":..,"no_rule":..,"kernel_drops":..,"malformed":{reason:n}}.
nlohmann::json merge_ingress_stats(const std::vector<worker_snapshot>& workers);

/// The drops of one output as the protocol's reason -> count map.
control::drop_counts to_drop_counts(const output_drops& x);

} // namespace castor::relay
