#include "dataplane/output_links.hpp"

#include <cerrno>
#include <cstring>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::relay {

const char* to_string(link_state x) noexcept {
  switch (x) {
  case link_state::up:
    return "up";
  case link_state::down:
    return "down";
  case link_state::missing:
    break;
  }
  return "missing";
}

link_status probe_link(const std::string& name) {
  link_status out;
  ifreq req{};
  if (name.empty() || name.size() >= sizeof req.ifr_name)
    return out;
  out.ifindex = ::if_nametoindex(name.c_str());
  if (out.ifindex == 0)
    return out;
  out.state = link_state::down;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return out;
  std::memcpy(req.ifr_name, name.data(), name.size());
  if (::ioctl(fd, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP) != 0
      && (req.ifr_flags & IFF_RUNNING) != 0)
    out.state = link_state::up;
  ::close(fd);
  return out;
}

link_events::link_events() noexcept {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          NETLINK_ROUTE);
  if (fd < 0)
    return;
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  // IPv6 address events too: an IPv6 egress binds to a global or ULA
  // address of its interface (udp_egress.hpp), which may come after it.
  addr.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return;
  }
  fd_ = fd;
}

link_events::~link_events() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool link_events::drain() noexcept {
  if (fd_ < 0)
    return false;
  bool changed = false;
  alignas(nlmsghdr) char buf[8192];
  for (;;) {
    const auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == ENOBUFS) { // the kernel dropped events: look again
        changed = true;
        continue;
      }
      return changed; // EAGAIN: all read
    }
    auto len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len))
      switch (h->nlmsg_type) {
      case RTM_NEWLINK:
      case RTM_DELLINK:
      case RTM_NEWADDR:
      case RTM_DELADDR:
        changed = true;
        break;
      default:
        break;
      }
  }
}

} // namespace castor::relay
