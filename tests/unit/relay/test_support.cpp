#include "test_support.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace castor::relay::test {

rule simple_rule(std::string name, const char* group, uint16_t port) {
  rule r;
  r.name = std::move(name);
  r.input.interface = "eth0";
  r.input.group = *ipv4::parse(group);
  r.input.port = port;
  rule_output out;
  out.interface = "eth1";
  out.address = *ipv4::parse("239.2.2.2");
  out.port = static_cast<uint16_t>(port + 1000);
  r.outputs.push_back(out);
  return r;
}

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
    std::string{base && *base ? base : "/tmp"} + "/castor-relay-test-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed: "
                             + std::string{std::strerror(errno)});
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string temp_dir::write(const std::string& name,
                            const std::string& contents) const {
  auto full = path_ + "/" + name;
  std::filesystem::create_directories(
    std::filesystem::path{full}.parent_path());
  std::ofstream out{full, std::ios::binary};
  out << contents;
  return full;
}

line_client::line_client(const std::string& path, std::chrono::seconds guard) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    return;
  timeval tv{};
  tv.tv_sec = guard.count();
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

line_client::~line_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool line_client::send_raw(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto n =
      ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::string> line_client::read_line() {
  char chunk[4096];
  for (;;) {
    if (auto nl = buf_.find('\n'); nl != std::string::npos) {
      auto line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return std::nullopt;
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

bool line_client::wait_closed() {
  char chunk[65536];
  for (;;) {
    auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0)
      continue;
    if (n == 0)
      return true;
    if (errno == EINTR)
      continue;
    return errno == ECONNRESET || errno == EPIPE;
  }
}

void line_client::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

int run_command(const std::string& command, std::string& output) {
  output.clear();
  auto* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe)
    return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    output.append(buf, n);
  auto status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace castor::relay::test
