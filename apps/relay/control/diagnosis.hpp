#pragma once

// `castorctl diagnose RULE`: from the facts the daemon gathered on one
// rule's path (control_protocol.hpp, "diagnose"), and castorctl's own short
// look for the rule's traffic on the host's other interfaces, the reasons
// in plain words why the rule may not forward, the most likely first.
// CAF-free, so a unit test feeds it facts.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace castor::relay::control {

struct diagnosis {
  /// Problems found, most likely cause of "no traffic" first.
  std::vector<std::string> problems;
  /// Remarks that explain but are not a fault (e.g. no IPv4 address).
  std::vector<std::string> notes;
  /// One line: the first problem, or that the rule forwards.
  std::string verdict;
};

/// `facts`: the daemon's reply data; it may carry "elsewhere":
/// {"looked_s":S,"interfaces":{"eth2":N,...}}, what castorctl saw arrive
/// for the rule's group and port on other interfaces.
diagnosis diagnose(const nlohmann::json& facts);

/// The facts and the diagnosis as castorctl prints them.
std::string diagnosis_text(const nlohmann::json& facts, const diagnosis& d);

/// "never" (no packet), "3.0s ago", or "-" (not known yet: the first
/// sample saw packets already).
std::string last_packet_text(double last_packet_s, uint64_t packets);

} // namespace castor::relay::control
