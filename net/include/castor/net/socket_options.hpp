#pragma once

// Socket options on a raw descriptor, each failing with a net error that
// names the option and carries errno and its text. Used by open_udp at open
// time and by the socket actor for runtime changes (setopt, join, leave).
// Each multicast option follows the socket's family: on an AF_INET6 socket
// it is the IPv6 one (IP_MULTICAST_IF -> IPV6_MULTICAST_IF,
// IP_MULTICAST_TTL -> IPV6_MULTICAST_HOPS, IP_TOS -> IPV6_TCLASS,
// IP_PKTINFO -> IPV6_RECVPKTINFO, ...), and errors name that one.

#include <cstdint>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <boost/asio/ip/address.hpp>

namespace castor::net {

/// An interface by name or by index. With neither, the kernel picks one
/// from the routing table, which on a multi-homed host is rarely what you
/// want for multicast.
struct interface_ref {
  std::string name;
  unsigned index = 0;

  static interface_ref by_name(std::string n) { return {std::move(n), 0}; }
  static interface_ref by_index(unsigned i) { return {{}, i}; }
  bool empty() const noexcept { return name.empty() && index == 0; }
};

/// Resolves `ref` to an index: the index if given, else if_nametoindex(name),
/// else 0 (let the kernel choose).
caf::expected<unsigned> resolve_interface(const interface_ref& ref);

/// A multicast membership: any-source (source unspecified) or
/// source-specific (IGMPv3 / MLDv2 INCLUDE mode), IPv4 or IPv6: the group
/// says which (an IPv6 group is joined with MLD on an AF_INET6 socket; the
/// source, when given, is of the group's family).
struct multicast_membership {
  boost::asio::ip::address group;
  /// Unspecified (0.0.0.0 or ::): any-source join.
  boost::asio::ip::address source;
  interface_ref interface;

  static multicast_membership any_source(boost::asio::ip::address g,
                                         interface_ref itf = {}) {
    return {g, {}, std::move(itf)};
  }
  static multicast_membership source_specific(boost::asio::ip::address g,
                                              boost::asio::ip::address s,
                                              interface_ref itf = {}) {
    return {g, s, std::move(itf)};
  }
  bool source_specific() const noexcept { return !source.is_unspecified(); }
};

/// Joins `m`. Any-source uses MCAST_JOIN_GROUP, source-specific uses
/// MCAST_JOIN_SOURCE_GROUP: the RFC 3678 forms of IP_ADD_MEMBERSHIP and
/// IP_ADD_SOURCE_MEMBERSHIP that take an interface *index* (ip_mreq_source
/// only takes an interface address, which is ambiguous on a multi-homed
/// host).
caf::error join_group(int fd, const multicast_membership& m);

/// Leaves `m` (MCAST_LEAVE_GROUP / MCAST_LEAVE_SOURCE_GROUP).
caf::error leave_group(int fd, const multicast_membership& m);

/// IP_MULTICAST_IF by interface index (struct ip_mreqn), or
/// IPV6_MULTICAST_IF on an AF_INET6 socket. This, not bind(), decides which
/// interface multicast leaves through.
caf::error set_multicast_interface(int fd, unsigned ifindex);
/// IP_MULTICAST_TTL, or IPV6_MULTICAST_HOPS (the hop limit).
caf::error set_multicast_ttl(int fd, int ttl);
caf::error set_multicast_loop(int fd, bool on);
/// IP_MULTICAST_ALL. On (Linux's default), a socket receives a group's
/// datagrams for its port and address once *any* socket of the host joined
/// that group on the interface they came in on; off, only groups this socket
/// joined itself, on the interfaces it joined them on. See
/// udp_options::multicast_all for when castor turns it off.
caf::error set_multicast_all(int fd, bool on);
/// IP_PKTINFO: each datagram received comes with its destination address
/// and receiving interface (datagram::destination, datagram::ifindex).
caf::error set_packet_info(int fd, bool on);
/// UDP_GRO (Linux 5.0): the kernel may hand this socket a run of datagrams
/// of one size from one sender as one receive, with their size in a
/// control message (udp_options::gro).
caf::error set_udp_gro(int fd, bool on);
/// IP_TOS (DSCP << 2 | ECN), or IPV6_TCLASS (the same byte).
caf::error set_tos(int fd, int tos);

/// IPV6_V6ONLY (AF_INET6 only; set before bind): on, the socket receives
/// IPv6 alone; off, IPv4 too, as IPv4-mapped addresses. Linux's default
/// is net.ipv6.bindv6only (0).
caf::error set_v6only(int fd, bool on);

/// The socket's address family (SO_DOMAIN): AF_INET or AF_INET6.
int socket_family(int fd) noexcept;

caf::error set_reuse_address(int fd, bool on);
caf::error set_reuse_port(int fd, bool on);

/// SO_BINDTODEVICE. Needs CAP_NET_RAW on kernels before 5.7.
caf::error bind_to_device(int fd, const std::string& ifname);

/// SO_RCVBUF to `bytes`; if the kernel clamped it to rmem_max, retries with
/// SO_RCVBUFFORCE, which works when privileged (CAP_NET_ADMIN) and is the
/// only way to get a big buffer inside a network namespace, where rmem_max
/// is read-only. An unprivileged clamp is not an error: the result is the
/// size the kernel reports (it doubles the request for bookkeeping).
caf::expected<int> set_recv_buffer(int fd, int bytes);

/// The same for SO_SNDBUF / SO_SNDBUFFORCE.
caf::expected<int> set_send_buffer(int fd, int bytes);

/// An option to change on an open socket: (setopt_atom, udp_option).
struct udp_option {
  enum class kind : uint8_t {
    recv_buffer,
    send_buffer,
    multicast_interface, ///< value: interface index
    multicast_ttl,
    multicast_loop, ///< value: 0 or 1
    tos,
    read_packets,  ///< datagrams per wake-up, 1..slots of the socket
    multicast_all, ///< value: 0 or 1; no longer changed by a join
    packet_info,   ///< value: 0 or 1; no longer changed by a join
  };
  kind what;
  int value;
};

} // namespace castor::net

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::multicast_membership)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::udp_option)
