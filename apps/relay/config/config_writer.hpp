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

#include <cstdint>
#include <optional>
#include <string>

#include "config/config_parser.hpp"

namespace castor::relay {

/// The TOML text of `cfg`.
std::string write_config(const daemon_config& cfg);

/// One rule as a TOML `[[TABLE]]` table (a blank line first), as
/// write_config writes each rule with TABLE "rule".
std::string write_rule_table(const rule& r, const std::string& table = "rule");

/// Writes `write_config(cfg)` to `path` atomically: a temporary file next
/// to it, created exclusively (O_EXCL, never through a symlink), flushed,
/// then renamed over it, and the directory flushed, so a reader (or a
/// crash) never sees half a config. The file it replaces stays as
/// PATH.bak. The file keeps the mode of the one it replaces (0644 for a
/// new one). A symlink at `path` is refused, not followed. Returns what went
/// wrong, naming the path, or nothing.
std::optional<std::string> save_config(const daemon_config& cfg,
                                       const std::string& path);

/// Writes `text` to `path` the same way (save_config is this with
/// write_config(cfg)).
std::optional<std::string> write_file_atomically(const std::string& path,
                                                 const std::string& text);

/// What identifies one version of a file on disk: a save refuses to
/// replace a file whose stamp is not the one it expects (changed on disk
/// since the relay loaded it).
struct file_stamp {
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool exists = false;

  friend bool operator==(const file_stamp& x, const file_stamp& y) {
    return x.exists == y.exists && x.dev == y.dev && x.ino == y.ino
           && x.size == y.size && x.mtime_ns == y.mtime_ns;
  }
  friend bool operator!=(const file_stamp& x, const file_stamp& y) {
    return !(x == y);
  }
};

/// The stamp of `path` now (exists == false if there is none).
file_stamp stamp_of(const std::string& path);

/// A TOML basic string literal for `text`, quotes included, with the
/// escapes TOML 1.0 requires (so that any string survives the round trip).
std::string toml_quote(const std::string& text);

} // namespace castor::relay
