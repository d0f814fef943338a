#pragma once

// Runtime changes that persist (issue 14). `castorctl add` and `remove`
// change the running rules; the config file, in read-only /etc under the
// packaged unit, does not change. What differs from the file is kept as a
// *runtime state file* in the daemon's state directory
// (service/state_directory.hpp), written atomically after every change and
// read at start on top of the config file, so that a restart runs what ran
// before it.
//
// The state holds the difference, not a copy of the rules: the file stays
// the source of every rule nobody changed at runtime, and an edit of the
// file still takes effect.
//
//   added    rules added at runtime: a name the file (as loaded) lacks, or
//            one the file defines differently (a runtime replacement)
//   removed  the file's rules removed (or replaced) at runtime, as the file
//            defined them then
//
// Applying the state to a file's rules (at start, and at every reload):
//   - a removed rule is left out while the file still defines it the same
//     way; once the file defines that name differently, the file was edited
//     since: the file's rule runs, and a runtime rule of that name is
//     dropped;
//   - an added rule runs unless the file now has a rule of that name, or a
//     rule with the same input (then the file's runs);
//   - every runtime rule that runs is reported as kept, every one left out
//     as dropped with the reason: a reload never discards one silently.
// So a reload keeps runtime rules a file lacks, as a restart does; `castorctl
// remove NAME` ends one.
//
// Format: TOML, `[[rule]]` tables for the added rules and `[[removed]]`
// tables (the same fields) for the removed ones, with a comment that says
// what the file is. Read with the config parser's rule checks.

#include <optional>
#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay {

/// The rules' difference from a config file (see above).
struct runtime_changes {
  std::vector<rule> added;
  std::vector<rule> removed;

  bool empty() const noexcept { return added.empty() && removed.empty(); }
};

/// What `running` changed relative to the file's `file` rules.
runtime_changes diff_runtime(const std::vector<rule>& file,
                             const std::vector<rule>& running);

/// The outcome of applying runtime changes to a file's rules.
struct applied_runtime {
  /// What runs: the file's rules in file order (a runtime replacement in
  /// its place), then the added rules in the order they were added.
  std::vector<rule> rules;
  /// Runtime rules that run (added or replacements), by name.
  std::vector<std::string> kept;
  /// Runtime changes the file overrides: "NAME: why".
  std::vector<std::string> dropped;
};

applied_runtime apply_runtime(const std::vector<rule>& file,
                              const runtime_changes& changes);

/// The state file's text; `config_file` is named in its comment.
std::string write_runtime_changes(const runtime_changes& changes,
                                  const std::string& config_file);

struct runtime_changes_result {
  runtime_changes changes;
  /// Empty when the text was read; "NAME: message" lines otherwise.
  std::vector<std::string> errors;
};

/// Parses a state file's `text`; `name` is used in messages.
runtime_changes_result parse_runtime_changes(const std::string& text,
                                             const std::string& name);

/// Reads the state file at `path`: nothing if there is none.
std::optional<runtime_changes_result>
read_runtime_changes(const std::string& path);

} // namespace castor::relay
