#include "sites/site_sockets.hpp"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

namespace castor::relay::sites {

socket_address socket_address::of(const site_endpoint& ep) {
  socket_address out;
  if (ep.v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out.storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(ep.port);
    std::memcpy(&a->sin6_addr, ep.addr.data(), 16);
    out.length = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&out.storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(ep.port);
    std::memcpy(&a->sin_addr, ep.addr.data(), 4);
    out.length = sizeof(*a);
  }
  return out;
}

bool socket_address::same(const sockaddr_storage& from) const {
  if (from.ss_family != storage.ss_family)
    return false;
  if (from.ss_family == AF_INET6) {
    auto& x = reinterpret_cast<const sockaddr_in6&>(storage);
    auto& y = reinterpret_cast<const sockaddr_in6&>(from);
    return x.sin6_port == y.sin6_port
           && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
  }
  auto& x = reinterpret_cast<const sockaddr_in&>(storage);
  auto& y = reinterpret_cast<const sockaddr_in&>(from);
  return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
}

sockaddr_in to_sockaddr(ipv4 host, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = host.be;
  sa.sin_port = htons(port);
  return sa;
}

namespace {

void big_buffers(int fd) {
  int size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

} // namespace

std::string errno_text() {
  return std::strerror(errno);
}

namespace {

/// A non-blocking UDP socket for `interface`, whose index goes to
/// `ifindex`; -1 and `why` on failure.
int udp_socket_on(const std::string& interface, unsigned& ifindex,
                  std::string& why) {
  ifindex = if_nametoindex(interface.c_str());
  if (ifindex == 0) {
    why = "no interface " + interface;
    return -1;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    why = errno_text();
  return fd;
}

} // namespace

int open_export(const site_export& e, std::string& why) {
  unsigned ifindex = 0;
  int fd = udp_socket_on(e.input.interface, ifindex, why);
  if (fd < 0)
    return -1;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  big_buffers(fd);
  auto sa = to_sockaddr(e.input.group.v4(), e.input.port);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  if (ok && e.input.source) {
    group_source_req req{};
    req.gsr_interface = ifindex;
    auto g = to_sockaddr(e.input.group.v4(), 0);
    auto s = to_sockaddr(e.input.source->v4(), 0);
    std::memcpy(&req.gsr_group, &g, sizeof(g));
    std::memcpy(&req.gsr_source, &s, sizeof(s));
    ok = setsockopt(fd, IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP, &req, sizeof(req))
         == 0;
  } else if (ok) {
    ip_mreqn req{};
    req.imr_multiaddr.s_addr = e.input.group.v4_be();
    req.imr_ifindex = static_cast<int>(ifindex);
    ok = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof(req)) == 0;
  }
  if (!ok) {
    why = errno_text();
    close(fd);
    return -1;
  }
  return fd;
}

int open_output(const rule_output& o, std::string& why) {
  unsigned ifindex = 0;
  int fd = udp_socket_on(o.interface, ifindex, why);
  if (fd < 0)
    return -1;
  int one = 1, zero = 0;
  int ttl = o.ttl_decrement ? 1 : o.ttl;
  int tos = o.tos_preserve ? 0 : o.tos;
  ip_mreqn req{};
  req.imr_ifindex = static_cast<int>(ifindex);
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof(req));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
  setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof(zero));
  big_buffers(fd);
  if (o.source_port != 0) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    auto sa = to_sockaddr(ipv4{}, o.source_port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      why = errno_text();
      close(fd);
      return -1;
    }
  }
  return fd;
}

int interface_mtu(int fd, const std::string& interface) {
  ifreq req{};
  if (interface.size() >= sizeof(req.ifr_name))
    return 0;
  std::memcpy(req.ifr_name, interface.data(), interface.size());
  if (ioctl(fd, SIOCGIFMTU, &req) != 0)
    return 0;
  return req.ifr_mtu;
}

std::string random_key() {
  std::string key(32, '\0');
  std::size_t got = 0;
  while (got < key.size()) {
    auto n = getrandom(key.data() + got, key.size() - got, 0);
    if (n > 0)
      got += static_cast<std::size_t>(n);
  }
  return key;
}

int open_data(const site_endpoint& listen, std::string& why) {
  auto sa = socket_address::of(listen);
  int fd =
    socket(sa.storage.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = "data socket: " + errno_text();
    return -1;
  }
  big_buffers(fd);
  if (bind(fd, sa.get(), sa.length) != 0) {
    why = "cannot bind UDP " + listen.to_string() + ": " + errno_text();
    close(fd);
    return -1;
  }
  return fd;
}

} // namespace castor::relay::sites
