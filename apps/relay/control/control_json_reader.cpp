#include "control/control_json_reader.hpp"

namespace castor::relay::control::detail {

namespace {

/// Whether `text` nests arrays/objects deeper than `limit`, ignoring
/// brackets inside strings.
bool too_deep(std::string_view text, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

} // namespace

std::optional<json> parse_json(std::string_view text, size_t max_depth,
                               std::string& error) {
  if (too_deep(text, max_depth)) {
    error = "malformed request: JSON nested deeper than "
            + std::to_string(max_depth) + " levels";
    return std::nullopt;
  }
  // A member named twice is refused, not resolved: nlohmann keeps the
  // last value, a proxy or a log that reads the first would see another
  // request ({"cmd":"list","cmd":"kill",...}) than the daemon runs.
  std::vector<std::vector<std::string>> keys; // per open object
  std::string duplicate;
  auto no_duplicates = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!keys.empty())
        keys.pop_back();
    } else if (event == json::parse_event_t::key && !keys.empty()) {
      auto& seen = keys.back();
      const auto& name = parsed.get_ref<const std::string&>();
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        if (duplicate.empty())
          duplicate = name;
      } else {
        seen.push_back(name);
      }
    }
    return true;
  };
  try {
    auto parsed = json::parse(text, no_duplicates);
    if (!duplicate.empty()) {
      error = "malformed request: member '" + duplicate + "' appears twice";
      return std::nullopt;
    }
    return parsed;
  } catch (const json::exception& e) {
    // what() is "[json.exception.parse_error.101] parse error at ...";
    // the bracketed id means nothing to an operator.
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos)
      what.erase(0, pos + 2);
    error = "malformed JSON: " + what;
    return std::nullopt;
  }
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* type_name(const json& j) {
  switch (j.type()) {
  case json::value_t::object:
    return "an object";
  case json::value_t::array:
    return "an array";
  case json::value_t::string:
    return "a string";
  case json::value_t::boolean:
    return "a boolean";
  case json::value_t::number_integer:
  case json::value_t::number_unsigned:
    return "an integer";
  case json::value_t::number_float:
    return "a number with a fraction";
  case json::value_t::null:
    return "null";
  default:
    return "an unsupported value";
  }
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += sep;
    out += x;
  }
  return out;
}

} // namespace castor::relay::control::detail
