// The production membership backend: helper UDP sockets that hold
// memberships and never receive (they are never bound, so no datagram is
// queued on them), joins by interface index, limits from /proc, and an
// rtnetlink watcher thread for link changes.

#include <algorithm>
#include <fstream>
#include <thread>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/net/errors.hpp"
#include "castor/net/membership_backend.hpp"
#include "castor/net/socket_options.hpp"

namespace castor::net {

namespace {

size_t read_sysctl(const char* path, size_t fallback) {
  std::ifstream in{path};
  size_t value = 0;
  if (in >> value && value > 0)
    return value;
  return fallback;
}

// Reads RTM_NEWLINK/RTM_DELLINK on a thread of its own and reports the
// interface names; stops through an eventfd when destroyed.
class netlink_watch : public link_watch {
public:
  explicit netlink_watch(std::function<void(const std::string&)> on_change)
      : on_change_(std::move(on_change)) {
    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    stop_ = ::eventfd(0, EFD_CLOEXEC);
    if (fd_ < 0 || stop_ < 0) {
      spdlog::error("group manager: cannot watch links: {}",
                    std::strerror(errno));
      return;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = RTMGRP_LINK;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      spdlog::error("group manager: cannot bind rtnetlink: {}",
                    std::strerror(errno));
      return;
    }
    thread_ = std::thread{[this] { run(); }};
  }

  ~netlink_watch() override {
    if (thread_.joinable()) {
      uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(stop_, &one, sizeof(one));
      thread_.join();
    }
    if (fd_ >= 0)
      ::close(fd_);
    if (stop_ >= 0)
      ::close(stop_);
  }

private:
  void run() {
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        return;
      }
      if (fds[1].revents != 0)
        return;
      auto n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == ENOBUFS)
          on_change_(""); // events were lost: re-check everything
        continue;
      }
      auto len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len);
           h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
          continue;
        auto* info = static_cast<ifinfomsg*>(NLMSG_DATA(h));
        auto attr_len = static_cast<int>(IFLA_PAYLOAD(h));
        for (auto* a = IFLA_RTA(info); RTA_OK(a, attr_len);
             a = RTA_NEXT(a, attr_len))
          if (a->rta_type == IFLA_IFNAME)
            on_change_(static_cast<const char*>(RTA_DATA(a)));
      }
    }
  }

  std::function<void(const std::string&)> on_change_;
  int fd_ = -1;
  int stop_ = -1;
  std::thread thread_;
};

class kernel_membership_backend : public membership_backend {
public:
  std::optional<interface_status>
  find_interface(const std::string& name) override {
    auto index = ::if_nametoindex(name.c_str());
    if (index == 0 || name.size() >= IFNAMSIZ)
      return std::nullopt;
    interface_status out;
    out.index = index;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return out;
    ifreq req{};
    std::memcpy(req.ifr_name, name.data(), name.size());
    if (::ioctl(fd, SIOCGIFFLAGS, &req) == 0) {
      out.up = (req.ifr_flags & IFF_UP) != 0;
      out.multicast = (req.ifr_flags & IFF_MULTICAST) != 0;
    }
    ::close(fd);
    return out;
  }

  std::optional<std::string> interface_name(unsigned index) override {
    char buf[IF_NAMESIZE] = {};
    if (::if_indextoname(index, buf) == nullptr)
      return std::nullopt;
    return std::string{buf};
  }

  caf::expected<int> open_socket(int family) override {
    int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      const int err = errno;
      std::string what = family == AF_INET6 ? "socket(AF_INET6, SOCK_DGRAM)"
                                            : "socket(AF_INET, SOCK_DGRAM)";
      // Every igmp_max_memberships groups of an interface take one more
      // socket: name the limit that ran out and what it takes.
      if (err == EMFILE) {
        rlimit lim{};
        ::getrlimit(RLIMIT_NOFILE, &lim);
        what += " for one more " + std::to_string(max_groups_per_socket())
                + " groups: the process open-file limit (RLIMIT_NOFILE, "
                  "systemd LimitNOFILE=) of "
                + std::to_string(lim.rlim_cur) + " is reached; raise it";
      }
      return errno_error(errc::open_failed, what, err);
    }
    return fd;
  }

  void close_socket(int socket) override { ::close(socket); }

  caf::error join(int socket, unsigned ifindex, address group,
                  address source) override {
    return join_group(socket, membership(ifindex, group, source));
  }

  caf::error leave(int socket, unsigned ifindex, address group,
                   address source) override {
    return leave_group(socket, membership(ifindex, group, source));
  }

  size_t max_groups_per_socket() override {
    return read_sysctl("/proc/sys/net/ipv4/igmp_max_memberships", 20);
  }

  size_t max_sources_per_group() override {
    // One limit for both families' helper sockets: the lower.
    return std::min(read_sysctl("/proc/sys/net/ipv4/igmp_max_msf", 10),
                    read_sysctl("/proc/sys/net/ipv6/mld_max_msf", 64));
  }

  std::unique_ptr<link_watch>
  watch_links(std::function<void(const std::string&)> on_change) override {
    return std::make_unique<netlink_watch>(std::move(on_change));
  }

private:
  static multicast_membership membership(unsigned ifindex, address group,
                                         address source) {
    return {group, source, interface_ref::by_index(ifindex)};
  }
};

} // namespace

std::unique_ptr<membership_backend> kernel_backend() {
  return std::make_unique<kernel_membership_backend>();
}

} // namespace castor::net
