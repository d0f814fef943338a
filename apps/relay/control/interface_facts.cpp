#include "control/interface_facts.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace castor::relay::control {

std::map<std::string, interface_facts>
read_interfaces(const std::set<std::string>& names) {
  std::map<std::string, interface_facts> out;
  for (const auto& n : names)
    out[n].name = n;
  ifaddrs* all = nullptr;
  if (names.empty() || ::getifaddrs(&all) != 0)
    return out;
  for (auto* a = all; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr)
      continue;
    auto i = out.find(a->ifa_name);
    if (i == out.end())
      continue;
    auto& f = i->second;
    f.exists = true;
    f.up = (a->ifa_flags & IFF_UP) != 0;
    f.running = (a->ifa_flags & IFF_RUNNING) != 0;
    if (a->ifa_addr == nullptr)
      continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      char text[INET_ADDRSTRLEN] = {};
      auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      if (::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)))
        f.addresses.emplace_back(text);
    } else if (a->ifa_addr->sa_family == AF_PACKET && a->ifa_data) {
      // getifaddrs(3): for AF_PACKET, ifa_data is the link's
      // rtnl_link_stats, read from rtnetlink in our namespace.
      auto* st = static_cast<const rtnl_link_stats*>(a->ifa_data);
      f.tx_dropped = st->tx_dropped;
    }
  }
  ::freeifaddrs(all);
  return out;
}

interface_facts read_interface(const std::string& name) {
  return read_interfaces({name}).at(name);
}

std::string state_word(const interface_facts& x) {
  if (!x.exists)
    return "missing";
  return x.up && x.running ? "up" : "down";
}

void to_json(nlohmann::json& j, const interface_facts& x) {
  j = {{"name", x.name},
       {"exists", x.exists},
       {"up", x.up},
       {"running", x.running},
       {"addresses", x.addresses},
       {"tx_dropped", x.tx_dropped}};
}

void from_json(const nlohmann::json& j, interface_facts& x) {
  if (!j.is_object())
    return;
  x.name = j.value("name", std::string{});
  x.exists = j.value("exists", false);
  x.up = j.value("up", false);
  x.running = j.value("running", false);
  x.addresses = j.value("addresses", std::vector<std::string>{});
  x.tx_dropped = j.value("tx_dropped", uint64_t{0});
}

} // namespace castor::relay::control
