#include <algorithm>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "control/control_json_reader.hpp"
#include "control/control_protocol.hpp"
#include "control/overload.hpp"
#include "model/log_levels.hpp"
#include "model/rule_validator.hpp"

namespace castor::relay::control {

using namespace detail;

namespace {

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
    // A name (written into the daemon's state directory) or an absolute
    // path; a relative path would be relative to the daemon's working
    // directory, not the client's.
    if (file
        && (file->empty()
            || (file->front() != '/' && file->find('/') != std::string::npos)))
      rd.problem("file", "'" + *file
                           + "' is neither a name nor an absolute path (the "
                             "daemon's working directory is not the "
                             "client's)");
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

} // namespace castor::relay::control
