#include "dataplane/source_port.hpp"

#include <cerrno>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/error.hpp"

namespace castor::relay {

namespace {

struct anchor {
  int fd = -1;
  uint16_t port = 0;

  anchor() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      throw packet::io_error("shared source port: socket", errno);
    const int on = 1;
    const int off = 0;
    sockaddr_in local{};
    local.sin_family = AF_INET;
    socklen_t size = sizeof local;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0
        || ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off) != 0
        || ::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local)
             != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) != 0) {
      const int err = errno;
      ::close(fd);
      throw packet::io_error("shared source port: bind", err);
    }
    port = ntohs(local.sin_port);
  }
  // Never closed: the port is the relay's until the process exits.
};

} // namespace

uint16_t shared_source_port() {
  // A static initialised by a call that throws is tried again next time.
  static const anchor a;
  return a.port;
}

} // namespace castor::relay
