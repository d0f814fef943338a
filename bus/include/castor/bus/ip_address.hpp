#pragma once

// An IP address of either family, for the bus's core (topic_map.hpp,
// wire.hpp), which has no CAF and no Asio: a family and 16 bytes in network
// order (an IPv4 address in the first 4). The actors turn it into an Asio
// address (actor_support.hpp); tools print and parse it with inet_ntop and
// inet_pton.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace castor::bus {

enum class ip_family : uint8_t { v4 = 4, v6 = 6 };

class ip_address {
public:
  using bytes_type = std::array<uint8_t, 16>;

  /// 0.0.0.0.
  ip_address() = default;

  /// An IPv4 address, host order.
  static ip_address v4(uint32_t host_order) noexcept;
  /// An IPv6 address from its 16 bytes (network order).
  static ip_address v6(const bytes_type& bytes) noexcept;
  /// "a.b.c.d" or an IPv6 address in RFC 4291 text (no brackets, no
  /// zone); nullopt if it is neither.
  static std::optional<ip_address> parse(const std::string& text);

  ip_family family() const noexcept { return family_; }
  bool is_v4() const noexcept { return family_ == ip_family::v4; }
  bool is_v6() const noexcept { return family_ == ip_family::v6; }

  /// The IPv4 address, host order (0 for an IPv6 one).
  uint32_t to_v4() const noexcept;
  /// Network order; an IPv4 address in the first 4 bytes, the rest 0.
  const bytes_type& bytes() const noexcept { return bytes_; }

  /// 224.0.0.0/4 or ff00::/8.
  bool is_multicast() const noexcept;
  /// An IPv6 multicast group's scope (RFC 4291 §2.7: the low nibble of
  /// the second byte; 2 link-local, 5 site-local, 8 organisation-local,
  /// 14 global); 0 for anything else.
  unsigned v6_scope() const noexcept;
  /// ff3x::/32, IPv6's source-specific range (RFC 4607 §1): a host must
  /// not join it any-source (RFC 4604 §2.2.1), and MLDv2 routers ignore
  /// such joins. IPv4's 232/8 is not flagged (the bus accepted it before
  /// IPv6, as the relay does).
  bool is_v6_ssm() const noexcept;

  /// inet_ntop's text (RFC 5952 for IPv6).
  std::string to_string() const;

  friend bool operator==(const ip_address& a, const ip_address& b) noexcept {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const ip_address& a, const ip_address& b) noexcept {
    return !(a == b);
  }

private:
  bytes_type bytes_{};
  ip_family family_ = ip_family::v4;
};

} // namespace castor::bus
