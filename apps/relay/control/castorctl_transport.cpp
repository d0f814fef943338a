#include "control/castorctl_transport.hpp"

#include <cerrno>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace castor::relay::castorctl {

namespace {

// The daemon's replies are at most a config dump or a stats table; a larger
// one means something is wrong, not that we should buffer without end.
constexpr size_t max_reply_bytes = 64 * 1024 * 1024;

} // namespace

failure usage(std::string message) {
  return failure{std::move(message), 2};
}

std::string exchange(const std::string& path, const std::string& line,
                     std::chrono::seconds timeout) {
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    throw failure{"socket path " + path + " is too long for a unix socket"};
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw failure{std::string{"cannot create a socket: "}
                  + std::strerror(errno)};
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto err = errno;
    std::string hint = err == EACCES ? " (are you in the socket's group?)"
                                     : " — is castor-relay running?";
    throw failure{"cannot connect to " + path + ": " + std::strerror(err)
                  + hint};
  }
  auto out = line + "\n";
  for (size_t done = 0; done < out.size();) {
    auto n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw failure{"cannot send the request to " + path + ": "
                    + std::strerror(errno)};
    }
    done += static_cast<size_t>(n);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string reply;
  char buf[65536];
  for (;;) {
    if (auto nl = reply.find('\n'); nl != std::string::npos) {
      reply.resize(nl);
      return reply;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      throw failure{"no answer from castor-relay within "
                    + std::to_string(timeout.count()) + " s"};
    pollfd p{fd, POLLIN, 0};
    auto rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR)
      throw failure{std::string{"poll failed: "} + std::strerror(errno)};
    if (rc <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw failure{"cannot read the answer: "
                    + std::string{std::strerror(errno)}};
    }
    if (n == 0)
      throw failure{"castor-relay closed the connection without an answer"};
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > max_reply_bytes)
      throw failure{"the answer exceeds "
                    + std::to_string(max_reply_bytes / (1024 * 1024))
                    + " MiB; giving up"};
  }
}

} // namespace castor::relay::castorctl
