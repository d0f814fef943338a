#include "config/config_reload.hpp"

#include <algorithm>

namespace castor::relay {

namespace {

const rule* find_rule(const std::vector<rule>& rules, const std::string& name) {
  auto i = std::find_if(rules.begin(), rules.end(),
                        [&](const rule& r) { return r.name == name; });
  return i == rules.end() ? nullptr : &*i;
}

} // namespace

control::reload_summary diff_rules(const std::vector<rule>& running,
                                   const std::vector<rule>& next) {
  control::reload_summary out;
  for (const auto& r : next) {
    const auto* old = find_rule(running, r.name);
    if (old == nullptr)
      out.added.push_back(r.name);
    else if (!(*old == r))
      out.changed.push_back(r.name);
    else
      ++out.unchanged;
  }
  for (const auto& r : running)
    if (find_rule(next, r.name) == nullptr)
      out.removed.push_back(r.name);
  return out;
}

std::vector<std::string> settings_needing_restart(const daemon_config& running,
                                                  const daemon_config& next) {
  std::vector<std::string> out;
  const auto& a = running.relay;
  const auto& b = next.relay;
  if (a.workers != b.workers)
    out.emplace_back("[relay] workers");
  // "auto" was resolved to packet or socket at start: the running value
  // is what auto chose, not a change.
  if (a.ingress != b.ingress && b.ingress != ingress_mode::automatic)
    out.emplace_back("[relay] ingress");
  if (a.datapath != b.datapath && b.datapath != datapath_mode::automatic)
    out.emplace_back("[relay] datapath");
  if (a.control_socket != b.control_socket)
    out.emplace_back("[relay] control_socket");
  if (a.control_admin_group != b.control_admin_group)
    out.emplace_back("[relay] control_admin_group");
  if (a.log_target != b.log_target)
    out.emplace_back("[relay] log_target");
  // Every receive buffer and send slot is sized by it when a worker starts.
  if (a.max_frame != b.max_frame)
    out.emplace_back("[relay] max_frame");
  if (!(running.metrics == next.metrics))
    out.emplace_back("[metrics]");
  if (!(running.sites.node == next.sites.node))
    out.emplace_back("[node]");
  return out;
}

daemon_config config_in_effect(const daemon_config& running,
                               const daemon_config& next) {
  auto out = next;
  out.relay.workers = running.relay.workers;
  out.relay.ingress = running.relay.ingress;
  out.relay.datapath = running.relay.datapath;
  out.relay.control_socket = running.relay.control_socket;
  out.relay.control_admin_group = running.relay.control_admin_group;
  out.relay.log_target = running.relay.log_target;
  out.relay.max_frame = running.relay.max_frame;
  out.metrics = running.metrics;
  out.sites.node = running.sites.node;
  return out;
}

} // namespace castor::relay
