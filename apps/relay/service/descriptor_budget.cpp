#include "service/descriptor_budget.hpp"

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include <sys/resource.h>

namespace castor::relay {

std::size_t descriptors_needed(const std::vector<rule>& rules,
                               ingress_mode ingress, std::size_t per_socket) {
  if (per_socket == 0)
    per_socket = 1;
  // IPv6 memberships live on helper sockets of their own (MLD), so the
  // families are counted apart.
  std::map<std::pair<std::string, bool>, std::set<ip_addr>> groups;
  std::set<std::tuple<std::string, ip_addr, uint16_t>> inputs;
  for (const auto& r : rules) {
    groups[{r.input.interface, r.input.group.v6}].insert(r.input.group);
    if (ingress == ingress_mode::socket)
      inputs.emplace(r.input.interface, r.input.group, r.input.port);
  }
  std::size_t need = descriptor_reserve + inputs.size();
  for (const auto& entry : groups)
    need += (entry.second.size() + per_socket - 1) / per_socket;
  return need;
}

std::size_t igmp_max_memberships() {
  std::ifstream f{"/proc/sys/net/ipv4/igmp_max_memberships"};
  std::size_t v = 0;
  if (f >> v && v > 0)
    return v;
  return 20;
}

std::optional<std::string> check_descriptors(const std::vector<rule>& rules,
                                             ingress_mode ingress) {
  const auto per_socket = igmp_max_memberships();
  const auto need = descriptors_needed(rules, ingress, per_socket);
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY
      || need <= lim.rlim_cur)
    return std::nullopt;
  std::string why = "a socket per " + std::to_string(per_socket)
                    + " joined groups of an interface, "
                      "net.ipv4.igmp_max_memberships";
  if (ingress == ingress_mode::socket)
    why += ", and with ingress = \"socket\" one per ruled group and port";
  return std::to_string(rules.size()) + " rules need about "
         + std::to_string(need) + " file descriptors (" + why
         + "); the process limit RLIMIT_NOFILE is "
         + std::to_string(lim.rlim_cur)
         + ": raise it (systemd LimitNOFILE=, ulimit -n)";
}

} // namespace castor::relay
