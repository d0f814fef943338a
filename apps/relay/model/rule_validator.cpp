#include "model/rule_validator.hpp"

#include <algorithm>

#include <arpa/inet.h>

namespace castor::relay {

namespace {

// Rule names end up in metrics labels, actor ids and castorctl arguments, so
// they stay within characters that need no quoting anywhere.
constexpr size_t max_name_length = 64;

// The kernel's IFNAMSIZ is 16 including the terminating NUL.
constexpr size_t max_interface_length = 15;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

std::optional<std::string> check_name(const std::string& name) {
  if (name.empty())
    return "must not be empty";
  if (name.size() > max_name_length)
    return "'" + name + "' is longer than " + std::to_string(max_name_length)
           + " characters";
  for (char c : name)
    if (!is_name_char(c))
      return "'" + name
             + "' may only contain letters, digits, '-', '_' and '.'";
  return std::nullopt;
}

// Mirrors the kernel's dev_valid_name(), so a name we accept is one the
// kernel could have given an interface.
std::optional<std::string> check_interface(const std::string& name) {
  if (name.empty())
    return "interface name must not be empty";
  if (name.size() > max_interface_length)
    return "interface name '" + name + "' is longer than "
           + std::to_string(max_interface_length) + " characters";
  if (name == "." || name == "..")
    return "'" + name + "' is not a valid interface name";
  for (char c : name)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
        || c == '\f' || c == '\v')
      return "interface name '" + name + "' contains '/', ':' or whitespace";
  return std::nullopt;
}

bool is_broadcast(const ip_addr& x) {
  return !x.v6 && x.v4_be() == 0xFFFFFFFFu;
}

// Why an IPv6 group is never relayed, by its scope (RFC 4291 §2.7).
std::string scope_reason(const ip_addr& g) {
  switch (g.multicast_scope()) {
  case 1:
    return "an interface-local group (scope 1, ff01::/16), which never "
           "leaves the host and is never relayed";
  case 2:
    return "a link-local group (scope 2, ff02::/16), which is never "
           "relayed";
  default:
    return "a group of reserved scope " + std::to_string(g.multicast_scope())
           + ", which is never relayed";
  }
}

// "is a link-local control group ..." for either family.
std::string never_relayed(const ip_addr& g) {
  if (g.v6)
    return g.to_string() + " is " + scope_reason(g);
  return g.to_string()
         + " is a link-local control group (224.0.0.0/24), which is "
           "never relayed";
}

void add(std::vector<rule_issue>& out, std::string field, std::string msg) {
  out.push_back(rule_issue{std::move(field), std::move(msg), std::nullopt});
}

void check_output(const rule_output& out, const std::string& field,
                  std::vector<rule_issue>& issues) {
  if (auto err = check_interface(out.interface))
    add(issues, field + ".interface", *err);
  if (out.address.is_unspecified())
    add(issues, field + ".address",
        out.address.to_string() + " is not a destination");
  else if (is_broadcast(out.address))
    add(issues, field + ".address",
        "255.255.255.255 (broadcast) is not a destination");
  else if (out.address.is_link_local_multicast())
    add(issues, field + ".address", never_relayed(out.address));
  if (auto err = check_port(out.port))
    add(issues, field + ".port", *err);
  if (auto err = check_ttl(out.ttl))
    add(issues, field + ".ttl", *err);
}

} // namespace

std::string to_string(const rule_issue& x) {
  return x.field.empty() ? x.message : x.field + ": " + x.message;
}

std::string describe(const rule& r, const std::vector<rule_issue>& issues) {
  std::string out = r.name.empty() ? "rule" : "rule '" + r.name + "'";
  const char* sep = ": ";
  for (auto& x : issues) {
    out += sep;
    out += to_string(x);
    sep = "; ";
  }
  return out;
}

std::optional<std::string> check_port(int64_t value) {
  if (value < 1 || value > 65535)
    return "port " + std::to_string(value) + " is out of range 1..65535";
  return std::nullopt;
}

std::optional<std::string> check_ttl(int64_t value) {
  if (value < 1 || value > 255)
    return "ttl " + std::to_string(value) + " is out of range 1..255";
  return std::nullopt;
}

std::optional<std::string> check_tos(int64_t value) {
  if (value < 0 || value > 255)
    return "tos " + std::to_string(value) + " is out of range 0..255";
  return std::nullopt;
}

std::optional<std::string> parse_address(const std::string& text, ipv4& out) {
  // inet_pton alone would accept nothing but dotted quads too, but says
  // nothing about why; the message shows the text and the expected form.
  if (auto x = ipv4::parse(text)) {
    out = *x;
    return std::nullopt;
  }
  return "'" + text
         + "' is not an IPv4 address (expected a dotted quad "
           "such as 239.1.1.1)";
}

std::optional<std::string> parse_address(const std::string& text,
                                         ip_addr& out) {
  if (auto x = ip_addr::parse(text)) {
    out = *x;
    return std::nullopt;
  }
  return "'" + text
         + "' is not an IP address (expected an IPv4 dotted quad such as "
           "239.1.1.1 or an IPv6 address such as ff3e::1:1)";
}

