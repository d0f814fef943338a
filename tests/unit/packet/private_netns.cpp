#include "private_netns.hpp"

#include <cerrno>
#include <cstring>

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace castor::packet::test {

namespace {

constexpr int exit_skip = 77;

std::string loopback_up(int mtu) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return std::string("socket: ") + std::strerror(errno);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  std::string err;
  if (mtu > 0) {
    req.ifr_mtu = mtu;
    if (::ioctl(fd, SIOCSIFMTU, &req) != 0)
      err = std::string("SIOCSIFMTU lo: ") + std::strerror(errno);
  }
  if (err.empty() && ::ioctl(fd, SIOCGIFFLAGS, &req) != 0)
    err = std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
  if (err.empty() && ::ioctl(fd, SIOCSIFFLAGS, &req) != 0)
    err = std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
  ::close(fd);
  return err;
}

} // namespace

netns_outcome in_private_netns(const std::function<std::string()>& body,
                               int lo_mtu) {
  int pipefd[2];
  if (::pipe(pipefd) != 0)
    return {false, std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = ::fork();
  if (pid < 0)
    return {false, std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    ::close(pipefd[0]);
    if (::unshare(CLONE_NEWNET) != 0)
      ::_exit(exit_skip);
    std::string failure = loopback_up(lo_mtu);
    if (failure.empty()) {
      try {
        failure = body();
      } catch (const std::exception& e) {
        failure = std::string("exception: ") + e.what();
      }
    }
    std::size_t off = 0;
    while (off < failure.size()) {
      auto n = ::write(pipefd[1], failure.data() + off, failure.size() - off);
      if (n <= 0)
        break;
      off += static_cast<std::size_t>(n);
    }
    ::_exit(0); // no atexit handlers or gtest teardown in the child
  }
  ::close(pipefd[1]);
  std::string failure;
  char buf[512];
  for (;;) {
    auto n = ::read(pipefd[0], buf, sizeof buf);
    if (n <= 0)
      break;
    failure.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == exit_skip)
    return {true, {}};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return {false,
            "child died (status " + std::to_string(status) + ") " + failure};
  return {false, failure};
}

} // namespace castor::packet::test
