#pragma once

// Helpers shared by the net test TUs: a plain POSIX UDP peer on loopback
// that the tests drive by hand, independent of the code under test.

#include <optional>
#include <stdexcept>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/net/udp_batch.hpp"

namespace net_test {

/// A blocking-free UDP socket bound to 127.0.0.1 on a free port.
class raw_udp {
public:
  raw_udp() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd_ < 0)
      throw std::runtime_error("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
      throw std::runtime_error("bind");
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~raw_udp() { ::close(fd_); }
  raw_udp(const raw_udp&) = delete;
  raw_udp& operator=(const raw_udp&) = delete;

  castor::net::udp_endpoint endpoint() const {
    return {boost::asio::ip::address_v4::loopback(), port_};
  }

  /// Loopback delivery happens inside sendto, so the datagram is queued at
  /// the receiver when this returns.
  bool send_to(const castor::net::udp_endpoint& to, const std::string& s) {
    return ::sendto(fd_, s.data(), s.size(), 0, to.data(), to.size())
           == static_cast<ssize_t>(s.size());
  }

  /// Multicast leaves through interface `ifindex` (IP_MULTICAST_IF); with
  /// the loopback's index, a group joined on `lo` by a local socket gets it.
  bool set_multicast_if(unsigned ifindex) {
    ip_mreqn req{};
    req.imr_ifindex = static_cast<int>(ifindex);
    return ::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof(req))
           == 0;
  }

  std::optional<std::string> recv() {
    char buf[65536];
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0)
      return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

/// Whether something else holds `port` on 127.0.0.1 (bind fails).
inline bool port_in_use(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool busy = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0;
  ::close(fd);
  return busy;
}

} // namespace net_test
