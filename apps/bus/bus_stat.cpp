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

int open_discovery(const stat_options& o) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(o.map.discovery_port());
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  ip_mreqn mreq{};
  mreq.imr_multiaddr.s_addr = htonl(o.map.discovery_group());
  if (!o.interface.empty())
    mreq.imr_ifindex = static_cast<int>(if_nametoindex(o.interface.c_str()));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0
      || ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq))
           < 0) {
    std::perror("castor-bus stat");
    ::close(fd);
    return -1;
  }
  int zero = 0;
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  return fd;
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
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    auto n = ::recvfrom(fd, buf, sizeof(buf), 0,
                        reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0)
      continue;
    auto h = decode_header(buf, static_cast<size_t>(n));
    if (!h || h->type != msg_type::announce)
      continue;
    auto body = decode_announce(buf, static_cast<size_t>(n));
    if (!body)
      continue;
    seen s;
    s.subscriber = (h->flags & flag_subscriber) != 0;
    s.raw = (h->flags & flag_raw) != 0;
    char addr[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &from.sin_addr, addr, sizeof(addr));
    s.from = std::string{addr} + ':' + std::to_string(ntohs(from.sin_port));
    s.body = *body;
    table[{body->topic, s.subscriber, h->origin}] = s;
  }
  ::close(fd);
  if (!o.json)
    std::printf("%-4s %-24s %-21s %-21s %10s %12s %6s %6s\n", "ROLE", "TOPIC",
                "GROUP:PORT", "FROM", "MSG/S", "BYTES/S", "GAPS", "DROPS");
  for (auto& [key, s] : table) {
    auto group = format_ipv4(s.body.group) + ':' + std::to_string(s.body.port);
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
