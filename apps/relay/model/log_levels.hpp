#pragma once

// The relay's log level names (config_parser.hpp's log_levels(): the
// syslog-like words operators know) mapped onto spdlog's levels. spdlog
// has no "notice"; it logs as info.

#include <optional>
#include <string>

#include <spdlog/common.h>

namespace castor::relay {

inline std::optional<spdlog::level::level_enum>
to_spdlog_level(const std::string& name) {
  using namespace spdlog::level;
  if (name == "none")
    return off;
  if (name == "err")
    return err;
  if (name == "warn")
    return warn;
  if (name == "notice" || name == "info")
    return info;
  if (name == "debug")
    return debug;
  return std::nullopt;
}

} // namespace castor::relay