std::optional<std::string> check_relayed_group(const ip_addr& g) {
  if (!g.is_multicast())
    return g.to_string() + " is not a multicast group"
           + (g.v6 ? " (ff00::/8)" : " (224.0.0.0/4)");
  if (g.is_link_local_multicast())
    return never_relayed(g);
  return std::nullopt;
}

std::string endpoint_text(const ip_addr& a, uint16_t port) {
  auto text = a.to_string();
  if (a.v6)
    text = "[" + text + "]";
  return text + ":" + std::to_string(port);
}

std::string to_string(const rule_input& x) {
  auto out = x.interface + " " + endpoint_text(x.group, x.port);
  if (x.source)
    out += " source " + x.source->to_string();
  return out;
}

std::string to_string(const rule_output& x) {
  return x.interface + " " + endpoint_text(x.address, x.port);
}

std::vector<rule_issue> validate_rule(const rule& r) {
  std::vector<rule_issue> issues;
  if (auto err = check_name(r.name))
    add(issues, "name", *err);
  auto& in = r.input;
  if (auto err = check_interface(in.interface))
    add(issues, "input.interface", *err);
  auto group = in.group.to_string();
  if (auto err = check_relayed_group(in.group))
    add(issues, "input.group", *err);
  else if (in.group.is_ssm6() && !in.source)
    add(issues, "input.group",
        group
          + " is a source-specific multicast group (ff3x::/32, RFC 4607), "
            "which needs a source: add input.source");
  if (auto err = check_port(in.port))
    add(issues, "input.port", *err);
  if (in.source) {
    auto src = in.source->to_string();
    if (in.source->is_multicast() || in.source->is_unspecified()
        || is_broadcast(*in.source))
      add(issues, "input.source",
          src
            + " is not a unicast address; a source filter names the "
              "sender's unicast address");
    else if (in.source->v6 != in.group.v6)
      add(issues, "input.source",
          src + " is an " + (in.source->v6 ? "IPv6" : "IPv4")
            + " address and the group " + group + " is not; a source "
            + "filter is of the group's family");
  }
  if (r.outputs.empty())
    add(issues, "outputs", "a rule needs at least one output");
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    auto field = "outputs[" + std::to_string(i) + "]";
    auto& out = r.outputs[i];
    check_output(out, field, issues);
    if (out.interface == in.interface && out.address == in.group
        && out.port == in.port)
      add(issues, field,
          "output " + to_string(out)
            + " equals the rule's input; the relay "
              "would receive its own packets");
    for (size_t j = 0; j < i; ++j) {
      auto& prev = r.outputs[j];
      if (prev.interface == out.interface && prev.address == out.address
          && prev.port == out.port) {
        add(issues, field,
            "output " + to_string(out) + " is already outputs["
              + std::to_string(j) + "]; every packet would be sent twice");
        break;
      }
    }
  }
  return issues;
}

std::vector<rule_issue> find_conflicts(const rule& candidate,
                                       const std::vector<rule>& accepted) {
  std::vector<rule_issue> issues;
  // Only outputs with a fixed source port can clash (see the header);
  // most rules have none, and then the outputs cost nothing here.
  const bool fixed_ports =
    std::any_of(candidate.outputs.begin(), candidate.outputs.end(),
                [](const rule_output& o) { return o.source_port != 0; });
  for (size_t i = 0; i < accepted.size(); ++i) {
    auto& other = accepted[i];
    if (other.name == candidate.name)
      issues.push_back(
        rule_issue{"name", "duplicate rule name '" + candidate.name + "'", i});
    else if (other.input == candidate.input)
      issues.push_back(rule_issue{"input",
                                  "input " + to_string(candidate.input)
                                    + " is already the input of rule '"
                                    + other.name + "'",
                                  i});
    if (!fixed_ports || other.name == candidate.name)
      continue;
    for (size_t k = 0; k < candidate.outputs.size(); ++k) {
      auto& out = candidate.outputs[k];
      if (out.source_port == 0)
        continue;
      for (size_t j = 0; j < other.outputs.size(); ++j) {
        auto& theirs = other.outputs[j];
        if (theirs.source_port != out.source_port
            || theirs
                   .interface != out.interface || theirs.address != out.address
            || theirs.port != out.port)
          continue;
        issues.push_back(rule_issue{
          "outputs[" + std::to_string(k) + "].source_port",
          "output " + to_string(out) + " from source port "
            + std::to_string(out.source_port) + " is the same flow as outputs["
            + std::to_string(j) + "] of rule '" + other.name
            + "' (same interface, destination "
            + "and source port): receivers could not tell rule '"
            + candidate.name + "''s datagrams from rule '" + other.name
            + "''s; give one of them another source_port",
          i});
        break;
      }
    }
  }
  return issues;
}

} // namespace castor::relay
