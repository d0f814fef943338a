#pragma once

// The seam between the group manager and the kernel. Production uses
// kernel_backend(): real helper sockets, setsockopt joins, rtnetlink. Unit
// tests substitute castor::testkit::fake_membership_backend (installed with
// the test kit) to drive interface changes and kernel refusals
// deterministically. Nothing else should implement it.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <boost/asio/ip/address.hpp>

namespace castor::net {

struct interface_status {
  unsigned index = 0;
  bool up = false;
  bool multicast = false;
};

/// Stops watching when destroyed.
class link_watch {
public:
  virtual ~link_watch() = default;
};

class membership_backend {
public:
  /// IPv4 or IPv6; a source of the group's family, unspecified for
  /// any-source.
  using address = boost::asio::ip::address;

  virtual ~membership_backend() = default;

  /// The interface's index and flags, or nullopt if it does not exist.
  virtual std::optional<interface_status>
  find_interface(const std::string& name) = 0;

  /// The name of interface `index`, or nullopt.
  virtual std::optional<std::string> interface_name(unsigned index) = 0;

  /// Opens a helper socket of `family` (AF_INET: IGMP joins, AF_INET6: MLD
  /// joins) that holds memberships and receives nothing.
  virtual caf::expected<int> open_socket(int family) = 0;

  /// Closes a helper socket; the kernel drops its memberships.
  virtual void close_socket(int socket) = 0;

  /// Joins (source unspecified: any-source) on `socket` at `ifindex`; the
  /// socket is of the group's family.
  virtual caf::error join(int socket, unsigned ifindex, address group,
                          address source) = 0;

  virtual caf::error leave(int socket, unsigned ifindex, address group,
                           address source) = 0;

  /// Groups one socket may join (net.ipv4.igmp_max_memberships; applied
  /// to IPv6 helper sockets too, which Linux does not limit).
  virtual size_t max_groups_per_socket() = 0;

  /// Sources per group and socket (net.ipv4.igmp_max_msf, the lower of it
  /// and net.ipv6.mld_max_msf for both families).
  virtual size_t max_sources_per_group() = 0;

  /// Calls `on_change(interface name)` whenever a link appears, disappears
  /// or changes flags, from any thread, until the result is destroyed.
  virtual std::unique_ptr<link_watch>
  watch_links(std::function<void(const std::string&)> on_change) = 0;
};

/// The real thing: UDP helper sockets (AF_INET and AF_INET6),
/// MCAST_JOIN_(SOURCE_)GROUP, limits read from /proc/sys/net/ipv4 and
/// ipv6, and an rtnetlink (RTMGRP_LINK) watcher thread.
std::unique_ptr<membership_backend> kernel_backend();

} // namespace castor::net
