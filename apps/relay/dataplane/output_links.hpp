#pragma once

// What a forwarder loop knows of its output interfaces, and how it learns
// that they changed (issue 15: interfaces that come and go).
//
// An egress socket is bound to its interface by index (IP_MULTICAST_IF,
// IP_UNICAST_IF). A tunnel, VPN or VLAN that is deleted and re-created
// comes back under a new index, and the old socket then fails every
// datagram. So each loop keeps an rtnetlink socket (link and IPv4 address
// events) in its poll set; on any event it looks its output interfaces up
// again by name (a few ioctls, only when something changed on the host),
// and when an index differs from the one its table was built with it
// rebuilds the table and opens sockets on the new index. No thread, no
// actor message: the loop that owns the sockets re-resolves them between
// two batches. Where rtnetlink cannot be opened (a seccomp profile that
// forbids it), the loop looks them up once a second instead.
//
// The state of an output interface as `castorctl workers` and `stats` show
// it: up (exists, IFF_UP and IFF_RUNNING), down (exists, but
// administratively down or without carrier), missing (no such interface).
//
// CAF-free, like the rest of the loop's own pieces.

#include <cstdint>
#include <string>

namespace castor::relay {

enum class link_state : uint8_t { up, down, missing };

/// "up", "down", "missing".
const char* to_string(link_state x) noexcept;

struct link_status {
  unsigned ifindex = 0; ///< 0 when missing
  link_state state = link_state::missing;

  friend bool operator==(const link_status& x, const link_status& y) {
    return x.ifindex == y.ifindex && x.state == y.state;
  }
  friend bool operator!=(const link_status& x, const link_status& y) {
    return !(x == y);
  }
};

/// The interface's index and state, now.
link_status probe_link(const std::string& name);

/// An rtnetlink socket subscribed to RTMGRP_LINK and RTMGRP_IPV4_IFADDR.
/// Never throws: when it cannot be opened, fd() is -1 and the owner polls.
class link_events {
public:
  link_events() noexcept;
  ~link_events();
  link_events(const link_events&) = delete;
  link_events& operator=(const link_events&) = delete;

  /// Non-blocking; -1 when unavailable.
  int fd() const noexcept { return fd_; }

  /// Reads everything pending. True if a link or address event was among
  /// it, or if events were lost (ENOBUFS): either way, look again.
  bool drain() noexcept;

private:
  int fd_ = -1;
};

} // namespace castor::relay
