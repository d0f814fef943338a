#pragma once

// The replies of `groups`, `status` and `diagnose` built from what the
// control handler gathered (relay_handler.cpp): plain data in, JSON out, so
// that a unit test checks them without an actor system. Shapes as listed in
// control_protocol.hpp.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control/control_protocol.hpp"
#include "control/interface_facts.hpp"
#include "model/rule.hpp"
#include <nlohmann/json.hpp>

#include "castor/net/group_manager.hpp"

namespace castor::relay {

/// What one gathering found.
struct relay_survey {
  std::vector<rule> rules;
  /// Per rule, in the order of `rules`, with rate and last-packet time.
  std::vector<control::rule_stats> stats;
  std::vector<control::worker_info> workers;
  /// Empty when the group manager did not answer.
  std::optional<std::vector<net::membership_status>> memberships;
};

/// A rule without a packet for this long (or never) is "silent" in status.
inline constexpr double silent_after_s = 10;

nlohmann::json groups_view(const relay_survey& x);

struct status_context {
  std::string version;
  double uptime_s = 0;
  std::string config_file;
};

nlohmann::json status_view(const relay_survey& x, const status_context& c);

/// The interfaces `diagnose NAME` looks at: the rule's input and outputs.
/// Empty when there is no such rule.
std::set<std::string> diagnose_interfaces(const relay_survey& x,
                                          const std::string& name);

/// The facts of `diagnose NAME`; nullopt when there is no such rule.
std::optional<nlohmann::json>
diagnose_view(const relay_survey& x, const std::string& name,
              const std::map<std::string, control::interface_facts>& facts);

} // namespace castor::relay
