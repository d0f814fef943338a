#pragma once

// What a reload changes, decided before anything changes. Kept free of
// actors so that the rules of a reload can be tested on their own; the rule
// store (rule_store.cpp) applies the result.
//
// Rules are matched by name:
//   added      a name only the new config has
//   removed    a name only the running rules have
//   changed    the same name with a different input, outputs or source
//   unchanged  equal in every field; such a rule keeps its forwarders, its
//              membership and its egress sockets, so it loses no datagram
//
// The rules compared are the new file's with the runtime changes applied
// on top (runtime_changes.hpp): a rule added at runtime with `castorctl
// add` and absent from the file stays, as it does across a restart, and
// the reload names it; where the file now defines the same rule, the file
// wins and the reload names the runtime change it drops.
//
// Settings: log_level applies at once. Those that shape the process
// (workers, ingress, control_socket, log_target, max_frame,
// metrics) would need the
// tree, its sockets or its log sinks rebuilt; a reload keeps their running
// values and names them in `restart_needed`, so the operator knows a
// restart is due. `ingress = "auto"` never counts as a change: at start it
// became packet or socket, and that is what runs.

#include <string>
#include <vector>

#include "config/config_parser.hpp"
#include "model/reload_summary.hpp"

namespace castor::relay {

/// Added, removed and changed rule names (in the order of the config that
/// has them), and how many are unchanged.
control::reload_summary diff_rules(const std::vector<rule>& running,
                                   const std::vector<rule>& next);

/// The settings of `next` that differ from `running` and take effect only
/// at the next start, as "[section] key" names.
std::vector<std::string> settings_needing_restart(const daemon_config& running,
                                                  const daemon_config& next);

/// The config a reload puts in effect: `next`, with the settings that need
/// a restart kept at their `running` values (what the process really does).
daemon_config config_in_effect(const daemon_config& running,
                               const daemon_config& next);

} // namespace castor::relay
