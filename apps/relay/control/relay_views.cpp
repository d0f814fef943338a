#include "control/relay_views.hpp"

#include <algorithm>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace castor::relay {

using nlohmann::json;

namespace {

const rule* find_rule(const relay_survey& x, const std::string& name) {
  auto i = std::find_if(x.rules.begin(), x.rules.end(),
                        [&](const rule& r) { return r.name == name; });
  return i == x.rules.end() ? nullptr : &*i;
}

const control::rule_stats* find_stats(const relay_survey& x,
                                      const std::string& name) {
  auto i = std::find_if(x.stats.begin(), x.stats.end(),
                        [&](const auto& s) { return s.name == name; });
  return i == x.stats.end() ? nullptr : &*i;
}

std::string source_text(const rule_input& in) {
  return in.source ? in.source->to_string() : std::string{};
}

/// The smaller of two last-packet ages, negative meaning unknown.
double newest(double a, double b) {
  if (a < 0)
    return b;
  if (b < 0)
    return a;
  return std::min(a, b);
}

} // namespace

json groups_view(const relay_survey& x) {
  // One entry per (interface, group, source) that a rule needs, plus any
  // membership no rule needs (a leftover the operator should see).
  using key = std::tuple<std::string, std::string, std::string>;
  std::map<key, json> groups;
  std::vector<key> order;
  auto entry = [&](const key& k) -> json& {
    auto [i, fresh] = groups.try_emplace(k);
    if (fresh) {
      order.push_back(k);
      i->second = {{"interface", std::get<0>(k)},
                   {"group", std::get<1>(k)},
                   {"source", std::get<2>(k)},
                   {"state", "absent"},
                   {"reason", ""},
                   {"rules", json::array()},
                   {"packets", 0},
                   {"rate", 0.0},
                   {"last_packet_s", -1.0}};
    }
    return i->second;
  };
  // The rules' stats by name, once: a search per rule made `groups`
  // quadratic, seconds of the control handler at 10,000 rules.
  std::unordered_map<std::string_view, const control::rule_stats*> stats;
  stats.reserve(x.stats.size());
  for (const auto& s : x.stats)
    stats.emplace(s.name, &s);
  for (const auto& r : x.rules) {
    auto& g = entry(
      {r.input.interface, r.input.group.to_string(), source_text(r.input)});
    g["rules"].push_back(r.name);
    if (auto found = stats.find(r.name); found != stats.end()) {
      const auto* s = found->second;
      g["packets"] = g["packets"].get<uint64_t>() + s->packets;
      g["rate"] = g["rate"].get<double>() + s->rate;
      g["last_packet_s"] =
        newest(g["last_packet_s"].get<double>(), s->last_packet_s);
    }
  }
  if (x.memberships)
    for (const auto& m : *x.memberships) {
      auto& g = entry({m.interface, m.group, m.source});
      g["state"] = m.state;
      g["reason"] = m.reason;
    }
  json out = json::array();
  std::sort(order.begin(), order.end());
  for (const auto& k : order)
    out.push_back(groups[k]);
  return {{"groups", std::move(out)}};
}

json status_view(const relay_survey& x, const status_context& c) {
  std::map<std::string, uint64_t> workers;
  for (const auto& w : x.workers)
    ++workers[w.state];
  std::map<std::string, uint64_t> memberships{
    {"joined", 0}, {"pending", 0}, {"failed", 0}};
  if (x.memberships)
    for (const auto& m : *x.memberships)
      ++memberships[m.state];
  uint64_t packets = 0;
  uint64_t drops = 0;
  uint64_t restarts = 0;
  double rate = 0;
  json silent = json::array();
  json down = json::array();
  std::set<std::string> down_seen;
  for (const auto& s : x.stats) {
    packets += s.packets;
    rate += s.rate;
    for (const auto& [reason, n] : s.drops)
      drops += n;
    if (s.rate == 0
        && (s.last_packet_s < 0 || s.last_packet_s >= silent_after_s))
      silent.push_back(s.name);
    for (const auto& o : s.outputs)
      if (!o.state.empty() && o.state != "up"
          && down_seen.insert(o.interface).second)
        down.push_back(o.interface);
  }
  for (const auto& w : x.workers)
    restarts += w.restarts;
  return {{"version", c.version},
          {"uptime_s", c.uptime_s},
          {"config_file", c.config_file},
          {"rules", x.rules.size()},
          {"workers", workers},
          {"worker_restarts", restarts},
          {"memberships", memberships},
          {"packets", packets},
          {"rate", rate},
          {"drops", drops},
          {"silent_rules", std::move(silent)},
          {"outputs_down", std::move(down)}};
}

std::set<std::string> diagnose_interfaces(const relay_survey& x,
                                          const std::string& name) {
  std::set<std::string> out;
  if (auto* r = find_rule(x, name)) {
    out.insert(r->input.interface);
    for (const auto& o : r->outputs)
      out.insert(o.interface);
  }
  return out;
}

std::optional<json>
diagnose_view(const relay_survey& x, const std::string& name,
              const std::map<std::string, control::interface_facts>& facts) {
  auto* r = find_rule(x, name);
  if (!r)
    return std::nullopt;
  auto fact = [&](const std::string& ifname) {
    auto i = facts.find(ifname);
    if (i != facts.end())
      return i->second;
    control::interface_facts f;
    f.name = ifname;
    return f;
  };
  json out;
  out["rule"] = control::to_json(*r);
  if (auto* s = find_stats(x, name))
    out["stats"] = *s;
  else {
    control::rule_stats none;
    none.name = name;
    out["stats"] = none;
  }
  out["input"] = fact(r->input.interface);
  json outputs = json::object();
  for (const auto& o : r->outputs)
    outputs[o.interface] = fact(o.interface);
  out["outputs"] = std::move(outputs);
  out["membership"] = nullptr;
  if (x.memberships)
    for (const auto& m : *x.memberships)
      if (
        m.interface == r->input.interface && m.group == r->input.group.to_string()
        && m.source == source_text(r->input))
        out["membership"] = {{"state", m.state}, {"reason", m.reason}};
  json workers = json::array();
  for (const auto& w : x.workers)
    if (w.interface == r->input.interface)
      workers.push_back(w);
  out["workers"] = std::move(workers);
  out["memberships_known"] = x.memberships.has_value();
  return out;
}

} // namespace castor::relay
