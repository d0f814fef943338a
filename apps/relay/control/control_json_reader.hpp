#pragma once

// The control protocol's JSON insides, shared by its request, response and
// rule codecs (control_requests.cpp, control_responses.cpp,
// control_rule_json.cpp): bounded, duplicate-refusing parsing and a reader
// that collects every decode problem of a request or rule. Not for other
// users: control_protocol.hpp is the interface.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/rule.hpp"
#include "model/rule_validator.hpp"
#include <nlohmann/json.hpp>

namespace castor::relay::control::detail {

using nlohmann::json;

// nlohmann's parser recurses once per nesting level. A 64 KiB line of '['
// would recurse 64 Ki times on a CAF worker's stack, so lines nested deeper
// than any valid request are refused before parsing.
constexpr size_t max_request_depth = 16;
// Replies nest deeper (the supervision tree), and come from the daemon.
constexpr size_t max_response_depth = 256;

/// Parses without throwing, refusing nesting deeper than `max_depth` and
/// members named twice; the reason in `error` on failure.
std::optional<json> parse_json(std::string_view text, size_t max_depth,
                               std::string& error);

/// Compact JSON; invalid UTF-8 replaced rather than thrown on.
std::string dump(const json& j);

/// "an object", "a string", ... for messages.
const char* type_name(const json& j);

std::string join(const std::vector<std::string>& xs, const char* sep);

/// Collects decode problems of one request or rule as "field: message".
class reader {
public:
  std::vector<std::string> problems;

  void problem(const std::string& field, std::string msg) {
    problems.push_back(field.empty() ? std::move(msg) : field + ": " + msg);
  }

  /// Reports members of `obj` not in `allowed`.
  void check_members(const json& obj, const std::string& field,
                     const std::vector<std::string>& allowed) {
    for (auto& [key, value] : obj.items()) {
      (void)value;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        problem(field, "unknown member '" + key + "' (expected "
                         + join(allowed, ", ") + ")");
    }
  }

  const json* member(const json& obj, const std::string& key,
                     const std::string& field, bool required) {
    auto i = obj.find(key);
    if (i == obj.end()) {
      if (required)
        problem(field, "missing required member '" + key + "'");
      return nullptr;
    }
    return &*i;
  }

  std::optional<std::string> string(const json& obj, const std::string& key,
                                    const std::string& field, bool required) {
    auto* j = member(obj, key, field, required);
    if (!j)
      return std::nullopt;
    if (!j->is_string()) {
      problem(path(field, key),
              std::string{"expected a string, found "} + type_name(*j));
      return std::nullopt;
    }
    return j->get<std::string>();
  }

  /// An integer member through its range check, or the word `word`,
  /// which sets `flag` instead ("ttl":"decrement", "tos":"preserve").
  template <class T, class Check>
  void integer_or_word(const json& obj, const std::string& key,
                       const std::string& field, Check check, T& out,
                       const char* word, bool& flag) {
    auto i = obj.find(key);
    if (i == obj.end() || !i->is_string()) {
      integer(obj, key, field, false, check, out);
      return;
    }
    if (i->get<std::string>() == word)
      flag = true;
    else
      problem(path(field, key), "'" + i->get<std::string>()
                                  + "' is neither an integer nor \"" + word
                                  + "\"");
  }

  /// An integer member through its range check.
  template <class T, class Check>
  void integer(const json& obj, const std::string& key,
               const std::string& field, bool required, Check check, T& out) {
    auto* j = member(obj, key, field, required);
    if (!j)
      return;
    if (!j->is_number_integer()) {
      problem(path(field, key),
              std::string{"expected an integer, found "} + type_name(*j));
      return;
    }
    int64_t v = j->is_number_unsigned()
                  ? static_cast<int64_t>(std::min<uint64_t>(
                    j->get<uint64_t>(),
                    static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
                  : j->get<int64_t>();
    if (auto err = check(v)) {
      problem(path(field, key), *err);
      return;
    }
    out = static_cast<T>(v);
  }

  void address(const json& obj, const std::string& key,
               const std::string& field, bool required,
               std::optional<ip_addr>& out) {
    auto text = string(obj, key, field, required);
    if (!text)
      return;
    ip_addr addr;
    if (auto err = parse_address(*text, addr))
      problem(path(field, key), *err);
    else
      out = addr;
  }

  static std::string path(const std::string& field, const std::string& key) {
    return field.empty() ? key : field + "." + key;
  }
};

} // namespace castor::relay::control::detail
