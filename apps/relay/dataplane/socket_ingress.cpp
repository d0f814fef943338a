#include "dataplane/socket_ingress.hpp"

#include <cerrno>
#include <cstring>
#include <set>

#include <arpa/inet.h>
#include <unistd.h>

#include "castor/packet/error.hpp"
#include "castor/packet/udp_egress.hpp"

namespace castor::relay {

socket_ingress::socket_ingress(std::string interface, std::size_t batch,
                               std::size_t max_datagram)
    : interface_(std::move(interface)), slot_(max_datagram),
      buffers_(new uint8_t[batch * max_datagram]), msgs_(batch), iovs_(batch),
      names_(batch), controls_(batch) {
  for (std::size_t k = 0; k < batch; ++k) {
    iovs_[k].iov_base = buffers_.get() + k * slot_;
    iovs_[k].iov_len = slot_;
    auto& h = msgs_[k].msg_hdr;
    h = msghdr{};
    h.msg_name = &names_[k];
    h.msg_namelen = sizeof(sockaddr_in);
    h.msg_iov = &iovs_[k];
    h.msg_iovlen = 1;
    h.msg_control = controls_[k].bytes;
    h.msg_controllen = sizeof(datagram_control);
  }
}

socket_ingress::~socket_ingress() {
  for (auto& [key, in] : sockets_)
    ::close(in.fd);
}

uint64_t socket_ingress::kernel_drops() const noexcept {
  uint64_t n = closed_overflows_;
  for (const auto& [key, in] : sockets_)
    n += in.overflows;
  return n;
}

int socket_ingress::open_socket(uint32_t group_be, uint16_t port) {
  const auto what = "UDP ingress socket for " + interface_ + " "
                    + ipv4_text(group_be) + ":" + std::to_string(port);
  const int fd =
    ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw packet::io_error(what, errno);
  const int on = 1;
  // A large buffer rides out the loop's descheduling; FORCE works when
  // privileged, the plain one is clamped to rmem_max otherwise.
  const int buffer = 8 << 20;
  auto fail = [&](const char* step) {
    const int err = errno;
    ::close(fd);
    throw packet::io_error(what + ": " + step, err);
  };
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
    fail("SO_REUSEADDR");
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
    fail("SO_REUSEPORT");
  if (::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on) != 0)
    fail("SO_RXQ_OVFL");
  // Each datagram's TTL and TOS, for ttl = "decrement" and tos =
  // "preserve" (the AF_PACKET ingress reads them from the IP header).
  if (::setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &on, sizeof on) != 0)
    fail("IP_RECVTTL");
  if (::setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &on, sizeof on) != 0)
    fail("IP_RECVTOS");
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface_.c_str(),
                   static_cast<socklen_t>(interface_.size()))
      != 0)
    fail("SO_BINDTODEVICE");
  const auto addr = packet::make_destination(group_be, port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    fail("bind");
  return fd;
}

std::string socket_ingress::ipv4_text(uint32_t be) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{};
  a.s_addr = be;
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

void socket_ingress::set_inputs(
  const std::vector<packet::filter_match>& matches) {
  std::set<std::pair<uint32_t, uint16_t>> wanted;
  for (const auto& m : matches)
    wanted.emplace(m.group_be, m.port);
  for (auto i = sockets_.begin(); i != sockets_.end();) {
    if (wanted.count(i->first) != 0) {
      ++i;
      continue;
    }
    ::close(i->second.fd);
    closed_overflows_ += i->second.overflows;
    i = sockets_.erase(i);
  }
  for (const auto& key : wanted)
    if (sockets_.count(key) == 0)
      sockets_.emplace(key, input{open_socket(key.first, key.second)});
}

void socket_ingress::poll_fds(std::vector<pollfd>& out) const {
  for (const auto& [key, in] : sockets_)
    out.push_back(pollfd{in.fd, POLLIN, 0});
}

} // namespace castor::relay
