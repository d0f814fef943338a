#include "control/castorctl_output.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "control/diagnosis.hpp"
#include "control/overload.hpp"

namespace castor::relay::control {

using nlohmann::json;

namespace {

// -- human-readable output ------------------------------------------------------

bool plain_output = false;

/// Writes rows as left-aligned columns separated by two spaces; in plain
/// mode without the heading (the first row), separated by tabs.
void print_table(std::ostream& out,
                 const std::vector<std::vector<std::string>>& rows) {
  if (plain_output) {
    for (size_t r = 1; r < rows.size(); ++r) {
      std::string line;
      for (size_t i = 0; i < rows[r].size(); ++i)
        line += (i == 0 ? "" : "\t") + rows[r][i];
      out << line << "\n";
    }
    return;
  }
  std::vector<size_t> width;
  for (auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out << line << "\n";
  }
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  print_table(std::cout, rows);
}

std::string drops_text(const drop_counts& drops) {
  std::string out;
  uint64_t total = 0;
  for (auto& [reason, n] : drops) {
    total += n;
    if (n == 0)
      continue;
    if (!out.empty())
      out += ",";
    out += reason + "=" + std::to_string(n);
  }
  return total == 0 ? "0" : out;
}

std::string str(const json& j, const char* key) {
  auto i = j.find(key);
  if (i == j.end())
    return "";
  if (i->is_string())
    return i->get<std::string>();
  return i->dump();
}

} // namespace

void print_rules(std::ostream& out, const json& data) {
  std::vector<std::vector<std::string>> rows{{"NAME", "INPUT", "OUTPUT"}};
  for (auto& r : data.value("rules", json::array())) {
    if (!r.is_object())
      continue;
    auto in = r.value("input", json::object());
    auto input =
      str(in, "interface") + " " + str(in, "group") + ":" + str(in, "port");
    if (in.contains("source"))
      input += " source " + str(in, "source");
    bool first = true;
    for (auto& o : r.value("outputs", json::array())) {
      auto output = str(o, "interface") + " " + str(o, "address") + ":"
                    + str(o, "port") + " ttl=" + str(o, "ttl")
                    + " tos=" + str(o, "tos");
      if (o.contains("source_port"))
        output += " sport=" + str(o, "source_port");
      rows.push_back({first ? str(r, "name") : "", first ? input : "", output});
      first = false;
    }
    if (first)
      rows.push_back({str(r, "name"), input, "-"});
  }
  print_table(out, rows);
}

namespace {

std::string rate_text(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", rate);
  return buf;
}

/// An output interface's state as the tables show it.
std::string link_text(const std::string& state) {
  if (state.empty())
    return "-";
  if (state == "down")
    return "interface down";
  if (state == "missing")
    return "interface missing";
  return state;
}

void print_stats(const json& data) {
  std::vector<std::vector<std::string>> rows{
    {"RULE", "WHERE", "PACKETS", "BYTES", "RATE/S", "LAST", "DROPS", "STATE"}};
  std::map<std::string, uint64_t> tx_dropped;
  for (auto& j : data.value("rules", json::array())) {
    auto r = j.get<rule_stats>();
    rows.push_back({r.name, "in", std::to_string(r.packets),
                    std::to_string(r.bytes), rate_text(r.rate),
                    last_packet_text(r.last_packet_s, r.packets),
                    drops_text(r.drops), ""});
    for (auto& o : r.outputs) {
      rows.push_back(
        {"",
         "out " + o.interface + " " + o.address + ":" + std::to_string(o.port),
         std::to_string(o.packets), std::to_string(o.bytes), "", "",
         drops_text(o.drops), link_text(o.state)});
      tx_dropped[o.interface] = o.kernel_tx_dropped;
    }
  }
  print_table(rows);
  // Drops after the relay: the kernel's counter of the whole interface.
  for (const auto& [name, n] : tx_dropped)
    if (n > 0)
      std::cout << "kernel: " << name << " tx_dropped " << n
                << " (all traffic on " << name << ")\n";
  // What every worker dropped before any rule, by reason (malformed frames,
  // no_rule, kernel drops), as in castor_ingress_drops_total.
  auto in = data.find("ingress");
  if (in == data.end() || !in->is_object())
    return;
  drop_counts drops;
  for (const char* reason : {"no_rule", "kernel_drops"})
    if (in->contains(reason))
      drops[reason] = in->value(reason, uint64_t{0});
  const auto malformed = in->value("malformed", json::object());
  for (auto& [reason, n] : malformed.items())
    drops[reason] = n.get<uint64_t>();
  std::cout << "ingress: " << in->value("frames", uint64_t{0})
            << " frames, drops " << drops_text(drops) << "\n";
}

} // namespace

void print_workers(std::ostream& out, const json& data) {
  std::vector<std::vector<std::string>> rows{
    {"ID", "INTERFACE", "STATE", "RESTARTS", "FRAMES", "KERNEL_DROPS", "QUEUE",
     "FILTER", "OUTPUTS"}};
  std::vector<std::string> failures;
  for (auto& j : data.value("workers", json::array())) {
    auto w = j.get<worker_info>();
    auto filter = w.filter.empty() ? std::string{"-"} : w.filter;
    if (!w.filter_error.empty()) {
      filter += ",failed";
      failures.push_back(w.id + ": the last rule change did not reach its "
                         + "ingress (" + w.filter_error + ")");
    }
    // "eth1=up,gre1=missing", as DROPS lists reason=count.
    std::string outputs;
    for (auto& [name, state] : w.outputs)
      outputs += (outputs.empty() ? "" : ",") + name + "="
                 + (state == "down" ? link_text(state) : state);
    rows.push_back({w.id, w.interface, w.state, std::to_string(w.restarts),
                    std::to_string(w.frames), std::to_string(w.kernel_drops),
                    std::to_string(w.queue_depth), filter,
                    outputs.empty() ? "-" : outputs});
  }
  print_table(out, rows);
  for (const auto& f : failures)
    out << f << "\n";
  // The data path of each rule (issue 16), after a blank line, when some
  // rule takes the kernel's: with the packet path alone the table stays
  // as it was for whatever parses it.
  const auto paths = data.value("paths", json::array());
  bool kernel = false;
  for (auto& p : paths)
    kernel |= str(p, "path") == "kernel";
  if (kernel) {
    std::vector<std::vector<std::string>> path_rows{{"RULE", "PATH", "WHY"}};
    for (auto& p : paths)
      path_rows.push_back({str(p, "rule"), str(p, "path"), str(p, "why")});
    out << "\n";
    print_table(out, path_rows);
  }
}

namespace {

/// One row per node with its path, the form `castorctl kill` takes.
void tree_rows(const json& node, const std::string& parent,
               std::vector<std::vector<std::string>>& rows) {
  if (!node.is_object())
    return;
  auto path = parent.empty() ? str(node, "id") : parent + "/" + str(node, "id");
  rows.push_back({path, str(node, "kind"), str(node, "strategy"),
                  str(node, "state"), str(node, "restarts")});
  for (auto& child : node.value("children", json::array()))
    tree_rows(child, path, rows);
}

} // namespace

void print_tree(std::ostream& out, const json& data) {
  std::vector<std::vector<std::string>> rows{
    {"PATH", "KIND", "STRATEGY", "STATE", "RESTARTS"}};
  tree_rows(data.value("tree", json::object()), "", rows);
  print_table(out, rows);
}

namespace {

std::string names_text(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "" : " (" + out + ")";
}

void print_reload(const json& data) {
  auto s = data.value("reload", json::object()).get<reload_summary>();
  std::cout << "reloaded: " << s.added.size() << " added" << names_text(s.added)
            << ", " << s.removed.size() << " removed" << names_text(s.removed)
            << ", " << s.changed.size() << " changed" << names_text(s.changed)
            << ", " << s.unchanged << " unchanged\n";
  for (const auto& setting : s.restart_needed)
    std::cout << "not applied until the relay restarts: " << setting << "\n";
  for (auto& name : data.value("kept_runtime_rules", json::array()))
    std::cout << "warning: kept rule " << name.get<std::string>()
              << ", added at runtime and not in the config file (castorctl "
                 "remove "
              << name.get<std::string>() << " ends it)\n";
  for (auto& why : data.value("dropped_runtime_changes", json::array()))
    std::cout << "warning: dropped the runtime change to "
              << why.get<std::string>() << "\n";
}

void print_groups(const json& data) {
  std::vector<std::vector<std::string>> rows{{"INTERFACE", "GROUP", "SOURCE",
                                              "STATE", "RULES", "PACKETS",
                                              "RATE/S", "LAST"}};
  std::vector<std::string> reasons;
  for (auto& g : data.value("groups", json::array())) {
    std::string rules;
    for (auto& r : g.value("rules", json::array()))
      rules += (rules.empty() ? "" : ",") + r.get<std::string>();
    auto packets = g.value("packets", uint64_t{0});
    auto source = str(g, "source");
    rows.push_back({str(g, "interface"), str(g, "group"),
                    source.empty() ? "*" : source, str(g, "state"),
                    rules.empty() ? "-" : rules, std::to_string(packets),
                    rate_text(g.value("rate", 0.0)),
                    last_packet_text(g.value("last_packet_s", -1.0), packets)});
    if (!str(g, "reason").empty())
      reasons.push_back(str(g, "interface") + " " + str(g, "group") + ": "
                        + str(g, "reason"));
  }
  print_table(rows);
  for (const auto& r : reasons)
    std::cout << r << "\n";
}

std::string counts_text(const json& counts) {
  std::string out;
  for (auto& [k, v] : counts.items())
    out += (out.empty() ? "" : ", ") + v.dump() + " " + k;
  return out.empty() ? "none" : out;
}

std::string names_list(const json& names) {
  std::string out;
  for (auto& n : names)
    out += (out.empty() ? "" : ", ") + n.get<std::string>();
  return out;
}

void print_status(const json& data) {
  std::vector<std::vector<std::string>> rows{
    {"FIELD", "VALUE"},
    {"version", str(data, "version")},
    {"uptime", rate_text(data.value("uptime_s", 0.0)) + " s"},
    {"config", str(data, "config_file")},
    {"rules", str(data, "rules")},
    {"workers", counts_text(data.value("workers", json::object()))},
    {"worker restarts", str(data, "worker_restarts")},
    {"memberships", counts_text(data.value("memberships", json::object()))},
    {"packets in", str(data, "packets")},
    {"rate", rate_text(data.value("rate", 0.0)) + "/s"},
    {"drops", str(data, "drops")}};
  auto silent = data.value("silent_rules", json::array());
  rows.push_back({"silent rules", silent.empty()
                                    ? std::string{"none"}
                                    : std::to_string(silent.size()) + ": "
                                        + names_list(silent)});
  auto down = data.value("outputs_down", json::array());
  rows.push_back(
    {"outputs down", down.empty() ? std::string{"none"} : names_list(down)});
  print_table(rows);
}

} // namespace

/// `castorctl peers`: one line per peer, then the groups it asked for
/// ("[ff3e::1:1]:5001" for IPv6) and its drops by reason.
void print_peers(std::ostream& os, const json& data) {
  for (auto& p : data.value("peers", json::array())) {
    os << p.value("name", "") << " " << p.value("address", "") << " "
       << (p.value("up", false) ? "up" : "down")
       << " interest=" << p.value("interest", 0)
       << " rtt_us=" << p.value("rtt_us", 0)
       << " reconnects=" << p.value("reconnects", 0)
       << " tx_datagrams=" << p.value("tx_datagrams", 0)
       << " tx_frames=" << p.value("tx_frames", 0)
       << " tx_bytes=" << p.value("tx_bytes", 0)
       << " rx_datagrams=" << p.value("rx_datagrams", 0)
       << " rx_frames=" << p.value("rx_frames", 0)
       << " rx_bytes=" << p.value("rx_bytes", 0)
       << " duplicates=" << p.value("duplicates", 0)
       << " bus_repairs=" << p.value("bus_repairs", 0)
       << " bus_naks_up=" << p.value("bus_naks_up", 0)
       << " bus_naks_in=" << p.value("bus_naks_in", 0) << "\n";
    for (auto& g : p.value("wants", json::array()))
      os << "  wants " << g.get<std::string>() << "\n";
    const json drops = p.value("drops", json::object());
    for (auto i = drops.begin(); i != drops.end(); ++i)
      os << "  drops " << i.key() << "=" << i.value().get<uint64_t>() << "\n";
  }
  if (data.contains("unknown_source"))
    os << "unknown_source=" << data.value("unknown_source", 0) << "\n";
}

void set_plain_output(bool plain) {
  plain_output = plain;
}

void print_ok(const request& req, const json& data) {
  // A change that runs but was not written to the runtime state.
  if (data.contains("state_error"))
    std::cout << "warning: not kept across a restart: "
              << str(data, "state_error") << "\n";
  std::visit(
    overload{
      [&](const list_cmd&) { print_rules(std::cout, data); },
      [&](const stats_cmd&) { print_stats(data); },
      [&](const workers_cmd&) { print_workers(std::cout, data); },
      [&](const peers_cmd&) { print_peers(std::cout, data); },
      [&](const tree_cmd&) { print_tree(std::cout, data); },
      [&](const reload_cmd&) { print_reload(data); },
      [&](const ping_cmd&) { std::cout << "pong\n"; },
      [&](const version_cmd&) {
        std::cout << "castor-relay " << str(data, "version")
                  << (data.contains("commit") ? " (" + str(data, "commit") + ")"
                                              : "")
                  << "\n";
      },
      [&](const add_cmd& c) {
        std::cout << "added rule " << c.rule.name << "\n";
      },
      [&](const add_rules_cmd& c) {
        std::cout << "added " << c.rules.size() << " rules\n";
      },
      [&](const remove_cmd& c) {
        std::cout << "removed rule " << c.name << "\n";
      },
      [&](const kill_cmd& c) { std::cout << "killed " << c.path << "\n"; },
      [&](const log_level_cmd&) {
        std::cout << "log level of " << str(data, "component") << " is now "
                  << str(data, "level") << "\n";
      },
      [&](const config_show_cmd&) { std::cout << str(data, "config"); },
      [&](const config_save_cmd&) {
        std::cout << "saved the running config to " << str(data, "file")
                  << "\n";
      },
      [&](const groups_cmd&) { print_groups(data); },
      [&](const status_cmd&) { print_status(data); },
      [&](const diagnose_cmd&) {
        std::cout << diagnosis_text(data, diagnose(data));
      },
    },
    req.command);
}

} // namespace castor::relay::control
