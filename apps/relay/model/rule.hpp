#pragma once

// The relay's forwarding model: a rule maps one input (interface, group,
// port, optional source) to one or more outputs. Shared by the config
// parser, the control protocol, the rule store and the forwarders.

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

struct rule_input {
  std::string interface;
  ipv4 group;
  uint16_t port = 0;
  std::optional<ipv4> source; ///< source-specific (S,G) when set
};

struct rule_output {
  std::string interface;
  ipv4 address; ///< a multicast group or a unicast host
  uint16_t port = 0;
  uint8_t ttl = 1; ///< for multicast outputs (IP_MULTICAST_TTL)
  uint8_t tos = 0;
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
