#include "castor/packet/udp_egress.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/error.hpp"

namespace castor::packet {

namespace {

int send_batch(void* context, mmsghdr* msgs, unsigned count) {
  const int fd = *static_cast<const int*>(context);
  return ::sendmmsg(fd, msgs, count, MSG_DONTWAIT);
}

// The largest UDP payload that fits the interface's MTU unfragmented, or
// 0 if the MTU cannot be read.
std::size_t payload_limit(int fd, unsigned ifindex, bool ipv6) {
  ifreq req{};
  if (::if_indextoname(ifindex, req.ifr_name) == nullptr
      || ::ioctl(fd, SIOCGIFMTU, &req) != 0)
    return 0;
  // IPv4 without options or IPv6 without extension headers, then UDP.
  const int headers = (ipv6 ? 40 : 20) + 8;
  return req.ifr_mtu > headers ? static_cast<std::size_t>(req.ifr_mtu - headers)
                               : 0;
}

void set_option(int fd, int level, int name, const void* value, socklen_t size,
                const char* what) {
  if (::setsockopt(fd, level, name, value, size) != 0)
    throw io_error(std::string("UDP egress: ") + what, errno);
}

} // namespace

sockaddr_in make_destination(uint32_t address_be, uint16_t port) noexcept {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = address_be;
  a.sin_port = htons(port);
  return a;
}

sockaddr_in6 make_destination6(const std::array<uint8_t, 16>& address,
                               uint16_t port, unsigned scope_id) noexcept {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  std::memcpy(&a.sin6_addr, address.data(), address.size());
  a.sin6_port = htons(port);
  a.sin6_scope_id = scope_id;
  return a;
}

std::optional<std::array<uint8_t, 16>>
stable_ipv6_source_in(const std::string& if_inet6, unsigned ifindex) {
  // "20010db8000000000000000000000001 03 40 00 80 eth0": address, index,
  // prefix length, scope, flags (all hex), name.
  constexpr unsigned scope_global = 0x00;
  constexpr unsigned refused = 0x01   /* IFA_F_TEMPORARY */
                               | 0x08 /* IFA_F_DADFAILED */
                               | 0x20 /* IFA_F_DEPRECATED */
                               | 0x40 /* IFA_F_TENTATIVE */;
  constexpr unsigned permanent = 0x80; // IFA_F_PERMANENT
  std::optional<std::array<uint8_t, 16>> best;
  bool best_permanent = false;
  std::istringstream in{if_inet6};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f{line};
    std::string hex, name;
    unsigned index = 0, plen = 0, scope = 0, flags = 0;
    if (!(f >> hex >> std::hex >> index >> plen >> scope >> flags >> name)
        || hex.size() != 32 || index != ifindex || scope != scope_global
        || (flags & refused) != 0)
      continue;
    std::array<uint8_t, 16> a{};
    bool ok = true;
    for (std::size_t i = 0; i < 16 && ok; ++i) {
      char* end = nullptr;
      const auto byte = hex.substr(2 * i, 2);
      a[i] = static_cast<uint8_t>(std::strtoul(byte.c_str(), &end, 16));
      ok = end == byte.c_str() + 2;
    }
    // Global scope includes ULAs (fc00::/7); never the IPv4-mapped or
    // -compatible kinds, which no interface carries anyway.
    if (!ok || a[0] == 0)
      continue;
    const bool is_permanent = (flags & permanent) != 0;
    if (!best || (is_permanent && !best_permanent)
        || (is_permanent == best_permanent && a < *best)) {
      best = a;
      best_permanent = is_permanent;
    }
  }
  return best;
}

std::optional<std::array<uint8_t, 16>> stable_ipv6_source(unsigned ifindex) {
  std::ifstream f{"/proc/net/if_inet6"};
  std::ostringstream text;
  text << f.rdbuf();
  return stable_ipv6_source_in(text.str(), ifindex);
}

