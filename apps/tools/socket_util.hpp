#pragma once

// The few socket chores both tools share. Errors are thrown as
// std::runtime_error naming the call and the system's reason; the tools
// print it and exit 3.

#include <cstdint>
#include <string>

namespace castor::tools {

/// Throws "<context>: <strerror(errno)>".
[[noreturn]] void throw_errno(const std::string& context);

/// The index of a network interface given by name or by index ("3");
/// throws if there is none.
unsigned interface_index(const std::string& name);

/// The interface the routing table picks for IPv4 `address` (host byte
/// order), which the kernel uses when no interface is given; "" when there
/// is no route.
std::string route_interface(uint32_t address);

/// What the tools print about the interface they use: `given` itself, or
/// the route's choice for `address` with a warning that it may be the
/// wrong one (issue 14: a receiver on the default route's interface hears
/// nothing and does not say why).
std::string interface_note(const std::string& given, uint32_t address);

/// Sets SO_RCVBUF or SO_SNDBUF to `bytes`: first the *FORCE variant, which
/// ignores net.core.rmem_max/wmem_max (read-only inside a network namespace)
/// but needs CAP_NET_ADMIN, then the plain one, which the kernel caps.
/// Returns the size the kernel reports afterwards.
int set_socket_buffer(int fd, bool receive, int bytes);

/// Closes a file descriptor when it goes out of scope.
class fd_guard {
public:
  explicit fd_guard(int fd = -1) noexcept : fd_(fd) {}
  ~fd_guard();
  fd_guard(fd_guard&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  fd_guard& operator=(fd_guard&&) = delete;
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const noexcept { return fd_; }
  /// Gives up ownership: the caller closes it.
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

private:
  int fd_;
};

} // namespace castor::tools
