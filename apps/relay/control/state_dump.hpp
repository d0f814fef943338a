#pragma once

// The state dump of SIGUSR1 (pimd's and keepalived's habit): the rules, the
// forwarders and the supervision tree, asked of the control handler as
// `castorctl list`, `workers` and `tree` would, and logged as the same
// tables, one log line per row between "state dump" and "end of state
// dump". Nothing is changed; a part that does not answer is logged as such
// and the dump goes on.

#include <caf/actor_system.hpp>

#include "model/relay_context.hpp"

namespace castor::relay {

/// Starts the dump and returns at once: a short-lived actor asks the
/// handler and logs the answers on the relay logger.
void dump_state(caf::actor_system& sys, relay_context_ptr ctx);

} // namespace castor::relay
