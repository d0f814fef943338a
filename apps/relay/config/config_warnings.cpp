#include "config/config_warnings.hpp"

#include <map>
#include <set>

#include <net/if.h>

namespace castor::relay {

namespace {

/// At most this many rule names per missing interface: 10,000 rules on a
/// mistyped interface make one readable line.
constexpr size_t max_named_rules = 5;

struct interface_use {
  std::vector<std::string> rules; // "name (input)", "name (output)"
  size_t count = 0;
};

void note_use(std::map<std::string, interface_use>& uses,
              const std::string& interface, const std::string& what) {
  auto& use = uses[interface];
  if (use.count++ < max_named_rules)
    use.rules.push_back(what);
}

} // namespace

bool interface_exists(const std::string& name) {
  return ::if_nametoindex(name.c_str()) != 0;
}

std::vector<std::string> config_warnings(const daemon_config& cfg,
                                         const interface_probe& exists) {
  std::vector<std::string> out;
  std::map<std::string, interface_use> uses;
  for (const auto& r : cfg.rules) {
    note_use(uses, r.input.interface, "'" + r.name + "' (input)");
    // One mention per rule and interface, however many outputs use it.
    std::set<std::string> outputs;
    for (const auto& o : r.outputs)
      if (outputs.insert(o.interface).second)
        note_use(uses, o.interface, "'" + r.name + "' (output)");
  }
  for (const auto& [name, use] : uses) {
    if (exists(name))
      continue;
    std::string text = "interface '" + name
                       + "' does not exist on this host; nothing is "
                         "forwarded through it until it appears (used by ";
    for (size_t i = 0; i < use.rules.size(); ++i)
      text += (i == 0 ? "rule " : ", ") + use.rules[i];
    if (use.count > use.rules.size())
      text += " and " + std::to_string(use.count - use.rules.size()) + " more";
    out.push_back(text + ")");
  }
  if (cfg.relay.ingress == ingress_mode::socket && cfg.relay.workers != 1)
    out.push_back("ingress = \"socket\" runs one forwarder per input "
                  "interface ("
                  + std::to_string(cfg.relay.workers) + " configured)");
  return out;
}

} // namespace castor::relay
