#pragma once

// `config save` must never clobber a config file someone edited since the
// relay loaded it. The relay remembers the stamp (config_writer.hpp) of its
// config file as it loaded it: at start (the rule store's first start),
// after each successful reload, and after each save. A save to that file
// whose stamp differs now is refused, with a message that says what to do.
// Process-wide, by path (one relay per process; tests run several, each
// with its own file).

#include <optional>
#include <string>

namespace castor::relay {

/// Records the current stamp of `path` as the loaded one. With
/// `only_if_unknown`, keeps a stamp already recorded (a restarted rule
/// store must not adopt an edit made meanwhile).
void remember_config_stamp(const std::string& path, bool only_if_unknown);

/// An error if `path` changed on disk since its recorded stamp; nothing if
/// it did not, or if nothing is recorded for it.
std::optional<std::string> check_config_unchanged(const std::string& path);

} // namespace castor::relay
