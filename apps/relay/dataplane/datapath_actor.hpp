#pragma once

// The datapath actor (issue 16): the supervised owner of one input
// interface's kernel data path (kernel_datapath.hpp), a worker next to the
// forwarders, id kdp-INTERFACE. It
//   - adopts the interface's kernel data path in its start function (loads
//     and attaches the program on first use; a replacement after a crash
//     or a `castorctl kill` finds the one still attached and forwarding),
//     so a load failure is a clean start error;
//   - subscribes to the rule store and writes every rule set's kernel rules
//     of its interface into the maps (model/datapath.hpp decides which);
//   - looks the output interfaces up again every second (a re-created
//     interface gets a new index and address);
//   - answers stats requests like a forwarder, from the per-CPU counters in
//     the maps, which outlive it: they never go back on a restart;
//   - on a clean stop (no rule left on its interface, or the relay
//     stopping) detaches the program; on a kill or a failure it leaves it
//     forwarding for its successor.
//
// Protocol:
//   (forwarder_stats_atom) -> worker_snapshot

#include <string>

#include "model/relay_context.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// The interface's rules that its kernel data path serves under the
/// running settings.
std::vector<rule> kernel_rules(const std::vector<rule>& rules,
                               const std::string& interface,
                               const relay_settings& settings);

/// A permanent worker with id datapath_id(interface).
child_spec datapath_child(std::string interface, relay_context_ptr ctx);

} // namespace castor::relay
