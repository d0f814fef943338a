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
//   config save [FILE]  that text written atomically to FILE in the state
//                       directory, by default its relay.toml; nowhere else
//                       (service/state_directory.hpp)
//   ping, version, log_level
// Every failure is an error answer; nothing a client sends ends the daemon.

#include <string>

#include "model/relay_context.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// A permanent worker with id `id`; `state_directory` is where `config
/// save` may write (empty: nowhere).
child_spec relay_handler_child(std::string id, relay_context_ptr ctx,
                               std::string version,
                               std::string state_directory = {});

} // namespace castor::relay
