#pragma once

// Why the ingress path refused a frame. The values are dense from 0 so that a
// forwarder can keep one counter per reason in a plain array indexed by the
// enum, with no map lookup per packet.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace castor::packet {

enum class drop_reason : uint8_t {
  truncated,    ///< shorter than its headers claim (or cut by the snap length)
  not_ipv4,     ///< not an IPv4 packet (ethertype or IP version)
  bad_header,   ///< IHL below 5 words
  ip_options,   ///< IHL above 5: IP options are never relayed
  bad_length,   ///< IP total or UDP length inconsistent with the frame
  fragment,     ///< MF set or offset != 0; IPv6: a fragment header
  not_udp,      ///< IP protocol other than UDP
  bad_checksum, ///< IPv4 header checksum wrong
  /// Not the input's: VLAN-tagged, for another host, this host's own
  /// output, or an upper device's. The kernel filter drops these uncounted;
  /// this counts one that got past it (the ring checks again).
  foreign,
  /// IPv6 only (parse_udp6_frame): not an IPv6 packet (ethertype or IP
  /// version).
  not_ipv6,
  /// IPv6: a hop-by-hop options header. It asks every router to look at
  /// the packet (router alert, jumbograms); a relay does not carry it on.
  hop_by_hop,
  /// IPv6: more extension headers than the bounded walk follows, a routing
  /// header with segments left, or one castor cannot walk (ESP).
  ext_headers,
  /// IPv6: UDP checksum 0, which IPv6 forbids (RFC 8200 section 8.1).
  zero_checksum,
};

/// Number of drop reasons: the size of a per-reason counter array.
inline constexpr std::size_t drop_reason_count = 13;

/// One counter per drop reason, indexed by `index(reason)`.
using drop_counters = std::array<uint64_t, drop_reason_count>;

constexpr std::size_t index(drop_reason r) noexcept {
  return static_cast<std::size_t>(r);
}

/// The stable snake_case name used in stats output ("ip_options", ...).
std::string_view to_string(drop_reason r) noexcept;

} // namespace castor::packet
