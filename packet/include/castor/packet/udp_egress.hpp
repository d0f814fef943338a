#pragma once

// One output socket of the relay with its send queue. A forwarder keeps one
// per (output interface, TTL, TOS, source port): those are socket options,
// so outputs that agree on them share a socket and a ring, and each output
// keeps its own counters in the ring (see send_ring.hpp). With ip_marks,
// the TTL and TOS come with each datagram instead.
//
// Socket setup, and why:
//   IP_MULTICAST_IF (ip_mreqn by ifindex)  multicast leaves by the ruled
//                                          interface, not the routing table
//   IP_UNICAST_IF                          the same for unicast outputs
//   IP_MULTICAST_TTL                       the rule's TTL
//   IP_MULTICAST_LOOP 0                    our output must not come back to
//                                          this host's sockets (loops)
//   IP_TOS                                 the rule's TOS
//   SO_SNDBUFFORCE (fallback SO_SNDBUF)    a small default buffer is what
//                                          made other relays' egress slow
//   SOCK_NONBLOCK                          a full buffer is EAGAIN, never a
//                                          stalled forwarder
//   IP_MTU_DISCOVER IP_PMTUDISC_PROBE      never fragment: a datagram larger
//                                          than the interface's MTU fails
//                                          with EMSGSIZE and counts as
//                                          too_big (DF as before; path MTU
//                                          ignored, so unicast outputs
//                                          behave as multicast ones)
//   IP_RECVERR                             a datagram the queue discipline
//                                          or device drops fails with
//                                          ENOBUFS (counted: qdisc_drop);
//                                          without it the kernel reports
//                                          success and the drop is lost.
//                                          Its price: errors are also
//                                          queued on the socket's error
//                                          queue (drain_errors()), and an
//                                          ICMP error for a unicast output
//                                          fails the next send once (the
//                                          ring sends that datagram again)
//   SO_REUSEPORT + bind(source_port)       when a source port is given:
//                                          every worker's socket of an
//                                          output sends from that one port
//                                          (docs/relay.md, "Packet
//                                          identity"); IP_MULTICAST_ALL 0 so
//                                          that the bound socket takes in no
//                                          group traffic it never reads
//   UDP_SEGMENT (probe only)               runs of equal-size datagrams to
//                                          one destination leave as one
//                                          GSO message (send_ring.hpp),
//                                          when the interface is known:
//                                          segments must fit its MTU
//
// IPv6 (egress_options::ipv6): an AF_INET6 socket (IPV6_V6ONLY) with the
// counterparts IPV6_MULTICAST_IF (by index), IPV6_UNICAST_IF,
// IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP 0, IPV6_TCLASS, IPV6_MTU_DISCOVER
// IPV6_PMTUDISC_PROBE (routers never fragment in IPv6: a datagram over the
// output's MTU fails with EMSGSIZE and counts as too_big), IPV6_RECVERR,
// IPV6_MULTICAST_ALL 0; it is bound to `source6`, a stable global or ULA
// address of the output interface (stable_ipv6_source()), so that the
// kernel never picks a link-local or temporary one; UDP GSO as for IPv4,
// with 48 bytes of headers per segment.
//
// Not thread-safe: one owner uses it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <netinet/in.h>

#include "castor/packet/send_ring.hpp"

namespace castor::packet {

struct egress_options {
  unsigned ifindex = 0; ///< 0: leave interface choice to routing
  uint8_t ttl = 1;
  uint8_t tos = 0;
  bool multicast_loop = false;
  int send_buffer = 4 << 20;
  std::size_t slots = 1024;
  std::size_t slot_bytes = 2048; ///< the largest payload
  /// Payload bytes the ring holds (send_ring); 0: slots x slot_bytes.
  std::size_t payload_bytes = 0;
  std::size_t max_outputs = 64;
  std::size_t max_batch = 256; ///< messages per sendmmsg call
  /// Join runs into UDP GSO messages where the kernel can (see above).
  bool segmentation = true;
  /// Per-datagram TTL and TOS (send_ring::enable_ip_marks), for outputs
  /// that decrement the TTL or preserve the TOS.
  bool ip_marks = false;
  /// Bind to this UDP source port, shared (SO_REUSEPORT) with the relay's
  /// other sockets of it; 0: the kernel picks one at the first send.
  uint16_t source_port = 0;
  /// An AF_INET6 socket, for IPv6 destinations (see above).
  bool ipv6 = false;
  /// IPv6: the source address to bind; all zero: the kernel's choice.
  std::array<uint8_t, 16> source6{};
};

class udp_egress {
public:
  /// Opens and configures the socket and allocates the ring. Throws
  /// io_error naming the option that failed.
  explicit udp_egress(const egress_options& options);
  ~udp_egress();
  udp_egress(const udp_egress&) = delete;
  udp_egress& operator=(const udp_egress&) = delete;

  /// For waiting on writability after a blocked flush.
  int fd() const noexcept { return fd_; }

  /// Copies the payload into the queue; a full queue is sent first, and
  /// only a kernel that pushes back (EAGAIN) drops it (see
  /// send_ring::enqueue).
  bool enqueue(uint32_t output, const destination& dest, const uint8_t* data,
               std::size_t size, ip_marks marks = {}) noexcept {
    return ring_.enqueue(output, dest, data, size, send_batch_, &fd_, marks);
  }

  /// sendmmsg of everything queued, in batches; see send_ring::flush.
  flush_result flush() noexcept;

  /// Empties the socket's error queue (IP_RECVERR queues an entry per
  /// refused datagram and per ICMP error), which poll() reports as
  /// POLLERR; the errors are counted where the sends failed. Returns how
  /// many entries it took. A system call per entry: call it when poll()
  /// says POLLERR or when reporting stats, not per datagram.
  std::size_t drain_errors() noexcept;

  const send_ring& ring() const noexcept { return ring_; }
  send_ring& ring() noexcept { return ring_; }

private:
  static const send_batch_fn send_batch_;
  int fd_ = -1;
  send_ring ring_;
};

/// sockaddr_in for an address in network order and a port in host order.
sockaddr_in make_destination(uint32_t address_be, uint16_t port) noexcept;

/// sockaddr_in6 for the 16 bytes of an IPv6 address, a port in host order
/// and a scope (the interface index, for link-local unicast; else 0).
sockaddr_in6 make_destination6(const std::array<uint8_t, 16>& address,
                               uint16_t port, unsigned scope_id = 0) noexcept;

/// A stable global or unique-local (fc00::/7) address of interface
/// `ifindex`, for an IPv6 egress's source: from /proc/net/if_inet6, not
/// link-local, not temporary (privacy), deprecated, tentative or failed
/// DAD. Permanent addresses win over others, then the lowest; nullopt if
/// the interface has none.
std::optional<std::array<uint8_t, 16>> stable_ipv6_source(unsigned ifindex);

/// The same, from the text of /proc/net/if_inet6 (for tests).
std::optional<std::array<uint8_t, 16>>
stable_ipv6_source_in(const std::string& if_inet6, unsigned ifindex);

} // namespace castor::packet
