#include "config/config_warnings.hpp"

#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
  // Fixed source ports another process holds (issue 15: a stable source
  // port the relay cannot bind would fail every send of those outputs).
  std::map<uint16_t, std::vector<std::string>> fixed;
  for (const auto& r : cfg.rules)
    for (const auto& o : r.outputs)
      if (o.source_port != 0)
        fixed[o.source_port].push_back(r.name);
  for (const auto& [port, rules] : fixed)
    if (auto problem = source_port_problem(port)) {
      std::string text = *problem + " (source_port of ";
      for (size_t i = 0; i < rules.size() && i < max_named_rules; ++i)
        text += (i == 0 ? "rule " : ", ") + rules[i];
      if (rules.size() > max_named_rules)
        text +=
          " and " + std::to_string(rules.size() - max_named_rules) + " more";
      out.push_back(text + ")");
    }
  return out;
}

std::optional<std::string> source_port_problem(uint16_t port) {
  // As the relay binds its egress sockets: SO_REUSEPORT, any address. A
  // socket of the relay's own user with SO_REUSEPORT shares the port; a
  // socket without it, or of another user, does not.
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return std::nullopt;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::close(fd);
  if (rc == 0)
    return std::nullopt;
  const auto p = std::to_string(port);
  if (err == EADDRINUSE)
    return "source port " + p
           + " is in use by another process on this host (ss -uanp 'sport "
             "= :"
           + p + "' shows which); the relay cannot send from it";
  if (err == EACCES)
    return "source port " + p + " is below 1024 and needs CAP_NET_BIND_SERVICE";
  return "source port " + p + " cannot be bound: " + std::strerror(err);
}

} // namespace castor::relay
