#pragma once

// castor-relay as an application: the supervision tree, the actor system and
// the I/O thread around it, run until SIGTERM/SIGINT and then stopped in
// reverse start order.
//
//   root (one_for_one)
//     group-manager   every multicast membership (net/group_manager.hpp)
//     rule-store      the current rules; joins their input groups
//     workers         one_for_one: fwd-IF-N, `workers` per input interface
//     sites           with [node]: relaying across sites (sites/)
//     handler         answers control requests
//     metrics         Prometheus /metrics ([metrics] listen), if enabled
//     control         the unix socket castorctl talks to
//
// Start order is the dependency order: forwarders subscribe to the rule
// store, the handler asks all of them, and the socket opens last, so a
// client never reaches a relay that is half up. Shutdown closes the socket
// first and leaves the groups last.

#include <optional>
#include <string>
#include <vector>

#include "model/daemon_config.hpp"

namespace castor::relay {

struct relay_run_options {
  /// The file the config came from (for `config show` and messages).
  std::string config_file;
  /// Overrides [relay] control_socket when not empty (-u).
  std::string control_socket;
  std::string version;
  /// The daemon's state directory (service/state_directory.hpp); empty:
  /// runtime changes are not kept, `config save` is refused.
  std::string state_directory;
  /// The rules that run at start when they differ from the config's: the
  /// file's with the runtime state applied (config/runtime_state.hpp).
  std::optional<std::vector<rule>> running_rules;
};

/// Runs the relay with `config` until a signal stops it; returns the
/// process exit code (0 clean stop, 1 failure, 2 failed start).
int run_relay(const daemon_config& config, const relay_run_options& options);

} // namespace castor::relay
