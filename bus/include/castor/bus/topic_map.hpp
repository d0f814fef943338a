#pragma once

// Where a topic lives on the network: its multicast group and port, and
// whether it is raw. Plain C++17, no CAF.
//
// The default mapping hashes the topic's name (FNV-1a, 32 bits) into a
// range of groups of one family, on one port; the hash also goes into every
// datagram's header, so two topics that land on one group are still told
// apart. Explicit entries override the hash for chosen topics (a group
// already routed by the site, a raw topic fed by a legacy sender), in
// either family.
//
//   IPv4 (the default): the low 16 bits of 239.193.0.0/16, the
//        organisation-local scope (RFC 2365), the hash folded to 16 bits.
//   IPv6: a /96 whose last 32 bits are the group ID (RFC 3306/3307), by
//        default ff18::/96: flags T (transient, not IANA-assigned) and
//        scope 8, organisation-local, the counterpart of 239.192.0.0/14.
//        The group ID is 0x80000000 | the hash's low 31 bits, RFC 3307's
//        range for dynamically allocated IDs; 31 bits of hash rather than
//        16 make two topics sharing a group rare, and an IPv6 group's MAC
//        address (33:33 + the last 32 bits) is then unique to it, so the
//        NIC filters other topics out. A site that routes its own
//        unicast-prefix-based range (ff3e:40:PREFIX::/96, RFC 3306) sets
//        that /96 as the base. Not ff3x::/32 (prefix length 0): that is
//        IPv6's source-specific range (RFC 4607), which a host must not
//        join any-source, and the bus joins any-source (any publisher).
//
// Discovery announcements go to one well-known group and port per family
// outside the topics' range, so no topic can land on it: 239.192.0.77 and
// ff18::4d (group ID 0x4d, below the topics' IDs), port 24699. An
// announcement leaves on its topic's socket, so it uses the discovery group
// of its topic's family.

#include <cstdint>
#include <map>
#include <string>

#include "castor/bus/ip_address.hpp"

namespace castor::bus {

/// A topic's place on the network.
struct topic_endpoint {
  std::string name;
  /// The group, IPv4 or IPv6; its family is the topic's.
  ip_address group;
  uint16_t port = 0;
  /// Raw mode: plain UDP payloads, one message per datagram, no header, no
  /// repair, no discovery of the senders (any plain socket can publish).
  bool raw = false;
  /// The topic's hash, as in the header.
  uint32_t hash = 0;
};

/// FNV-1a over the topic's bytes.
uint32_t topic_hash(const std::string& topic) noexcept;

/// Why `group` cannot carry a topic (not multicast; an IPv6 group of
/// reserved scope 0 or 15; an IPv6 source-specific group, ff3x::/32), or
/// an empty string if it can.
std::string check_group(const ip_address& group);

/// Parses "GROUP:PORT", an IPv6 group in brackets ("[ff18::1]:5000");
/// returns an empty string, or what is wrong with `text`.
std::string parse_group_port(const std::string& text, ip_address& group,
                             uint16_t& port);

class topic_map {
public:
  /// IPv4's default groups: base/16 (host order) and port.
  static constexpr uint32_t default_base = 0xefc10000; // 239.193.0.0
  static constexpr uint16_t default_port = 24700;
  static constexpr uint32_t default_discovery_group = 0xefc0004d; // .192.0.77
  static constexpr uint16_t default_discovery_port = 24699;
  /// IPv6's: ff18::/96 and ff18::4d (same ports).
  static ip_address default_base6() noexcept;
  static ip_address default_discovery_group6() noexcept;

  /// IPv4's defaults.
  topic_map() = default;
  /// The defaults of `f`.
  explicit topic_map(ip_family f);
  /// Hashed topics go to `base` (its /16 for IPv4, /96 for IPv6, which
  /// sets the map's family) and `port`.
  topic_map(const ip_address& base, uint16_t port);
  topic_map(uint32_t base, uint16_t port)
      : topic_map(ip_address::v4(base), port) {}

  /// The family of hashed topics (explicit entries have their own).
  ip_family family() const noexcept { return base_.family(); }

  /// Maps `topic` to exactly this group and port (raw or not).
  void set(const std::string& topic, const ip_address& group, uint16_t port,
           bool raw = false);
  void set(const std::string& topic, uint32_t group_v4, uint16_t port,
           bool raw = false) {
    set(topic, ip_address::v4(group_v4), port, raw);
  }

  /// Parses "TOPIC=GROUP:PORT[,raw]" (an IPv6 group in brackets) and adds
  /// it; returns an empty string, or what is wrong with the entry.
  std::string add_entry(const std::string& entry);
  /// add_entry, true if it took the entry.
  bool parse_entry(const std::string& entry) {
    return add_entry(entry).empty();
  }

  /// The endpoint of `topic`: an explicit entry, else the hash mapping.
  topic_endpoint resolve(const std::string& topic) const;

  /// The discovery group and port of a family (by default the map's).
  const ip_address& discovery_group(ip_family f) const noexcept {
    return f == ip_family::v6 ? discovery6_ : discovery4_;
  }
  uint16_t discovery_port(ip_family f) const noexcept {
    return f == ip_family::v6 ? discovery_port6_ : discovery_port4_;
  }
  const ip_address& discovery_group() const noexcept {
    return discovery_group(family());
  }
  uint16_t discovery_port() const noexcept { return discovery_port(family()); }
  /// Moves the discovery group of `group`'s family.
  void set_discovery(const ip_address& group, uint16_t port);

private:
  ip_address base_ = ip_address::v4(default_base);
  uint16_t port_ = default_port;
  ip_address discovery4_ = ip_address::v4(default_discovery_group);
  uint16_t discovery_port4_ = default_discovery_port;
  ip_address discovery6_ = default_discovery_group6();
  uint16_t discovery_port6_ = default_discovery_port;
  std::map<std::string, topic_endpoint> explicit_;
};

} // namespace castor::bus
