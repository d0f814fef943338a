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
    h.msg_namelen = sizeof(sockaddr_in6);
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

int socket_ingress::open_socket(const input_key& key) {
  char text[INET6_ADDRSTRLEN];
  ::inet_ntop(key.v6 ? AF_INET6 : AF_INET, key.group.data(), text, sizeof text);
  const auto what = "UDP ingress socket for " + interface_ + " "
                    + (key.v6 ? "[" + std::string{text} + "]" : text) + ":"
                    + std::to_string(key.port);
  const int fd = ::socket(key.v6 ? AF_INET6 : AF_INET,
                          SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
  if (key.v6) {
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0)
      fail("IPV6_V6ONLY");
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on) != 0)
      fail("IPV6_RECVHOPLIMIT");
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on) != 0)
      fail("IPV6_RECVTCLASS");
  } else {
    if (::setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &on, sizeof on) != 0)
      fail("IP_RECVTTL");
    if (::setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &on, sizeof on) != 0)
      fail("IP_RECVTOS");
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface_.c_str(),
                   static_cast<socklen_t>(interface_.size()))
      != 0)
    fail("SO_BINDTODEVICE");
  uint32_t group_be = 0;
  std::memcpy(&group_be, key.group.data(), sizeof group_be);
  const packet::destination addr =
    key.v6 ? packet::destination{packet::make_destination6(key.group, key.port)}
           : packet::destination{packet::make_destination(group_be, key.port)};
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), addr.size()) != 0)
    fail("bind");
  return fd;
}

void socket_ingress::set_inputs(
  const std::vector<packet::filter_match>& matches,
  const std::vector<packet::filter_match6>& matches6) {
  std::set<input_key> wanted;
  for (const auto& m : matches) {
    input_key k;
    std::memcpy(k.group.data(), &m.group_be, sizeof m.group_be);
    k.port = m.port;
    wanted.insert(k);
  }
  for (const auto& m : matches6)
    wanted.insert(input_key{true, m.group, m.port});
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
      sockets_.emplace(key, input{open_socket(key)});
}

void socket_ingress::poll_fds(std::vector<pollfd>& out) const {
  for (const auto& [key, in] : sockets_)
    out.push_back(pollfd{in.fd, POLLIN, 0});
}

} // namespace castor::relay
