#pragma once

// The sockets of the cross-site data path (site_engine.hpp): addresses of
// either family, the data socket, an export's joined socket, an import
// output's emitting socket, and the random keys. Plain POSIX.

#include <string>

#include "sites/site_model.hpp"
#include <netinet/in.h>
#include <sys/socket.h>

namespace castor::relay::sites {

/// An IPv4 or IPv6 address and port as the kernel takes them.
struct socket_address {
  sockaddr_storage storage{};
  socklen_t length = 0;

  static socket_address of(const site_endpoint& ep);
  /// `host`:`port`; `scope` is the interface index of a link-local
  /// unicast IPv6 address (fe80::/10), else unused.
  static socket_address of(const ip_addr& host, uint16_t port,
                           unsigned scope = 0);
  /// The address recvfrom or recvmmsg filled in (IPv4 or IPv6).
  static socket_address of(const sockaddr_storage& from);
  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  /// Same family, address and port as `from` (as recvfrom fills it).
  bool same(const sockaddr_storage& from) const;
};

/// Whether a datagram received `from` (recvmmsg's address) was sent by
/// `source`: an export's source filter, for either family.
bool sent_by(const sockaddr_storage& from, const ip_addr& source);

std::string errno_text();

/// The data socket, bound on [node] listen; -1 and `why` on failure.
int open_data(const site_endpoint& listen, std::string& why);

/// A socket joined to an export's group on its input interface (an IGMP
/// or MLD join, source-specific with input.source); -1 and `why` on
/// failure.
int open_export(const site_export& e, std::string& why);

/// The socket an export hands castor::bus NAKs to its publishers from
/// (site_loop_bus.cpp): of the group's family, on an ephemeral port, so
/// that what a publisher answers by unicast comes back to it; -1 and `why`
/// on failure.
int open_repair(const site_export& e, std::string& why);

/// A socket that emits an import's output; never loops back to this host,
/// so a local export of the same group cannot send it on to peers. An
/// IPv6 output's socket sends from a stable global or unique-local address
/// of its interface (as the relay's local outputs do, docs/ipv6.md), or,
/// on an interface without one, from the kernel's choice.
int open_output(const rule_output& o, std::string& why);

/// Where an import's output `o` emits to.
socket_address output_destination(const rule_output& o);

/// The MTU of `interface` (asked through any socket `fd`); 0 if unknown.
int interface_mtu(int fd, const std::string& interface);

/// 32 random bytes.
std::string random_key();

} // namespace castor::relay::sites
