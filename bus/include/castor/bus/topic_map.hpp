#pragma once

// Where a topic lives on the network: its multicast group and port, and
// whether it is raw. Plain C++17, no CAF.
//
// The default mapping hashes the topic's name (FNV-1a, 32 bits) into the
// low 16 bits of a /16 of the organisation-local scope, 239.193.0.0/16
// (RFC 2365), on one port; the hash also goes into every datagram's header,
// so two topics that land on one group are still told apart. Explicit
// entries override the hash for chosen topics (a group already routed by
// the site, a raw topic fed by a legacy sender).
//
// Discovery announcements go to one well-known group and port outside that
// /16, so no topic can land on it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace castor::bus {

/// A topic's place on the network.
struct topic_endpoint {
  std::string name;
  /// IPv4 group, host order.
  uint32_t group = 0;
  uint16_t port = 0;
  /// Raw mode: plain UDP payloads, one message per datagram, no header, no
  /// repair, no discovery of the senders (any plain socket can publish).
  bool raw = false;
  /// The topic's hash, as in the header.
  uint32_t hash = 0;
};

/// FNV-1a over the topic's bytes.
uint32_t topic_hash(const std::string& topic) noexcept;

/// "a.b.c.d" -> host-order IPv4; nullopt if it is not one.
std::optional<uint32_t> parse_ipv4(const std::string& text);
std::string format_ipv4(uint32_t addr);

class topic_map {
public:
  /// The default groups: base/16 (host order) and port.
  static constexpr uint32_t default_base = 0xefc10000; // 239.193.0.0
  static constexpr uint16_t default_port = 24700;
  static constexpr uint32_t default_discovery_group = 0xefc0004d; // .192.0.77
  static constexpr uint16_t default_discovery_port = 24699;

  topic_map() = default;
  topic_map(uint32_t base, uint16_t port)
      : base_(base & 0xffff0000), port_(port) {}

  /// Maps `topic` to exactly this group and port (raw or not).
  void set(const std::string& topic, uint32_t group, uint16_t port,
           bool raw = false);

  /// Parses "TOPIC=GROUP:PORT[,raw]" and adds it; false if malformed.
  bool parse_entry(const std::string& entry);

  /// The endpoint of `topic`: an explicit entry, else the hash mapping.
  topic_endpoint resolve(const std::string& topic) const;

  uint32_t discovery_group() const noexcept { return discovery_group_; }
  uint16_t discovery_port() const noexcept { return discovery_port_; }
  void set_discovery(uint32_t group, uint16_t port) {
    discovery_group_ = group;
    discovery_port_ = port;
  }

private:
  uint32_t base_ = default_base;
  uint16_t port_ = default_port;
  uint32_t discovery_group_ = default_discovery_group;
  uint16_t discovery_port_ = default_discovery_port;
  std::map<std::string, topic_endpoint> explicit_;
};

} // namespace castor::bus
