#pragma once

// Validates one captured frame as IPv4/UDP and hands out a view of it. The
// forwarder runs this on every frame it gets from the kernel, so it allocates
// nothing, copies nothing and touches only the headers. IPv6 has an entry
// point of its own, parse_udp6_frame (see it below for what it refuses).
//
// What is refused, and why (each maps to a drop_reason):
// - IP options: a relay rewrites the IP header anyway and options (source
//   routes, record route) must not be carried into another network.
// - fragments: a non-first fragment has no UDP header to match on, and a
//   first fragment is not a whole datagram. The relay forwards datagrams.
// - a UDP length larger than the IP payload: the datagram is cut.
//   A UDP length *smaller* than the IP payload is accepted and the payload
//   trimmed to it, as the kernel's own udp_rcv() does (trailing bytes are
//   link padding or junk, and a local receiver would see the trimmed
//   datagram, so the relay forwards the same bytes).
// - link padding: frames shorter than 60 bytes are padded on Ethernet; the
//   IP total length, not the frame length, says where the packet ends.

#include <array>
#include <cstddef>
#include <cstdint>

#include "castor/packet/drop_reason.hpp"

namespace castor::packet {

/// What precedes the IP header in a frame.
enum class link_layer : uint8_t {
  none,      ///< starts at the IP header (AF_PACKET SOCK_DGRAM, "cooked")
  ethernet,  ///< 14-byte Ethernet II header (AF_PACKET SOCK_RAW)
  linux_sll, ///< 16-byte Linux cooked capture header (pcap DLT_LINUX_SLL)
};

/// Bytes of link-layer header before the IP header.
constexpr std::size_t link_header_size(link_layer l) noexcept {
  return l == link_layer::ethernet ? 14 : l == link_layer::linux_sll ? 16 : 0;
}

/// A view of a valid UDP datagram inside a frame. Addresses are in network
/// byte order (as castor::relay::ipv4 keeps them), ports in host order. The
/// payload points into the frame and lives exactly as long as the frame.
struct udp_datagram {
  uint32_t src_be = 0;
  uint32_t dst_be = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t ttl = 0;
  uint8_t tos = 0;
  const uint8_t* payload = nullptr;
  std::size_t payload_size = 0;
};

struct parse_result {
  bool ok = false;
  drop_reason reason = drop_reason::truncated; ///< meaningful when !ok
};

/// Parses `frame`, of which `captured` bytes are present, and whose length
/// on the wire was `wire_length` (pass `captured` if unknown). Fills `out`
/// only when the result is ok.
parse_result parse_udp_frame(const uint8_t* frame, std::size_t captured,
                             std::size_t wire_length, link_layer layer,
                             udp_datagram& out) noexcept;

/// A view of a valid IPv6 UDP datagram inside a frame (parse_udp6_frame).
/// Addresses are the 16 bytes of the header (network order), ports in host
/// order. The payload points into the frame.
struct udp6_datagram {
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t hop_limit = 0;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0; ///< host order, 20 bits
  const uint8_t* payload = nullptr;
  std::size_t payload_size = 0;
};

/// Extension headers the IPv6 walk follows before it gives up
/// (drop_reason::ext_headers): a bound on the work one frame can cause.
inline constexpr std::size_t max_ipv6_extension_headers = 8;

/// The IP version of a frame as its link layer and first byte say: 4, 6,
/// or 0 (neither, or too short to tell). Lets a caller pick the parser
/// without parsing twice; the IPv4 parser is untouched by IPv6.
unsigned frame_ip_version(const uint8_t* frame, std::size_t captured,
                          link_layer layer) noexcept;

/// The IPv6 counterpart of parse_udp_frame, a separate entry point so that
/// the IPv4 path stays as it is. Ethertype 0x86DD (on ethernet and
/// linux_sll), version 6. Walks at most max_ipv6_extension_headers
/// extension headers (destination options, routing with no segments left,
/// AH, mobility, HIP, shim6) to the UDP header. Refused, by reason:
/// - not_ipv6: another ethertype or version;
/// - hop_by_hop: a hop-by-hop options header (also what jumbograms need);
/// - fragment: a fragment header, first fragment or not;
/// - ext_headers: too many extension headers, a routing header with
///   segments left, ESP, or any other header that is not UDP and is
///   known to be an extension header;
/// - not_udp: the chain ends in anything but UDP (ICMPv6, no next header);
/// - truncated / bad_length: as for IPv4 (payload length vs. the frame, a
///   header running past the payload, UDP length vs. the IP payload);
/// - zero_checksum: a UDP checksum of 0, forbidden in IPv6. The checksum
///   itself is not verified (as for IPv4: the receiving NIC and the final
///   receiver do), only its presence.
parse_result parse_udp6_frame(const uint8_t* frame, std::size_t captured,
                              std::size_t wire_length, link_layer layer,
                              udp6_datagram& out) noexcept;

/// The Internet checksum (RFC 1071) of `size` bytes, folded, not inverted.
/// A header whose stored checksum is right sums to 0xffff.
uint16_t ones_complement_sum(const uint8_t* data, std::size_t size) noexcept;

} // namespace castor::packet
