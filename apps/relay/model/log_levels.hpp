#pragma once

// The relay's log level names: the syslog-like words operators know, as the
// config file's [relay] log_level and `castorctl log_level` accept them.
// service/logging.hpp maps them onto spdlog's levels.

#include <string>
#include <vector>

namespace castor::relay {

/// The accepted log levels, in increasing verbosity:
/// none, err, warn, notice, info, debug.
const std::vector<std::string>& log_levels();

/// Whether `level` is one of log_levels().
bool is_log_level(const std::string& level);

} // namespace castor::relay
