#include "castor/net/socket_options.hpp"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "castor/net/errors.hpp"

namespace castor::net {

namespace {

template <class T>
caf::error set(int fd, int level, int name, const char* label, const T& v) {
  if (::setsockopt(fd, level, name, &v, sizeof(v)) != 0)
    return errno_error(errc::socket_option, label, errno);
  return caf::none;
}

caf::error set_int(int fd, int level, int name, const char* label, int v) {
  return set(fd, level, name, label, v);
}

caf::expected<int> get_int(int fd, int level, int name, const char* label) {
  int v = 0;
  socklen_t len = sizeof(v);
  if (::getsockopt(fd, level, name, &v, &len) != 0)
    return errno_error(errc::socket_option, label, errno);
  return v;
}

// The address as a sockaddr_storage of its own family.
sockaddr_storage to_sockaddr(const boost::asio::ip::address& a) {
  sockaddr_storage out{};
  if (a.is_v6()) {
    sockaddr_in6 s{};
    s.sin6_family = AF_INET6;
    const auto b = a.to_v6().to_bytes();
    std::memcpy(&s.sin6_addr, b.data(), b.size());
    std::memcpy(&out, &s, sizeof(s));
  } else {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_addr.s_addr = htonl(a.to_v4().to_uint());
    std::memcpy(&out, &s, sizeof(s));
  }
  return out;
}

caf::error membership(int fd, const multicast_membership& m, bool join) {
  if (!m.group.is_multicast())
    return make_error(errc::invalid_argument, "not a multicast group",
                      m.group.to_string());
  if (m.source_specific() && m.source.is_v6() != m.group.is_v6())
    return make_error(errc::invalid_argument,
                      "source and group of different families",
                      m.source.to_string() + " " + m.group.to_string());
  auto idx = resolve_interface(m.interface);
  if (!idx)
    return std::move(idx.error());
  // The group's family picks the level: IPv6 groups are MLD joins; an
  // IPv4 group on an AF_INET6 socket goes to the IPv4 code, as Linux does
  // for IPPROTO_IP options on a dual-stack socket.
  const int level = m.group.is_v6() ? IPPROTO_IPV6 : IPPROTO_IP;
  if (m.source_specific()) {
    group_source_req req{};
    req.gsr_interface = *idx;
    req.gsr_group = to_sockaddr(m.group);
    req.gsr_source = to_sockaddr(m.source);
    return join ? set(fd, level, MCAST_JOIN_SOURCE_GROUP,
                      "MCAST_JOIN_SOURCE_GROUP", req)
                : set(fd, level, MCAST_LEAVE_SOURCE_GROUP,
                      "MCAST_LEAVE_SOURCE_GROUP", req);
  }
  group_req req{};
  req.gr_interface = *idx;
  req.gr_group = to_sockaddr(m.group);
  return join ? set(fd, level, MCAST_JOIN_GROUP, "MCAST_JOIN_GROUP", req)
              : set(fd, level, MCAST_LEAVE_GROUP, "MCAST_LEAVE_GROUP", req);
}

bool is_v6(int fd) noexcept {
  return socket_family(fd) == AF_INET6;
}

// An on/off option under its IPv4 or IPv6 name, by the socket's family.
caf::error set_flag(int fd, bool on, int v4_name, const char* v4_label,
                    int v6_name, const char* v6_label) {
  return is_v6(fd) ? set_int(fd, IPPROTO_IPV6, v6_name, v6_label, on ? 1 : 0)
                   : set_int(fd, IPPROTO_IP, v4_name, v4_label, on ? 1 : 0);
}

// Sets a buffer size and, if the kernel clamped it to [rw]mem_max, tries the
// FORCE variant. EPERM from FORCE (unprivileged) keeps the clamped size.
caf::expected<int> set_buffer(int fd, int bytes, int name, const char* label,
                              int force_name, const char* force_label) {
  if (bytes <= 0)
    return make_error(errc::invalid_argument, label, bytes);
  if (auto err = set_int(fd, SOL_SOCKET, name, label, bytes))
    return err;
  auto got = get_int(fd, SOL_SOCKET, name, label);
  if (!got)
    return got;
  // Linux doubles the request to account for bookkeeping overhead, so an
  // unclamped request reads back as 2 * bytes.
  if (static_cast<int64_t>(*got) >= 2 * static_cast<int64_t>(bytes))
    return got;
  if (::setsockopt(fd, SOL_SOCKET, force_name, &bytes, sizeof(bytes)) != 0) {
    if (errno == EPERM)
      return got;
    return errno_error(errc::socket_option, force_label, errno);
  }
  return get_int(fd, SOL_SOCKET, name, label);
}

} // namespace

caf::expected<unsigned> resolve_interface(const interface_ref& ref) {
  if (ref.index != 0)
    return ref.index;
  if (ref.name.empty())
    return 0u;
  auto idx = ::if_nametoindex(ref.name.c_str());
  if (idx == 0)
    return errno_error(errc::no_such_interface, ref.name, errno);
  return idx;
}

caf::error join_group(int fd, const multicast_membership& m) {
  return membership(fd, m, true);
}

caf::error leave_group(int fd, const multicast_membership& m) {
  return membership(fd, m, false);
}

int socket_family(int fd) noexcept {
  int family = AF_UNSPEC;
  socklen_t len = sizeof(family);
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0)
    return AF_UNSPEC;
  return family;
}

