#pragma once

// Relays across sites (issue 17): what a config says about this relay's
// node, its peers and the rules that cross sites. CAF-free, like the rest
// of the model; the config parser fills it, sites/sites_actor.hpp runs it.
//
//   [node]    name, listen (IP:PORT or [IPv6]:PORT), tls = { cert, key, ca } or
//             insecure = true
//   [[peer]]  name, address (IP:PORT)
//   [[rule]]  with `input = { peer = ... }`: an import (a peer's group
//             emitted here), or with `outputs = [ { peer = ... } ]` /
//             `{ peers = [...] }`: an export (a local group sent to peers).
//
// The node listens on TCP for its peers' node links (BASP, TLS by default)
// and on UDP at the same address and port for their data (docs/sites.md).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay {

/// IP:PORT as written in [node] listen and [[peer]] address: an IPv4
/// address, or an IPv6 address in brackets ("[fd00::1]:4370").
struct site_endpoint {
  bool v6 = false;
  /// The address in network order: 4 bytes for IPv4, 16 for IPv6.
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;

  /// nullopt unless an IPv4 address or a bracketed IPv6 address, and a
  /// port 1..65535.
  static std::optional<site_endpoint> parse(const std::string& text);
  static site_endpoint of(ipv4 host, uint16_t port);
  /// The address alone, without brackets ("fd00::1"), as CAF's middleman
  /// and inet_pton take it.
  std::string host() const;
  /// Whether `text` (an address as the kernel reports a peer's: IPv4,
  /// IPv6, or IPv4 mapped into IPv6) is this endpoint's address.
  bool host_is(const std::string& text) const;
  /// As written: "192.0.2.1:4370", "[fd00::1]:4370".
  std::string to_string() const;
  friend bool operator==(const site_endpoint& x, const site_endpoint& y) {
    return x.v6 == y.v6 && x.addr == y.addr && x.port == y.port;
  }
};

struct node_settings {
  std::string name;
  site_endpoint listen;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  /// Plaintext node links (no TLS): both ends must say so.
  bool insecure = false;
};

struct peer_settings {
  std::string name;
  site_endpoint address;
};

/// How an export reaches the peers it lists.
enum class site_spread : uint8_t {
  all, ///< the origin sends to every listed peer
  log, ///< to ceil(log2(N+1)) of them, which forward on (docs/sites.md)
};

/// A local group sent to peers: a [[rule]] whose outputs name peers.
struct site_export {
  std::string name;
  rule_input input;
  std::vector<std::string> peers;
  site_spread spread = site_spread::all;
};

/// A peer's group emitted here: a [[rule]] whose input names a peer. The
/// outputs are ordinary interface outputs (address, port, ttl, tos).
struct site_import {
  std::string name;
  std::string peer;
  ip_addr group; ///< IPv4 or IPv6; the outputs may be of either family
  uint16_t port = 0;
  std::vector<rule_output> outputs;
  /// `input.repair = "bus"`: this site is a designated local repairer for
  /// the castor::bus topics on the group (site_bus_repair.hpp): it keeps
  /// what it emitted, answers its subscribers' NAKs from that, and asks
  /// the peer for the rest.
  bool bus_repair = false;
};

struct sites_config {
  /// No [node]: the relay has no cross-site part at all.
  std::optional<node_settings> node;
  std::vector<peer_settings> peers;
  std::vector<site_export> exports;
  std::vector<site_import> imports;

  bool enabled() const noexcept { return node.has_value(); }
  const peer_settings* find_peer(const std::string& name) const;
};

/// A (group, port) pair a site carries, IPv4 or IPv6: what an interest
/// message asks for, and the key of the engine's routes and spread plans.
struct site_group {
  ip_addr group;
  uint16_t port = 0;

  friend bool operator==(const site_group& x, const site_group& y) {
    return x.port == y.port && x.group == y.group;
  }
  friend bool operator<(const site_group& x, const site_group& y) {
    return x.group != y.group ? x.group < y.group : x.port < y.port;
  }
};

/// The groups of an interest message, as they cross the node link: per
/// group a family byte (4 or 6), the address (4 or 16 bytes, network
/// order) and the port (2 bytes, big-endian). A std::string crosses BASP
/// without registering a type.
std::string encode_interest(const std::vector<site_group>& groups);

/// The groups of `bytes`; nullopt unless every entry is whole and of
/// family 4 or 6. The first format (8 bytes a group, IPv4 only, before
/// issue 19) starts with a 0 byte, so it is refused, never misread.
std::optional<std::vector<site_group>>
decode_interest(const std::string& bytes);

bool operator==(const node_settings& x, const node_settings& y);
bool operator==(const peer_settings& x, const peer_settings& y);
bool operator==(const site_export& x, const site_export& y);
bool operator==(const site_import& x, const site_import& y);
bool operator==(const sites_config& x, const sites_config& y);

const char* to_string(site_spread x);

/// What `-t` and the start check beyond the syntax: that the TLS files of
/// [node] can be read. One message per problem, naming the key.
std::vector<std::string> check_site_files(const sites_config& sites);

} // namespace castor::relay
