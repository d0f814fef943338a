#include "socket_util.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::tools {

void throw_errno(const std::string& context) {
  throw std::runtime_error(context + ": " + std::strerror(errno));
}

unsigned interface_index(const std::string& name) {
  // A number is an index already: check that it names an interface.
  if (!name.empty() && name.size() < 10
      && name.find_first_not_of("0123456789") == std::string::npos) {
    auto index = static_cast<unsigned>(std::stoul(name));
    char buf[IF_NAMESIZE] = {};
    if (index == 0 || ::if_indextoname(index, buf) == nullptr)
      throw_errno("interface index " + name);
    return index;
  }
  auto index = ::if_nametoindex(name.c_str());
  if (index == 0)
    throw_errno("interface '" + name + "'");
  return index;
}

int set_socket_buffer(int fd, bool receive, int bytes) {
  int forced = receive ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
  int plain = receive ? SO_RCVBUF : SO_SNDBUF;
  if (::setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof(bytes)) != 0
      && ::setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes)) != 0)
    throw_errno(receive ? "SO_RCVBUF" : "SO_SNDBUF");
  int actual = 0;
  socklen_t len = sizeof(actual);
  ::getsockopt(fd, SOL_SOCKET, plain, &actual, &len);
  return actual;
}

fd_guard::~fd_guard() {
  if (fd_ >= 0)
    ::close(fd_);
}

} // namespace castor::tools
