#pragma once

// What the host says about a network interface, for `castorctl diagnose`,
// `stats` and /metrics: does it exist, is it up, its IPv4 addresses, and
// the kernel's tx_dropped (drops after the relay handed a datagram over,
// e.g. by the device or its queue discipline). Read with getifaddrs(3), so
// in the caller's network namespace (sysfs shows the namespace that
// mounted it). CAF-free.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace castor::relay::control {

struct interface_facts {
  std::string name;
  bool exists = false;
  /// IFF_UP: administratively up.
  bool up = false;
  /// IFF_RUNNING: the link is up (carrier).
  bool running = false;
  /// Its IPv4 addresses, dotted.
  std::vector<std::string> addresses;
  /// The kernel's tx_dropped of the interface (all its traffic).
  uint64_t tx_dropped = 0;
};

/// The facts of every interface in `names` (one getifaddrs call); a name
/// the host does not have maps to facts with exists == false.
std::map<std::string, interface_facts>
read_interfaces(const std::set<std::string>& names);

/// One interface's facts.
interface_facts read_interface(const std::string& name);

void to_json(nlohmann::json& j, const interface_facts& x);
void from_json(const nlohmann::json& j, interface_facts& x);

/// "up", "down" (not IFF_UP, or no carrier) or "missing".
std::string state_word(const interface_facts& x);

} // namespace castor::relay::control