udp_egress::udp_egress(const egress_options& o)
    : ring_(o.slots, o.slot_bytes, o.max_outputs, o.max_batch,
            o.payload_bytes) {
  // IPv6: the same options at IPPROTO_IPV6 (udp_egress.hpp).
  const bool v6 = o.ipv6;
  const int ip = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET,
                          SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw io_error("UDP egress: socket", errno);
  try {
    const int on = 1;
    if (v6)
      set_option(fd, ip, IPV6_V6ONLY, &on, sizeof on, "IPV6_V6ONLY");
    if (o.ifindex != 0 && v6) {
      const int index = static_cast<int>(o.ifindex);
      set_option(fd, ip, IPV6_MULTICAST_IF, &index, sizeof index,
                 "IPV6_MULTICAST_IF");
      const uint32_t index_be = htonl(o.ifindex);
      set_option(fd, ip, IPV6_UNICAST_IF, &index_be, sizeof index_be,
                 "IPV6_UNICAST_IF");
    } else if (o.ifindex != 0) {
      ip_mreqn m{};
      m.imr_ifindex = static_cast<int>(o.ifindex);
      set_option(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m,
                 "IP_MULTICAST_IF");
      // IP_UNICAST_IF takes the index in network byte order.
      const uint32_t index_be = htonl(o.ifindex);
      set_option(fd, IPPROTO_IP, IP_UNICAST_IF, &index_be, sizeof index_be,
                 "IP_UNICAST_IF");
    }
    const int ttl = o.ttl;
    set_option(fd, ip, v6 ? IPV6_MULTICAST_HOPS : IP_MULTICAST_TTL, &ttl,
               sizeof ttl, v6 ? "IPV6_MULTICAST_HOPS" : "IP_MULTICAST_TTL");
    const int loop = o.multicast_loop ? 1 : 0;
    set_option(fd, ip, v6 ? IPV6_MULTICAST_LOOP : IP_MULTICAST_LOOP, &loop,
               sizeof loop, v6 ? "IPV6_MULTICAST_LOOP" : "IP_MULTICAST_LOOP");
    const int tos = o.tos;
    set_option(fd, ip, v6 ? IPV6_TCLASS : IP_TOS, &tos, sizeof tos,
               v6 ? "IPV6_TCLASS" : "IP_TOS");
    // The relay forwards datagrams, never fragments (it drops incoming
    // ones): one over the output's MTU is refused and counted (too_big).
    const int probe = v6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
    set_option(fd, ip, v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER, &probe,
               sizeof probe, v6 ? "IPV6_MTU_DISCOVER" : "IP_MTU_DISCOVER");
    // Drops after the socket (queue discipline, device) fail the send with
    // ENOBUFS instead of vanishing: counted as qdisc_drop.
    set_option(fd, ip, v6 ? IPV6_RECVERR : IP_RECVERR, &on, sizeof on,
               v6 ? "IPV6_RECVERR" : "IP_RECVERR");
    const bool has_source6 = v6 && o.source6 != std::array<uint8_t, 16>{};
    if (o.source_port != 0 || has_source6) {
      const int off = 0;
      set_option(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on, "SO_REUSEPORT");
      set_option(fd, ip, v6 ? IPV6_MULTICAST_ALL : IP_MULTICAST_ALL, &off,
                 sizeof off, v6 ? "IPV6_MULTICAST_ALL" : "IP_MULTICAST_ALL");
      const destination local =
        v6 ? destination{make_destination6(o.source6, o.source_port)}
           : destination{make_destination(INADDR_ANY, o.source_port)};
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), local.size())
          != 0) {
        const int err = errno;
        throw io_error("UDP egress: bind to source port "
                         + std::to_string(o.source_port),
                       err,
                       err == EADDRINUSE ? "another program (or user) holds "
                                           "the port"
                                         : "");
      }
    }
    if (o.ip_marks)
      ring_.enable_ip_marks(v6);
    const int size = o.send_buffer;
    // FORCE passes net.core.wmem_max, which a namespace cannot raise; it
    // needs CAP_NET_ADMIN, so fall back to the capped plain option.
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
      set_option(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size, "SO_SNDBUF");
    // Segmentation needs the segment size to fit the output's MTU, so
    // only with a known interface; a kernel without UDP_SEGMENT (< 4.18)
    // refuses the probe (gso_size 0 changes nothing).
    const int no_gso = 0;
    if (o.segmentation && o.ifindex != 0
        && ::setsockopt(fd, IPPROTO_UDP, udp_segment_option, &no_gso,
                        sizeof no_gso)
             == 0)
      if (const auto limit = payload_limit(fd, o.ifindex, v6); limit > 0)
        ring_.enable_segmentation(limit);
  } catch (...) {
    ::close(fd);
    throw;
  }
  fd_ = fd;
}

udp_egress::~udp_egress() {
  if (fd_ >= 0)
    ::close(fd_);
}

const send_batch_fn udp_egress::send_batch_ = &send_batch;

flush_result udp_egress::flush() noexcept {
  return ring_.flush(send_batch_, &fd_);
}

std::size_t udp_egress::drain_errors() noexcept {
  std::size_t n = 0;
  // The entry's data (the offending datagram) and control (the
  // sock_extended_err) are of no use here: the send that failed counted it.
  uint8_t sink[64];
  iovec iov{sink, sizeof sink};
  for (;;) {
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (::recvmsg(fd_, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
      return n;
    ++n;
  }
}

} // namespace castor::packet
