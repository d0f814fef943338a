#pragma once

// The runtime state file (config/runtime_changes.hpp) in the daemon's state
// directory (service/state_directory.hpp): read at start, written by the
// rule store after every change.

#include <optional>
#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay {

/// The runtime state file's path in `dir`.
std::string runtime_state_path(const std::string& dir);

struct runtime_state_load {
  /// What runs: the file's rules with the state applied; nothing when
  /// there is no state (or no state directory): the file's rules run.
  std::optional<std::vector<rule>> rules;
  /// For the log and -t: the runtime changes the file overrides, a state
  /// that cannot be read (set aside as runtime.toml.rejected, so nothing
  /// is lost), a state directory the relay cannot write.
  std::vector<std::string> warnings;
  /// What was applied, or that nothing persists without a directory.
  std::vector<std::string> notes;
};

/// Reads the state in `dir` and applies it to the config file's rules.
runtime_state_load load_runtime_state(const std::string& dir,
                                      const std::vector<rule>& file_rules);

/// Writes `running`'s changes from `file_rules` to the state in `dir`
/// atomically; what went wrong, or nothing.
std::optional<std::string>
save_runtime_state(const std::string& dir, const std::string& config_file,
                   const std::vector<rule>& file_rules,
                   const std::vector<rule>& running);

} // namespace castor::relay
