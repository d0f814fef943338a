#include "sites/site_sockets.hpp"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "castor/packet/udp_egress.hpp"

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

socket_address socket_address::of(const sockaddr_storage& from) {
  socket_address out;
  out.storage = from;
  out.length = static_cast<socklen_t>(
    from.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
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

socket_address socket_address::of(const ip_addr& host, uint16_t port,
                                  unsigned scope) {
  site_endpoint ep;
  ep.v6 = host.v6;
  ep.addr = host.bytes;
  ep.port = port;
  auto out = of(ep);
  if (host.is_link_local_unicast6())
    reinterpret_cast<sockaddr_in6&>(out.storage).sin6_scope_id = scope;
  return out;
}

bool sent_by(const sockaddr_storage& from, const ip_addr& source) {
  if (from.ss_family == AF_INET6)
    return source.v6
           && std::memcmp(
                &reinterpret_cast<const sockaddr_in6&>(from).sin6_addr,
                source.bytes.data(), 16)
                == 0;
  return from.ss_family == AF_INET && !source.v6
         && reinterpret_cast<const sockaddr_in&>(from).sin_addr.s_addr
              == source.v4_be();
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

/// A non-blocking UDP socket (IPv6 if `v6`) for `interface`, whose index goes
/// to `ifindex`; -1 and `why` on failure. An IPv6 one takes IPv6 only.
int udp_socket_on(const std::string& interface, bool v6, unsigned& ifindex,
                  std::string& why) {
  ifindex = if_nametoindex(interface.c_str());
  if (ifindex == 0) {
    why = "no interface " + interface;
    return -1;
  }
  int fd = socket(v6 ? AF_INET6 : AF_INET,
                  SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = errno_text();
    return -1;
  }
  int one = 1;
  if (v6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  return fd;
}

/// Joins `group` (from `source` if given) on `ifindex`: MCAST_JOIN_GROUP
/// and MCAST_JOIN_SOURCE_GROUP take either family (IGMP or MLD).
bool join(int fd, unsigned ifindex, const ip_addr& group,
          const std::optional<ip_addr>& source) {
  auto level = group.v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  auto g = socket_address::of(group, 0);
  if (source) {
    group_source_req req{};
    req.gsr_interface = ifindex;
    auto s = socket_address::of(*source, 0);
    std::memcpy(&req.gsr_group, &g.storage, g.length);
    std::memcpy(&req.gsr_source, &s.storage, s.length);
    return setsockopt(fd, level, MCAST_JOIN_SOURCE_GROUP, &req, sizeof(req))
           == 0;
  }
  group_req req{};
  req.gr_interface = ifindex;
  std::memcpy(&req.gr_group, &g.storage, g.length);
  return setsockopt(fd, level, MCAST_JOIN_GROUP, &req, sizeof(req)) == 0;
}

} // namespace

int open_export(const site_export& e, std::string& why) {
  const auto& in = e.input;
  const bool v6 = in.group.v6;
  unsigned ifindex = 0;
  int fd = udp_socket_on(in.interface, v6, ifindex, why);
  if (fd < 0)
    return -1;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  // Only the groups this socket joined, though others on the host join
  // the same group and port.
  if (v6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof(zero));
  else
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  big_buffers(fd);
  auto sa = socket_address::of(in.group, in.port);
  if (bind(fd, sa.get(), sa.length) != 0)
    why = "bind: " + errno_text();
  else if (!join(fd, ifindex, in.group, in.source))
    why = std::string{in.group.v6 ? "MLD" : "IGMP"} + " join: " + errno_text();
  else
    return fd;
  close(fd);
  return -1;
}

int open_repair(const site_export& e, std::string& why) {
  unsigned ifindex = 0;
  int fd = udp_socket_on(e.input.interface, e.input.group.v6, ifindex, why);
  if (fd >= 0)
    big_buffers(fd);
  return fd;
}

int open_output(const rule_output& o, std::string& why) {
  const bool v6 = o.address.v6;
  unsigned ifindex = 0;
  int fd = udp_socket_on(o.interface, v6, ifindex, why);
  if (fd < 0)
    return -1;
  int one = 1, zero = 0;
  int ttl = o.ttl_decrement ? 1 : o.ttl;
  int tos = o.tos_preserve ? 0 : o.tos;
  if (v6) {
    // The same options at IPPROTO_IPV6: the hop limit for the TTL, the
    // traffic class for the TOS.
    int index = static_cast<int>(ifindex);
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof(index));
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl));
    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
    setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof(zero));
  } else {
    ip_mreqn req{};
    req.imr_ifindex = static_cast<int>(ifindex);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof(req));
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
    setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
    setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof(zero));
  }
  big_buffers(fd);
  // IPv6: a stable source, never a link-local or temporary one the kernel
  // might pick, so that receivers' source-specific joins keep matching.
  ip_addr local = v6 ? ip_addr::from_v6({}) : ip_addr{};
  if (v6)
    if (auto stable = packet::stable_ipv6_source(ifindex))
      local = ip_addr::from_v6(*stable);
  if (o.source_port != 0 || !local.is_unspecified()) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    auto sa = socket_address::of(local, o.source_port);
    if (bind(fd, sa.get(), sa.length) != 0) {
      why = "bind " + local.to_string() + " port "
            + std::to_string(o.source_port) + ": " + errno_text();
      close(fd);
      return -1;
    }
  }
  return fd;
}

socket_address output_destination(const rule_output& o) {
  return socket_address::of(o.address, o.port,
                            if_nametoindex(o.interface.c_str()));
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
