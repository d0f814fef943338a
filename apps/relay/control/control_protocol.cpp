#include "control/control_protocol.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "control/overload.hpp"
#include "model/log_levels.hpp"
#include "model/rule_validator.hpp"

namespace castor::relay::control {

using nlohmann::json;

namespace {

// nlohmann's parser recurses once per nesting level. A 64 KiB line of '['
// would recurse 64 Ki times on a CAF worker's stack, so lines nested deeper
// than any valid request are refused before parsing.
constexpr size_t max_request_depth = 16;
// Replies nest deeper (the supervision tree), and come from the daemon.
constexpr size_t max_response_depth = 256;

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

/// Parses without throwing; the reason in `error` on failure.
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

const std::vector<std::string> commands{
  "add",    "remove", "list",     "stats",  "workers", "tree",
  "kill",   "ping",   "version",  "reload", "config",  "log_level",
  "groups", "status", "diagnose", "peers"};

} // namespace

// -- requests -----------------------------------------------------------------

std::string command_name(const request& x) {
  struct visitor {
    std::string operator()(const add_cmd&) const { return "add"; }
    std::string operator()(const add_rules_cmd&) const { return "add"; }
    std::string operator()(const remove_cmd&) const { return "remove"; }
    std::string operator()(const list_cmd&) const { return "list"; }
    std::string operator()(const stats_cmd&) const { return "stats"; }
    std::string operator()(const workers_cmd&) const { return "workers"; }
    std::string operator()(const peers_cmd&) const { return "peers"; }
    std::string operator()(const tree_cmd&) const { return "tree"; }
    std::string operator()(const kill_cmd&) const { return "kill"; }
    std::string operator()(const ping_cmd&) const { return "ping"; }
    std::string operator()(const version_cmd&) const { return "version"; }
    std::string operator()(const reload_cmd&) const { return "reload"; }
    std::string operator()(const config_show_cmd&) const { return "config"; }
    std::string operator()(const config_save_cmd&) const { return "config"; }
    std::string operator()(const log_level_cmd&) const { return "log_level"; }
    std::string operator()(const groups_cmd&) const { return "groups"; }
    std::string operator()(const status_cmd&) const { return "status"; }
    std::string operator()(const diagnose_cmd&) const { return "diagnose"; }
  };
  return std::visit(visitor{}, x.command);
}

bool changes_state(const request& x) {
  return std::visit(
    [](const auto& c) {
      using T = std::decay_t<decltype(c)>;
      return std::is_same_v<
               T,
               add_cmd> || std::is_same_v<T, add_rules_cmd> || std::is_same_v<T, remove_cmd> || std::is_same_v<T, kill_cmd> || std::is_same_v<T, reload_cmd> || std::is_same_v<T, config_save_cmd> || std::is_same_v<T, log_level_cmd>;
    },
    x.command);
}

std::string describe(const request& x) {
  auto text = std::visit(
    overload{
      [](const add_cmd& c) { return "add " + c.rule.name; },
      [](const add_rules_cmd& c) {
        return "add " + std::to_string(c.rules.size()) + " rules";
      },
      [](const remove_cmd& c) { return "remove " + c.name; },
      [](const kill_cmd& c) { return "kill " + c.path; },
      [](const config_save_cmd& c) {
        return "config save " + (c.file.empty() ? "(default file)" : c.file);
      },
      [](const config_show_cmd&) { return std::string{"config show"}; },
      [](const log_level_cmd& c) {
        return "log_level " + c.component + " " + c.level;
      },
      [](const diagnose_cmd& c) { return "diagnose " + c.name; },
      [](const auto&) { return std::string{}; },
    },
    x.command);
  return text.empty() ? command_name(x) : text;
}

decoded<request> decode_request(std::string_view line) {
  decoded<request> result;
  auto fail = [&](std::string msg) {
    result.error = std::move(msg);
    return result;
  };
  std::string parse_error;
  auto j = parse_json(line, max_request_depth, parse_error);
  if (!j)
    return fail(parse_error);
  if (!j->is_object())
    return fail(std::string{"a request must be a JSON object, not "}
                + type_name(*j));
  auto cmd_it = j->find("cmd");
  if (cmd_it == j->end())
    return fail("missing member 'cmd' (one of " + join(commands, ", ") + ")");
  if (!cmd_it->is_string())
    return fail(std::string{"'cmd' must be a string, not "}
                + type_name(*cmd_it));
  auto cmd = cmd_it->get<std::string>();
  if (std::find(commands.begin(), commands.end(), cmd) == commands.end())
    return fail("unknown command '" + cmd + "' (expected one of "
                + join(commands, ", ") + ")");
  reader rd;
  auto& obj = *j;
  auto where = "'" + cmd + "' request";
  auto finish = [&](command c) {
    if (!rd.problems.empty())
      return fail(where + ": " + join(rd.problems, "; "));
    result.value = request{std::move(c)};
    return result;
  };
  if (cmd == "add" && obj.contains("rules")) {
    rd.check_members(obj, "", {"cmd", "rules"});
    const auto& rs = obj.at("rules");
    add_rules_cmd out;
    if (!rs.is_array() || rs.empty()) {
      rd.problem("rules", "must be a non-empty array of rules");
      return finish(std::move(out));
    }
    for (size_t i = 0; i < rs.size(); ++i) {
      auto decoded_rule = rule_from_json(rs[i]);
      if (!decoded_rule)
        rd.problem("rules[" + std::to_string(i) + "]", decoded_rule.error);
      else
        out.rules.push_back(std::move(*decoded_rule.value));
    }
    return finish(std::move(out));
  }
  if (cmd == "add") {
    rd.check_members(obj, "", {"cmd", "rule"});
    auto* r = rd.member(obj, "rule", "", true);
    if (!r)
      return finish(add_cmd{});
    auto decoded_rule = rule_from_json(*r);
    if (!decoded_rule)
      rd.problem("rule", decoded_rule.error);
    return finish(add_cmd{decoded_rule ? *decoded_rule.value : rule{}});
  }
  if (cmd == "remove") {
    rd.check_members(obj, "", {"cmd", "name"});
    auto name = rd.string(obj, "name", "", true);
    if (name && name->empty())
      rd.problem("name", "must not be empty");
    return finish(remove_cmd{name.value_or("")});
  }
  if (cmd == "kill") {
    rd.check_members(obj, "", {"cmd", "path"});
    auto path = rd.string(obj, "path", "", true);
    if (path && path->empty())
      rd.problem("path", "must not be empty (a path as 'tree' prints it)");
    return finish(kill_cmd{path.value_or("")});
  }
  if (cmd == "config") {
    rd.check_members(obj, "", {"cmd", "action", "file"});
    auto action = rd.string(obj, "action", "", true);
    auto file = rd.string(obj, "file", "", false);
    if (!action)
      return finish(config_show_cmd{});
    if (*action == "show") {
      if (obj.contains("file"))
        rd.problem("file", "only 'save' takes a file");
      return finish(config_show_cmd{});
    }
    if (*action != "save") {
      rd.problem("action",
                 "'" + *action + "' is not one of \"show\", \"save\"");
      return finish(config_show_cmd{});
    }
    if (file && (file->empty() || file->front() != '/'))
      rd.problem("file", "'" + *file
                           + "' is not an absolute path (the daemon's "
                             "working directory is not the client's)");
    return finish(config_save_cmd{file.value_or("")});
  }
  if (cmd == "log_level") {
    rd.check_members(obj, "", {"cmd", "component", "level"});
    auto component = rd.string(obj, "component", "", true);
    auto level = rd.string(obj, "level", "", true);
    if (component && component->empty())
      rd.problem("component", "must not be empty (a component name or "
                              "\"all\")");
    if (level && !is_log_level(*level))
      rd.problem("level",
                 "'" + *level + "' is not one of " + join(log_levels(), ", "));
    return finish(log_level_cmd{component.value_or(""), level.value_or("")});
  }
  if (cmd == "diagnose") {
    rd.check_members(obj, "", {"cmd", "name"});
    auto name = rd.string(obj, "name", "", true);
    if (name && name->empty())
      rd.problem("name", "must not be empty");
    return finish(diagnose_cmd{name.value_or("")});
  }
  // The commands without arguments.
  rd.check_members(obj, "", {"cmd"});
  if (cmd == "list")
    return finish(list_cmd{});
  if (cmd == "stats")
    return finish(stats_cmd{});
  if (cmd == "workers")
    return finish(workers_cmd{});
  if (cmd == "peers")
    return finish(peers_cmd{});
  if (cmd == "tree")
    return finish(tree_cmd{});
  if (cmd == "ping")
    return finish(ping_cmd{});
  if (cmd == "version")
    return finish(version_cmd{});
  if (cmd == "groups")
    return finish(groups_cmd{});
  if (cmd == "status")
    return finish(status_cmd{});
  return finish(reload_cmd{});
}

namespace {

/// Adds a command's arguments to its request object.
struct request_encoder {
  json& j;
  void operator()(const add_cmd& c) const { j["rule"] = to_json(c.rule); }
  void operator()(const add_rules_cmd& c) const {
    j["rules"] = json::array();
    for (const auto& r : c.rules)
      j["rules"].push_back(to_json(r));
  }
  void operator()(const remove_cmd& c) const { j["name"] = c.name; }
  void operator()(const kill_cmd& c) const { j["path"] = c.path; }
  void operator()(const diagnose_cmd& c) const { j["name"] = c.name; }
  void operator()(const config_show_cmd&) const { j["action"] = "show"; }
  void operator()(const config_save_cmd& c) const {
    j["action"] = "save";
    if (!c.file.empty())
      j["file"] = c.file;
  }
  void operator()(const log_level_cmd& c) const {
    j["component"] = c.component;
    j["level"] = c.level;
  }
  // Commands without arguments.
  template <class T>
  void operator()(const T&) const {
    // nop
  }
};

} // namespace

std::string encode_request(const request& x) {
  json j;
  j["cmd"] = command_name(x);
  std::visit(request_encoder{j}, x.command);
  return dump(j);
}

// -- responses ----------------------------------------------------------------

std::string encode_response(const response& x) {
  json j = json::object();
  j["ok"] = x.ok;
  if (!x.ok)
    j["error"] = x.error;
  if (x.data.is_object()) {
    for (auto& [key, value] : x.data.items())
      if (key != "ok" && key != "error")
        j[key] = value;
  } else if (!x.data.is_null()) {
    j["data"] = x.data;
  }
  return dump(j);
}

response decode_response(std::string_view line) {
  std::string parse_error;
  auto j = parse_json(line, max_response_depth, parse_error);
  if (!j)
    return make_error("malformed response from the daemon: " + parse_error);
  if (!j->is_object())
    return make_error("malformed response from the daemon: not a JSON object");
  auto ok = j->find("ok");
  if (ok == j->end() || !ok->is_boolean())
    return make_error(
      "malformed response from the daemon: no boolean member 'ok'");
  response r;
  r.ok = ok->get<bool>();
  if (!r.ok) {
    auto err = j->find("error");
    r.error = err != j->end() && err->is_string()
                ? err->get<std::string>()
                : "the daemon reported a failure without a message";
  }
  j->erase("ok");
  j->erase("error");
  r.data = std::move(*j);
  return r;
}

// -- rules as JSON ------------------------------------------------------------

decoded<rule> rule_from_json(const json& j) {
  decoded<rule> result;
  if (!j.is_object()) {
    result.error = std::string{"expected an object, found "} + type_name(j);
    return result;
  }
  reader rd;
  rule r;
  rd.check_members(j, "", {"name", "input", "outputs"});
  if (auto name = rd.string(j, "name", "", true))
    r.name = *name;
  if (auto* in = rd.member(j, "input", "", true)) {
    if (!in->is_object()) {
      rd.problem("input",
                 std::string{"expected an object, found "} + type_name(*in));
    } else {
      rd.check_members(*in, "input", {"interface", "group", "port", "source"});
      if (auto itf = rd.string(*in, "interface", "input", true))
        r.input.interface = *itf;
      std::optional<ip_addr> group;
      rd.address(*in, "group", "input", true, group);
      if (group)
        r.input.group = *group;
      rd.integer(*in, "port", "input", true, check_port, r.input.port);
      rd.address(*in, "source", "input", false, r.input.source);
    }
  }
  if (auto* outs = rd.member(j, "outputs", "", true)) {
    if (!outs->is_array()) {
      rd.problem("outputs",
                 std::string{"expected an array, found "} + type_name(*outs));
    } else {
      for (size_t i = 0; i < outs->size(); ++i) {
        auto field = "outputs[" + std::to_string(i) + "]";
        auto& o = (*outs)[i];
        rule_output out;
        out.ttl = default_ttl;
        out.tos = default_tos;
        if (!o.is_object()) {
          rd.problem(field,
                     std::string{"expected an object, found "} + type_name(o));
          continue;
        }
        rd.check_members(
          o, field,
          {"interface", "address", "port", "ttl", "tos", "source_port"});
        if (auto itf = rd.string(o, "interface", field, true))
          out.interface = *itf;
        std::optional<ip_addr> addr;
        rd.address(o, "address", field, true, addr);
        if (addr)
          out.address = *addr;
        rd.integer(o, "port", field, true, check_port, out.port);
        rd.integer_or_word(o, "ttl", field, check_ttl, out.ttl,
                           ttl_decrement_word, out.ttl_decrement);
        rd.integer_or_word(o, "tos", field, check_tos, out.tos,
                           tos_preserve_word, out.tos_preserve);
        rd.integer(o, "source_port", field, false, check_port, out.source_port);
        r.outputs.push_back(out);
      }
    }
  }
  // Semantic checks only on a fully decoded rule: on a partial one they
  // would repeat the decode problems in other words.
  if (rd.problems.empty())
    for (auto& issue : validate_rule(r))
      rd.problems.push_back(to_string(issue));
  if (!rd.problems.empty()) {
    result.error = join(rd.problems, "; ");
    return result;
  }
  result.value = std::move(r);
  return result;
}

} // namespace castor::relay::control
