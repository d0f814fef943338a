#pragma once

// The checks a rule must pass before the relay accepts it, and the messages
// that explain a failure. The config parser (TOML, with file positions) and
// the control protocol (JSON, for runtime `add`) both decode through these
// functions, so an operator sees the same words for the same mistake in a
// config file and on the command line.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay {

/// One problem with a rule.
struct rule_issue {
  /// The key path inside the rule: "name", "input.group", "outputs[1].port",
  /// or "outputs" / "input" for problems of the whole part.
  std::string field;
  /// What is wrong, quoting the offending value.
  std::string message;
  /// For conflicts with another rule: its index in the rule list checked
  /// against, so that a caller can say where that rule was defined.
  std::optional<size_t> other;
};

/// "field: message".
std::string to_string(const rule_issue& x);

/// All issues of a rule, "; "-separated, prefixed with the rule's name:
/// "rule 'feed-a': outputs[0].port: ...; input.group: ...".
std::string describe(const rule& r, const std::vector<rule_issue>& issues);

// -- raw-value checks ---------------------------------------------------------
// Decoders run these on the wire or file value before narrowing it into a
// rule field: a port of 70000 would not survive the cast to uint16_t.

/// nullopt if 1..65535, otherwise the reason.
std::optional<std::string> check_port(int64_t value);
/// nullopt if 1..255 (a multicast TTL of 0 never leaves the host).
std::optional<std::string> check_ttl(int64_t value);
/// nullopt if 0..255.
std::optional<std::string> check_tos(int64_t value);

/// Parses a dotted-quad address into `out`; the reason on failure.
std::optional<std::string> parse_address(const std::string& text, ipv4& out);
/// Parses an IPv4 or IPv6 address into `out`; the reason on failure.
std::optional<std::string> parse_address(const std::string& text, ip_addr& out);

/// The TTL an output gets when its config leaves it out.
constexpr uint8_t default_ttl = 1;
/// The TOS an output gets when its config leaves it out.
constexpr uint8_t default_tos = 0;

// -- whole-rule checks --------------------------------------------------------

/// Checks one rule on its own: name, interfaces, addresses (the input group
/// multicast and not 224.0.0.x, a source unicast), ports, TTLs, at least one
/// output, no output equal to the input, no output listed twice. IPv6
/// (docs/ipv6.md): groups of scope 0, 1 (interface-local, ff01::/16), 2
/// (link-local, ff02::/16) and 15 are never relayed, as inputs or outputs;
/// an SSM group (ff3x::/32) needs a source (RFC 4607 §3, RFC 4604 §2.2.1:
/// a (*,G) join of an SSM group is an error), while a source on any other
/// group is MLDv2 source filtering and allowed, as for IPv4; the source
/// family is the group's. Input and outputs may differ in family.
std::vector<rule_issue> validate_rule(const rule& r);

/// Checks `candidate` against rules already accepted: a duplicate name, a
/// duplicate input (same interface, group, port and source), or an output
/// with a fixed source_port that another rule already has, to the same
/// interface, address and port, from the same source port: the two rules'
/// datagrams would then be one flow on the wire (same source address and
/// port, same destination), which no receiver can split, although a fixed
/// source port is how an operator gives an output its own identity.
/// (Outputs without source_port all send from the relay's shared port;
/// several rules into one destination that way are a deliberate fan-in,
/// and stay allowed.) `other` in each issue is the index of the clashing
/// rule in `accepted`.
std::vector<rule_issue> find_conflicts(const rule& candidate,
                                       const std::vector<rule>& accepted);

/// nullopt if `g` is a group the relay may take in: multicast and not of
/// a scope that is never relayed (224.0.0.0/24; IPv6 scopes 0, 1, 2, 15);
/// otherwise why not, quoting it. validate_rule() and site imports use it.
std::optional<std::string> check_relayed_group(const ip_addr& g);

/// "239.1.1.1:5001", "[ff3e::1:1]:5001".
std::string endpoint_text(const ip_addr& a, uint16_t port);
/// "eth0 239.1.1.1:5001" or "eth0 239.1.1.1:5001 source 10.0.0.5".
std::string to_string(const rule_input& x);
/// "eth1 239.2.2.2:6001".
std::string to_string(const rule_output& x);

} // namespace castor::relay
