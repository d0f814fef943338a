#pragma once

// The atoms that tag messages between the relay's concerns. They live in
// the model so that the data path (dataplane/) can answer the rule store
// and the metrics actor without including either of them.
//
//   (control_atom, control::request) -> control::response
//       a control request: control server -> handler -> rule store
//   (rules_subscribe_atom, caf::actor) -> rule_set
//       a forwarder subscribes to the rule store ...
//   (rules_atom, rule_set)
//       ... which pushes every new rule set to it; (rules_atom) -> rule_set
//       asks for the current one
//   (forwarder_stats_atom) -> worker_snapshot
//       a forwarder's counters, for `castorctl stats` and /metrics

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "model/counters.hpp"

namespace castor::relay {

using control_atom = caf::atom_constant<caf::atom("control")>;
using rules_atom = caf::atom_constant<caf::atom("rules")>;
using rules_subscribe_atom = caf::atom_constant<caf::atom("rules_sub")>;
using forwarder_stats_atom = caf::atom_constant<caf::atom("fwd_stats")>;

} // namespace castor::relay

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::relay::worker_snapshot)