caf::error set_multicast_interface(int fd, unsigned ifindex) {
  if (is_v6(fd))
    return set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, "IPV6_MULTICAST_IF",
                   static_cast<int>(ifindex));
  ip_mreqn req{};
  req.imr_ifindex = static_cast<int>(ifindex);
  return set(fd, IPPROTO_IP, IP_MULTICAST_IF, "IP_MULTICAST_IF", req);
}

caf::error set_multicast_ttl(int fd, int ttl) {
  const bool v6 = is_v6(fd);
  const char* label = v6 ? "IPV6_MULTICAST_HOPS" : "IP_MULTICAST_TTL";
  if (ttl < 0 || ttl > 255)
    return make_error(errc::invalid_argument, label, ttl);
  return v6 ? set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, label, ttl)
            : set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, label, ttl);
}

caf::error set_multicast_loop(int fd, bool on) {
  return set_flag(fd, on, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP",
                  IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP");
}

caf::error set_multicast_all(int fd, bool on) {
  return set_flag(fd, on, IP_MULTICAST_ALL, "IP_MULTICAST_ALL",
                  IPV6_MULTICAST_ALL, "IPV6_MULTICAST_ALL");
}

caf::error set_packet_info(int fd, bool on) {
  return set_flag(fd, on, IP_PKTINFO, "IP_PKTINFO", IPV6_RECVPKTINFO,
                  "IPV6_RECVPKTINFO");
}

caf::error set_udp_gro(int fd, bool on) {
  return set_int(fd, IPPROTO_UDP, UDP_GRO, "UDP_GRO", on ? 1 : 0);
}

caf::error set_tos(int fd, int tos) {
  const bool v6 = is_v6(fd);
  const char* label = v6 ? "IPV6_TCLASS" : "IP_TOS";
  if (tos < 0 || tos > 255)
    return make_error(errc::invalid_argument, label, tos);
  return v6 ? set_int(fd, IPPROTO_IPV6, IPV6_TCLASS, label, tos)
            : set_int(fd, IPPROTO_IP, IP_TOS, label, tos);
}

caf::error set_v6only(int fd, bool on) {
  return set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", on ? 1 : 0);
}

caf::error set_reuse_address(int fd, bool on) {
  return set_int(fd, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", on ? 1 : 0);
}

caf::error set_reuse_port(int fd, bool on) {
  return set_int(fd, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", on ? 1 : 0);
}

caf::error bind_to_device(int fd, const std::string& ifname) {
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                   static_cast<socklen_t>(ifname.size()))
      != 0)
    return errno_error(errc::socket_option, "SO_BINDTODEVICE " + ifname, errno);
  return caf::none;
}

caf::expected<int> set_recv_buffer(int fd, int bytes) {
  return set_buffer(fd, bytes, SO_RCVBUF, "SO_RCVBUF", SO_RCVBUFFORCE,
                    "SO_RCVBUFFORCE");
}

caf::expected<int> set_send_buffer(int fd, int bytes) {
  return set_buffer(fd, bytes, SO_SNDBUF, "SO_SNDBUF", SO_SNDBUFFORCE,
                    "SO_SNDBUFFORCE");
}

} // namespace castor::net
