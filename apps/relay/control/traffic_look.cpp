#include "control/traffic_look.hpp"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::relay::control {

std::map<std::string, uint64_t>
look_for_traffic(const std::string& group, uint16_t port,
                 const std::set<std::string>& skip,
                 std::chrono::milliseconds duration) {
  std::map<std::string, uint64_t> seen;
  in_addr grp{};
  if (::inet_pton(AF_INET, group.c_str(), &grp) != 1)
    return seen;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return seen;
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  int one = 1;
  int zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
  // Only the groups this socket joins, not every group of the host.
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr = grp; // bound to the group: no unicast to the port
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return seen;
  // Every other interface that is up and can do multicast.
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0)
    return seen;
  std::set<std::string> joined;
  for (auto* a = all; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr || skip.count(a->ifa_name)
        || joined.count(a->ifa_name) || !(a->ifa_flags & IFF_UP)
        || !(a->ifa_flags & IFF_MULTICAST))
      continue;
    ip_mreqn m{};
    m.imr_multiaddr = grp;
    m.imr_ifindex = static_cast<int>(::if_nametoindex(a->ifa_name));
    if (m.imr_ifindex != 0
        && ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) == 0)
      joined.insert(a->ifa_name);
  }
  ::freeifaddrs(all);
  if (joined.empty())
    return seen;
  const auto deadline = std::chrono::steady_clock::now() + duration;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    for (;;) {
      char buf[2048];
      alignas(cmsghdr) char control[256];
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      if (::recvmsg(fd, &msg, 0) < 0)
        break;
      for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO)
          continue;
        in_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof(info));
        char name[IF_NAMESIZE] = {};
        if (::if_indextoname(static_cast<unsigned>(info.ipi_ifindex), name)
            && !skip.count(name))
          ++seen[name];
      }
    }
  }
  return seen;
}

} // namespace castor::relay::control
