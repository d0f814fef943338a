#pragma once

// The relay's forwarding model: a rule maps one input (interface, group,
// port, optional source) to one or more outputs. Shared by the config
// parser, the control protocol, the rule store and the forwarders.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace castor::relay {

/// An IPv4 address in network byte order, as the kernel hands it over.
struct ipv4 {
  uint32_t be = 0;

  /// Parses dotted-quad text; nullopt on anything else.
  static std::optional<ipv4> parse(const std::string& text);
  std::string to_string() const;
  bool is_multicast() const noexcept;
  /// 224.0.0.0/24: link-local control groups, never relayed.
  bool is_link_local_multicast() const noexcept;
  bool is_unspecified() const noexcept { return be == 0; }

  friend bool operator==(ipv4 x, ipv4 y) { return x.be == y.be; }
  friend bool operator!=(ipv4 x, ipv4 y) { return x.be != y.be; }
  friend bool operator<(ipv4 x, ipv4 y) { return x.be < y.be; }
};

/// An IPv4 or an IPv6 address: a rule's group, source or output address.
/// A rule may mix the families (IPv4 in, IPv6 out and the reverse).
/// Implicitly made from an ipv4, so IPv4 code reads as before.
struct ip_addr {
  /// IPv6: the 16 bytes of the address; IPv4: the first four bytes, in
  /// network order (the rest 0).
  std::array<uint8_t, 16> bytes{};
  bool v6 = false;

  ip_addr() = default;
  ip_addr(ipv4 x) noexcept; // NOLINT: implicit on purpose
  static ip_addr from_v6(const std::array<uint8_t, 16>& b) noexcept {
    ip_addr a;
    a.bytes = b;
    a.v6 = true;
    return a;
  }

  /// Dotted-quad or RFC 4291 text (no zone, no brackets); nullopt on
  /// anything else.
  static std::optional<ip_addr> parse(const std::string& text);
  /// Dotted quad, or the RFC 5952 form ("ff3e::1:1").
  std::string to_string() const;
  /// The IPv4 address in network order; 0 for an IPv6 one.
  uint32_t v4_be() const noexcept;
  ipv4 v4() const noexcept { return ipv4{v4_be()}; }
  bool is_v4() const noexcept { return !v6; }
  bool is_multicast() const noexcept;
  bool is_unspecified() const noexcept;
  /// Groups that are never relayed: 224.0.0.0/24; IPv6 scopes 0
  /// (reserved), 1 (interface-local, ff01::/16), 2 (link-local,
  /// ff02::/16) and 15 (reserved), whatever the flags (ff12::, ff32::).
  bool is_link_local_multicast() const noexcept;
  /// The IPv6 multicast scope (RFC 4291 §2.7), 0 for IPv4 or unicast.
  unsigned multicast_scope() const noexcept;
  /// IPv6 source-specific multicast, ff3x::/32 (RFC 4607); false for IPv4.
  bool is_ssm6() const noexcept;
  /// fe80::/10.
  bool is_link_local_unicast6() const noexcept;

  friend bool operator==(const ip_addr& x, const ip_addr& y) {
    return x.v6 == y.v6 && x.bytes == y.bytes;
  }
  friend bool operator!=(const ip_addr& x, const ip_addr& y) {
    return !(x == y);
  }
  friend bool operator<(const ip_addr& x, const ip_addr& y) {
    return x.v6 != y.v6 ? y.v6 : x.bytes < y.bytes;
  }
};

struct rule_input {
  std::string interface;
  ip_addr group;
  uint16_t port = 0;
  std::optional<ip_addr> source; ///< source-specific (S,G) when set
};

struct rule_output {
  std::string interface;
  ip_addr address; ///< a multicast group or a unicast host
  uint16_t port = 0;
  /// For multicast outputs: IP_MULTICAST_TTL, or IPV6_MULTICAST_HOPS (the
  /// hop limit) for an IPv6 output.
  uint8_t ttl = 1;
  uint8_t tos = 0; ///< the TOS byte, or the IPv6 traffic class
  /// ttl = "decrement": each datagram leaves with its input's TTL minus
  /// one (`ttl` is then unused); one that arrived with TTL 1 is dropped.
  bool ttl_decrement = false;
  /// tos = "preserve": each datagram leaves with its input's TOS byte
  /// (DSCP and ECN); `tos` is then unused.
  bool tos_preserve = false;
  /// The UDP source port; 0: the relay's one shared port (docs/relay.md,
  /// "Packet identity").
  uint16_t source_port = 0;
};

/// What an output's egress socket (and its send ring) is set up with,
/// besides the interface: outputs of one interface with equal settings
/// share one socket per worker. The data plane opens them by it
/// (dataplane/rule_table.hpp), and the memory budget counts rings by it.
struct egress_settings {
  uint8_t ttl = 1; ///< the socket's TTL (1 when marks carry it)
  uint8_t tos = 0; ///< the socket's TOS (0 when marks carry it)
  /// Per-datagram TTL/TOS control messages (ttl = "decrement" or tos =
  /// "preserve").
  bool marks = false;
  uint16_t source_port = 0; ///< 0: the relay's shared port

  auto tie() const { return std::tie(ttl, tos, marks, source_port); }
  friend bool operator==(const egress_settings& x, const egress_settings& y) {
    return x.tie() == y.tie();
  }
  friend bool operator<(const egress_settings& x, const egress_settings& y) {
    return x.tie() < y.tie();
  }
};

egress_settings egress_settings_of(const rule_output& o);

/// The option values that are words rather than numbers.
inline constexpr const char* ttl_decrement_word = "decrement";
inline constexpr const char* tos_preserve_word = "preserve";

struct rule {
  std::string name;
  rule_input input;
  std::vector<rule_output> outputs;
};

bool operator==(const rule_input& x, const rule_input& y);
bool operator==(const rule_output& x, const rule_output& y);
bool operator==(const rule& x, const rule& y);

} // namespace castor::relay
