#pragma once

// The rule store: the one actor that changes the relay's rules. Everything
// else reads them (forwarders subscribe, the worker supervisor reads them at
// each start), so there is a single order of changes and one epoch counter.
//
// The rules themselves live in the relay_context, not in the actor, so a
// restarted store, and any forwarder restarted meanwhile, continues with
// the current rules rather than those of the config file.
//
// A change, in order:
//   1. validate (the same checks as the config file, plus: the input and
//      output interfaces exist now);
//   2. join the input membership through the group manager if no rule held
//      it yet (refused joins refuse the rule);
//   3. commit a new epoch and push it to every subscribed forwarder;
//   4. start forwarders for a new input interface (or stop those of an
//      interface no rule uses any more);
//   5. leave memberships no rule needs any more;
//   6. write the runtime state (what differs from the config file) to the
//      state directory, so that the change survives a restart.
// Requests are handled one at a time (each change awaits its own steps), so
// two concurrent `add`s cannot both pass the duplicate check.
//
// The store is the group manager's holder of every input membership: the
// group manager leaves them all if the store dies, and the restarted store
// joins the current ones again.
//
// Protocol:
//   (control_atom, control::request)   add / remove / list -> control::response
//       (add takes one rule, or many in one change: all or none)
//   (rules_subscribe_atom, caf::actor) -> rule_set   and later pushes
//       (rules_atom, rule_set) to it on every change, until it terminates
//   (rules_atom)                       -> rule_set   the current rules

#include <string>

#include "model/atoms.hpp"
#include "model/relay_context.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// A permanent worker; the spec is "rule-store" in the tree. With a
/// `state_directory`, every committed change (and the store's start) writes
/// the runtime state there (config/runtime_state.hpp), and a reload keeps
/// the runtime changes on top of the new file (config/runtime_changes.hpp).
child_spec rule_store_child(std::string id, relay_context_ptr ctx,
                            std::string state_directory = {});

} // namespace castor::relay
