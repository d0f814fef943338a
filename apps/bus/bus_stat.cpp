// castor-bus stat: listens to the discovery group for a while and lists who
// publishes and subscribes to which topic, at what rate. A plain socket and
// the bus's wire format: no actor system needed to watch the bus.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <tuple>

#include "bus_host.hpp"
#include "commands.hpp"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/bus/topic_map.hpp"
#include "castor/bus/wire.hpp"

namespace castor_bus_cli {

using namespace castor::bus;

namespace {

struct seen {
  bool subscriber = false;
  bool raw = false;
  std::string from;
  announce_body body;
};

// A socket of the discovery group's family, bound to its port and joined to
// it (MCAST_JOIN_GROUP: an IGMP or an MLD join, on --interface).
int open_discovery(const stat_options& o) {
  bool v6 = o.group.is_v6();
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  int zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage local{};
  group_req req{};
  socklen_t local_len = 0;
  if (v6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    auto* sa = reinterpret_cast<sockaddr_in6*>(&local);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(o.port);
    sa->sin6_addr = in6addr_any;
    local_len = sizeof(sockaddr_in6);
    auto* g = reinterpret_cast<sockaddr_in6*>(&req.gr_group);
    g->sin6_family = AF_INET6;
    std::memcpy(&g->sin6_addr, o.group.bytes().data(), 16);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&local);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(o.port);
    sa->sin_addr.s_addr = htonl(INADDR_ANY);
    local_len = sizeof(sockaddr_in);
    auto* g = reinterpret_cast<sockaddr_in*>(&req.gr_group);
    g->sin_family = AF_INET;
    g->sin_addr.s_addr = htonl(o.group.to_v4());
  }
  if (!o.interface.empty())
    req.gr_interface = if_nametoindex(o.interface.c_str());
  int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), local_len) < 0
      || ::setsockopt(fd, level, MCAST_JOIN_GROUP, &req, sizeof(req)) < 0) {
    std::perror(("castor-bus stat: " + o.group.to_string()).c_str());
    ::close(fd);
    return -1;
  }
  // Only the group joined here, not every group of the port someone joined.
  if (v6)
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof(zero));
  else
    ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  return fd;
}

// "a.b.c.d:port" or "[v6]:port".
std::string peer_text(const sockaddr_storage& from) {
  char addr[INET6_ADDRSTRLEN] = "?";
  if (from.ss_family == AF_INET6) {
    auto& sa = reinterpret_cast<const sockaddr_in6&>(from);
    ::inet_ntop(AF_INET6, &sa.sin6_addr, addr, sizeof(addr));
    return '[' + std::string{addr} + "]:" + std::to_string(ntohs(sa.sin6_port));
  }
  auto& sa = reinterpret_cast<const sockaddr_in&>(from);
  ::inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
  return std::string{addr} + ':' + std::to_string(ntohs(sa.sin_port));
}

} // namespace

int run_stat(const stat_options& o) {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  int fd = open_discovery(o);
  if (fd < 0)
    return 1;
  std::map<std::tuple<std::string, bool, uint64_t>, seen> table;
  auto until =
    std::chrono::steady_clock::now()
    + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(o.duration));
  uint8_t buf[65536];
  while (!stop_requested() && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0)
      continue;
    sockaddr_storage from{};
    socklen_t len = sizeof(from);
    auto n = ::recvfrom(fd, buf, sizeof(buf), 0,
                        reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0)
      continue;
    auto h = decode_header(buf, static_cast<size_t>(n));
    if (!h || !is_announce(h->type))
      continue;
    auto body = decode_announce(buf, static_cast<size_t>(n));
    if (!body)
      continue;
    seen s;
    s.subscriber = (h->flags & flag_subscriber) != 0;
    s.raw = (h->flags & flag_raw) != 0;
    s.from = peer_text(from);
    s.body = *body;
    table[{body->topic, s.subscriber, h->origin}] = s;
  }
  ::close(fd);
  if (!o.json)
    std::printf("%-4s %-24s %-21s %-21s %10s %12s %6s %6s\n", "ROLE", "TOPIC",
                "GROUP:PORT", "FROM", "MSG/S", "BYTES/S", "GAPS", "DROPS");
  for (auto& [key, s] : table) {
    auto g = s.body.group.to_string();
    auto group = (s.body.group.is_v6() ? '[' + g + ']' : g) + ':'
                 + std::to_string(s.body.port);
    auto role = s.subscriber ? "sub" : "pub";
    if (o.json)
      std::printf("{\"role\":\"%s\",\"topic\":\"%s\",\"group\":\"%s\","
                  "\"from\":\"%s\",\"raw\":%s,\"msgs_per_sec\":%u,"
                  "\"bytes_per_sec\":%llu,\"gaps\":%llu,\"drops\":%llu}\n",
                  role, s.body.topic.c_str(), group.c_str(), s.from.c_str(),
                  s.raw ? "true" : "false", s.body.msgs_per_sec,
                  (unsigned long long)s.body.bytes_per_sec,
                  (unsigned long long)s.body.gaps,
                  (unsigned long long)s.body.drops);
    else
      std::printf("%-4s %-24s %-21s %-21s %10u %12llu %6llu %6llu\n", role,
                  (s.body.topic + (s.raw ? " (raw)" : "")).c_str(),
                  group.c_str(), s.from.c_str(), s.body.msgs_per_sec,
                  (unsigned long long)s.body.bytes_per_sec,
                  (unsigned long long)s.body.gaps,
                  (unsigned long long)s.body.drops);
  }
  return 0;
}

} // namespace castor_bus_cli
