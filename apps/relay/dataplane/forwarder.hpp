#pragma once

// The forwarder actor: the supervised face of one forwarder_loop (the
// packet loop on its own thread; forwarder_loop.hpp). It
//   - opens the ingress socket in its start function, so that a missing
//     interface or a missing CAP_NET_RAW is a clean start error;
//   - subscribes to the rule store, builds a rule_table for its interface
//     from every rule set it gets, and hands it to the loop (the loop swaps
//     it between batches: a change is live within one wake-up);
//   - answers stats requests with the loop's counters, copied on the loop's
//     own thread;
//   - stops the loop when it exits for whatever reason (kill included), and
//     exits with an error when the loop fails, so its supervisor restarts
//     it with a fresh socket and the current rules.
//
// Protocol:
//   (forwarder_stats_atom) -> worker_snapshot

#include <string>

#include "model/atoms.hpp"
#include "model/relay_context.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// A permanent worker with id `id` forwarding from `interface`.
child_spec forwarder_child(std::string id, std::string interface,
                           relay_context_ptr ctx);

} // namespace castor::relay
