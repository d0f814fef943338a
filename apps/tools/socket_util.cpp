#include "socket_util.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
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

std::string route_interface(uint32_t address) {
  // A connected UDP socket sends nothing, but its local address is the one
  // of the interface the route lookup chose.
  fd_guard fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (fd.get() < 0)
    return "";
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(address);
  to.sin_port = htons(9);
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0
      || ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len)
           != 0)
    return "";
  std::string name;
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0)
    return "";
  for (auto* a = all; a != nullptr && name.empty(); a = a->ifa_next)
    if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET
        && reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr
             == local.sin_addr.s_addr)
      name = a->ifa_name;
  ::freeifaddrs(all);
  return name;
}

std::string interface_note(const std::string& given, uint32_t address) {
  if (!given.empty())
    return "interface " + given;
  auto chosen = route_interface(address);
  return "interface " + (chosen.empty() ? std::string{"unknown"} : chosen)
         + ", chosen by the route (no -i); it may be the wrong one: give -i "
           "IF";
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
