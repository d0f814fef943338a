#pragma once

// The worker supervisor: one_for_one over the forwarders, `workers` of them
// per input interface, named fwd-INTERFACE-N (N from 1). Its children are
// computed from the *current* rules each time it starts, so a restarted
// worker supervisor brings back the forwarders the rules need now, not
// those of the config file. At runtime the rule store calls
// reconcile_workers() after every change.

#include <functional>
#include <string>

#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>

#include "model/relay_context.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// "fwd-eth0-1".
std::string forwarder_id(const std::string& interface, unsigned n);

/// The interface of a forwarder id ("fwd-eth0-1" -> "eth0"), empty if `id`
/// is not one.
std::string forwarder_interface(const std::string& id);

/// The worker supervisor's spec, id "workers".
child_spec worker_supervisor_child(relay_context_ptr ctx);

/// Starts the forwarders the current rules need and stops (and deletes)
/// those of interfaces no rule uses, by requests from `self` that it awaits
/// (self handles nothing else meanwhile). `done` gets the first error, or
/// none.
void reconcile_workers(caf::event_based_actor* self,
                       const relay_context_ptr& ctx,
                       std::function<void(caf::error)> done);

} // namespace castor::relay
