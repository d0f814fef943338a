#include "control/diagnosis.hpp"

#include <cstdio>
#include <sstream>

#include "control/control_protocol.hpp"
#include "control/interface_facts.hpp"

namespace castor::relay::control {

using nlohmann::json;

namespace {

/// Beyond this a rule counts as silent (as in `status`).
constexpr double silent_s = 10;

const char* drop_meaning(const std::string& reason) {
  if (reason == "queue_full")
    return "its send ring was full: the output is slower than the input";
  if (reason == "send_error")
    return "the kernel refused the send: no route, or the interface is down "
           "or missing";
  if (reason == "too_big")
    return "datagrams larger than the output's MTU (or max_frame)";
  if (reason == "ttl_expired")
    return "ttl = \"decrement\" and they arrived with TTL 1 (a loop between "
           "relays ends here)";
  if (reason == "qdisc_drop")
    return "the output's queue discipline dropped them (ENOBUFS)";
  return "see docs/operations.md";
}

std::string fixed1(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", x);
  return buf;
}

std::string iface_words(const interface_facts& f) {
  if (!f.exists)
    return "does not exist on this host";
  std::string out = f.up ? "up" : "down (administratively)";
  if (f.up)
    out += f.running ? ", carrier" : ", no carrier";
  for (const auto& a : f.addresses)
    out += ", " + a;
  if (f.addresses.empty())
    out += ", no IPv4 address";
  return out;
}

} // namespace

std::string last_packet_text(double last_packet_s, uint64_t packets) {
  if (packets == 0)
    return "never";
  if (last_packet_s < 0)
    return "-";
  return fixed1(last_packet_s) + "s ago";
}

diagnosis diagnose(const json& facts) {
  diagnosis d;
  auto rule = facts.value("rule", json::object());
  auto in_rule = rule.value("input", json::object());
  const auto ifname = in_rule.value("interface", std::string{});
  const auto group = in_rule.value("group", std::string{});
  const auto port = std::to_string(in_rule.value("port", 0));
  const auto where = group + ":" + port;
  auto in = facts.value("input", json::object()).get<interface_facts>();
  auto stats = facts.value("stats", json::object()).get<rule_stats>();

  // The input interface.
  if (!in.exists)
    d.problems.push_back("the input interface " + ifname
                         + " does not exist on this host: the rule names the "
                           "wrong interface");
  else if (!in.up)
    d.problems.push_back("the input interface " + ifname
                         + " is down (ip link set " + ifname + " up)");
  else if (!in.running)
    d.problems.push_back("the input interface " + ifname
                         + " has no carrier: cable, switch port or peer down");
  if (in.exists && in.addresses.empty())
    d.notes.push_back(ifname
                      + " has no IPv4 address: IGMP reports leave from "
                        "0.0.0.0, which some switches and queriers ignore");

  // The membership.
  auto m = facts.find("membership");
  if (in.exists && m != facts.end()) {
    if (m->is_null()) {
      if (facts.value("memberships_known", false))
        d.problems.push_back("the relay has not joined " + group + " on "
                             + ifname);
    } else {
      auto state = m->value("state", std::string{});
      auto reason = m->value("reason", std::string{});
      if (state != "joined")
        d.problems.push_back("joining " + group + " on " + ifname + " is "
                             + state + (reason.empty() ? "" : ": " + reason));
    }
  }

  // The forwarders reading the input.
  auto workers = facts.value("workers", json::array());
  if (in.exists && workers.empty())
    d.problems.push_back("no forwarder reads " + ifname);
  for (const auto& j : workers) {
    auto w = j.get<worker_info>();
    if (w.state != "running")
      d.problems.push_back("forwarder " + w.id + " is " + w.state);
    if (!w.filter_error.empty())
      d.problems.push_back(
        "forwarder " + w.id + " could not install its kernel filter ("
        + w.filter_error + "); it filters with the previous one");
  }

  // Traffic in.
  const bool silent =
    stats.packets == 0
    || (stats.rate == 0
        && (stats.last_packet_s < 0 || stats.last_packet_s >= silent_s));
  auto elsewhere = facts.value("elsewhere", json::object());
  auto other = elsewhere.value("interfaces", json::object());
  if (silent && !other.empty()) {
    std::string list;
    for (auto& [name, n] : other.items())
      list +=
        (list.empty() ? "" : ", ") + name + " (" + n.dump() + " datagrams)";
    // The most likely cause when it shows: put it first.
    d.problems.insert(d.problems.begin(),
                      "traffic for " + where + " arrives on " + list
                        + ", not on " + ifname
                        + ": the rule's input interface is probably wrong");
  } else if (silent && d.problems.empty()) {
    d.problems.push_back(
      "no datagram for " + where + " reaches " + ifname + " ("
      + (stats.packets == 0
           ? std::string{"none since the relay started"}
           : "last " + last_packet_text(stats.last_packet_s, stats.packets))
      + "): check that the sender sends to " + where
      + " on the interface facing this relay, with a TTL that reaches it, "
        "and that the switch forwards the group (IGMP snooping needs a "
        "querier)");
  }

  // The outputs.
  auto outs = facts.value("outputs", json::object());
  for (const auto& o : stats.outputs) {
    const auto name =
      "output " + o.interface + " " + o.address + ":" + std::to_string(o.port);
    auto f = outs.value(o.interface, json::object()).get<interface_facts>();
    if (outs.contains(o.interface) && !f.exists)
      d.problems.push_back(name + ": interface "
                           + o.interface + " does not exist");
    else if (o.state == "down" || (outs.contains(o.interface) && !f.up))
      d.problems.push_back(name + ": interface down");
    for (const auto& [reason, n] : o.drops)
      if (n > 0)
        d.problems.push_back(name + ": " + std::to_string(n) + " dropped as "
                             + reason + ", " + drop_meaning(reason));
    if (stats.packets > 0 && o.packets == 0)
      d.problems.push_back(name + ": nothing sent although "
                           + std::to_string(stats.packets) + " arrived");
    if (o.kernel_tx_dropped > 0)
      d.notes.push_back("the kernel counts "
                        + std::to_string(o.kernel_tx_dropped)
                        + " tx_dropped on "
                        + o.interface + " (all its traffic, after the relay)");
  }

  if (d.problems.empty())
    d.verdict = "forwarding: " + fixed1(stats.rate) + " datagrams/s in, last "
                + last_packet_text(stats.last_packet_s, stats.packets);
  else
    d.verdict = d.problems.front();
  return d;
}

std::string diagnosis_text(const json& facts, const diagnosis& d) {
  std::ostringstream out;
  auto rule = facts.value("rule", json::object());
  auto in_rule = rule.value("input", json::object());
  auto stats = facts.value("stats", json::object()).get<rule_stats>();
  auto in = facts.value("input", json::object()).get<interface_facts>();
  const auto ifname = in_rule.value("interface", std::string{});
  const auto group = in_rule.value("group", std::string{});
  out << "rule " << rule.value("name", std::string{}) << ": " << ifname << " "
      << group << ":" << in_rule.value("port", 0) << "\n";
  out << "  input " << ifname << ": " << iface_words(in) << "\n";
  auto m = facts.find("membership");
  out << "  group " << group << " on " << ifname << ": "
      << (m == facts.end() || m->is_null()
            ? std::string{"not joined"}
            : m->value("state", std::string{})
                + (m->value("reason", std::string{}).empty()
                     ? ""
                     : " (" + m->value("reason", std::string{}) + ")"))
      << "\n";
  for (const auto& j : facts.value("workers", json::array())) {
    auto w = j.get<worker_info>();
    out << "  forwarder " << w.id << ": " << w.state << ", filter "
        << (w.filter.empty() ? "socket" : w.filter)
        << (w.filter_error.empty() ? "" : " (failed: " + w.filter_error + ")")
        << ", " << w.frames << " frames, " << w.kernel_drops
        << " kernel drops\n";
  }
  out << "  packets in: " << stats.packets << " (" << fixed1(stats.rate)
      << "/s), last packet: "
      << last_packet_text(stats.last_packet_s, stats.packets) << "\n";
  auto outs = facts.value("outputs", json::object());
  for (const auto& o : stats.outputs) {
    auto f = outs.value(o.interface, json::object()).get<interface_facts>();
    std::string drops;
    for (const auto& [reason, n] : o.drops)
      if (n > 0)
        drops += (drops.empty() ? "" : ",") + reason + "=" + std::to_string(n);
    out << "  output " << o.interface << " " << o.address << ":" << o.port
        << ": "
        << (f.exists ? state_word(f) == "up" ? "up" : "interface down"
                     : "interface missing")
        << ", sent " << o.packets << ", drops " << (drops.empty() ? "0" : drops)
        << ", kernel tx_dropped " << o.kernel_tx_dropped << "\n";
  }
  if (auto e = facts.find("elsewhere"); e != facts.end() && e->is_object()) {
    auto other = e->value("interfaces", json::object());
    out << "  looked " << e->value("looked_s", 0.0) << " s on the other "
        << "interfaces: "
        << (other.empty() ? std::string{"nothing for this group and port"}
                          : other.dump())
        << "\n";
  }
  out << "\n"
      << (d.problems.empty() ? "ok: " : "most likely: ") << d.verdict << "\n";
  for (size_t i = 1; i < d.problems.size(); ++i)
    out << "also: " << d.problems[i] << "\n";
  for (const auto& n : d.notes)
    out << "note: " << n << "\n";
  return out.str();
}

} // namespace castor::relay::control
