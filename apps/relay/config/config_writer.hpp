#pragma once

// Writes a daemon_config as TOML in the format config_parser.hpp reads, for
// `castorctl config show` and `config save`: what the relay runs, as a file
// an operator can read, edit and load again.
//
// The output is self-contained: every setting is written out (defaults
// included, so that a later change of a default cannot change a saved
// config), and all rules appear inline, those that came from included files
// too. `include` patterns are therefore NOT written as directives (the rules
// they brought in would be read twice); they appear in a comment.
//
// Round trip: parse_config_string(write_config(c)) yields c with `include`
// empty, for every c that the parser accepts.

#include <optional>
#include <string>

#include "config/config_parser.hpp"

namespace castor::relay {

/// The TOML text of `cfg`.
std::string write_config(const daemon_config& cfg);

/// Writes `write_config(cfg)` to `path` atomically: a temporary file next
/// to it, flushed, then renamed over it, so a reader (or a crash) never sees
/// half a config. The file keeps the mode of the one it replaces (0644 for a
/// new one). Returns what went wrong, naming the path, or nothing.
std::optional<std::string> save_config(const daemon_config& cfg,
                                       const std::string& path);

/// A TOML basic string literal for `text`, quotes included, with the
/// escapes TOML 1.0 requires (so that any string survives the round trip).
std::string toml_quote(const std::string& text);

} // namespace castor::relay
