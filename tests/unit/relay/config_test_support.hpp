#pragma once

// What the config parser's tests share: its errors as
// "file:line:col: message" strings.

#include <string>
#include <vector>

#include "config/config_parser.hpp"

namespace castor::relay::test {

inline std::vector<std::string> messages(const config_result& res) {
  std::vector<std::string> out;
  for (auto& e : res.errors)
    out.push_back(to_string(e));
  return out;
}

inline std::vector<std::string> errors_of(const std::string& text) {
  return messages(parse_config_string(text, "relay.toml"));
}

} // namespace castor::relay::test
