#include "castor/net/socket_options.hpp"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
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

sockaddr_in to_sockaddr(const boost::asio::ip::address_v4& a) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = htonl(a.to_uint());
  return s;
}

caf::error membership(int fd, const multicast_membership& m, bool join) {
  if (!m.group.is_multicast())
    return make_error(errc::invalid_argument, "not a multicast group",
                      m.group.to_string());
  auto idx = resolve_interface(m.interface);
  if (!idx)
    return std::move(idx.error());
  if (m.source_specific()) {
    group_source_req req{};
    req.gsr_interface = *idx;
    auto g = to_sockaddr(m.group);
    auto s = to_sockaddr(m.source);
    std::memcpy(&req.gsr_group, &g, sizeof(g));
    std::memcpy(&req.gsr_source, &s, sizeof(s));
    return join ? set(fd, IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP,
                      "MCAST_JOIN_SOURCE_GROUP", req)
                : set(fd, IPPROTO_IP, MCAST_LEAVE_SOURCE_GROUP,
                      "MCAST_LEAVE_SOURCE_GROUP", req);
  }
  group_req req{};
  req.gr_interface = *idx;
  auto g = to_sockaddr(m.group);
  std::memcpy(&req.gr_group, &g, sizeof(g));
  return join
           ? set(fd, IPPROTO_IP, MCAST_JOIN_GROUP, "MCAST_JOIN_GROUP", req)
           : set(fd, IPPROTO_IP, MCAST_LEAVE_GROUP, "MCAST_LEAVE_GROUP", req);
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

caf::error set_multicast_interface(int fd, unsigned ifindex) {
  ip_mreqn req{};
  req.imr_ifindex = static_cast<int>(ifindex);
  return set(fd, IPPROTO_IP, IP_MULTICAST_IF, "IP_MULTICAST_IF", req);
}

caf::error set_multicast_ttl(int fd, int ttl) {
  if (ttl < 0 || ttl > 255)
    return make_error(errc::invalid_argument, "IP_MULTICAST_TTL", ttl);
  return set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", ttl);
}

caf::error set_multicast_loop(int fd, bool on) {
  return set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP",
                 on ? 1 : 0);
}

caf::error set_multicast_all(int fd, bool on) {
  return set_int(fd, IPPROTO_IP, IP_MULTICAST_ALL, "IP_MULTICAST_ALL",
                 on ? 1 : 0);
}

caf::error set_packet_info(int fd, bool on) {
  return set_int(fd, IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", on ? 1 : 0);
}

caf::error set_tos(int fd, int tos) {
  if (tos < 0 || tos > 255)
    return make_error(errc::invalid_argument, "IP_TOS", tos);
  return set_int(fd, IPPROTO_IP, IP_TOS, "IP_TOS", tos);
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
