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

#include <string>

#include "config_parser.hpp"

namespace castor::relay {

/// The TOML text of `cfg`.
std::string write_config(const daemon_config& cfg);

/// A TOML basic string literal for `text`, quotes included, with the
/// escapes TOML 1.0 requires (so that any string survives the round trip).
std::string toml_quote(const std::string& text);

} // namespace castor::relay
