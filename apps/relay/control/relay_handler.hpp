#pragma once

// The control handler: answers castorctl's requests (control_protocol.hpp)
// for the control server, as (control_atom, control::request) ->
// control::response.
//
//   add, remove, list,  delegated to the rule store (the one writer);
//   reload              reload re-reads the config file (config_reload.hpp)
//   stats               every running forwarder's counters, merged per
//                       rule and output, plus ingress totals ("ingress")
//   workers             the worker supervisor's children
//   tree                the supervision tree from the root
//   kill PATH           exit(kill) to the actor at PATH, as `tree` prints
//                       it (root/workers/fwd-eth0-1), like erlang:exit/2
//   config show         the running config as TOML (config_writer.hpp)
//   config save [FILE]  that text written atomically to FILE, by default
//                       the file the relay was started with
//   ping, version, log_level
// Every failure is an error answer; nothing a client sends ends the daemon.

#include <string>

#include "model/relay_context.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// A permanent worker with id `id`.
child_spec relay_handler_child(std::string id, relay_context_ptr ctx,
                               std::string version);

} // namespace castor::relay
