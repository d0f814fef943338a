#pragma once

// Internal to castor::packet (ingress_socket.cpp): not installed.
//
// PACKET_FANOUT group membership with ids that are unique per process and
// interface (see ingress_socket.hpp for the reasoning). Split out of the
// socket because it holds the one piece of process-wide state.

#include <cstdint>
#include <optional>

namespace castor::packet {

struct fanout_settings {
  unsigned ifindex = 0;
  bool defrag = false;
  /// Join exactly this id (no fallback) instead of the process's group.
  std::optional<uint16_t> id;
  /// The socket's ethertype (host order): a fanout group takes sockets of
  /// one protocol only, so IPv4 and IPv6 sockets of an interface are in
  /// groups of their own.
  uint16_t protocol = 0x0800;
};

/// Puts the bound AF_PACKET socket `fd` into a PACKET_FANOUT_HASH group and
/// returns the group id. Without an explicit id: joins the id this process
/// already uses for (ifindex, defrag), or asks the kernel for a fresh one
/// when there is none or it has been taken meanwhile. Thread-safe. Throws
/// io_error.
uint16_t join_fanout(int fd, const fanout_settings& settings);

} // namespace castor::packet
