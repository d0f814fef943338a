#pragma once

// Everything a config file says, as the running relay holds it: the [relay]
// settings, the rules, [metrics] and the `include` patterns. The config
// parser (config/config_parser.hpp) builds it from TOML; the relay context,
// the reload and `castorctl config show` read it.

#include <cstdint>
#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay {

enum class ingress_mode : uint8_t {
  packet, ///< AF_PACKET + PACKET_FANOUT (needs CAP_NET_RAW)
  socket, ///< plain UDP sockets with SO_REUSEPORT
  /// "auto": packet when CAP_NET_RAW is effective, else socket; resolved
  /// at start (capabilities.hpp), so the data plane never sees it.
  automatic,
};

struct relay_settings {
  /// Forwarders per input interface; 0 means one per core.
  unsigned workers = 0;
  ingress_mode ingress = ingress_mode::packet;
  std::string control_socket = "/run/castor/relay.sock";
  std::string log_level = "info";
  /// "stderr", "syslog" or "file:PATH" (logging.hpp).
  std::string log_target = "stderr";
};

/// The Prometheus endpoint (issue 6).
struct metrics_settings {
  bool enabled = true;
  /// HOST:PORT with an IPv4 or bracketed IPv6 literal; loopback by default.
  std::string listen = "127.0.0.1:9108";
};

bool operator==(const metrics_settings& x, const metrics_settings& y);

/// Everything a config file says.
struct daemon_config {
  /// The [relay] settings.
  relay_settings relay;
  /// All rules, those of included files appended in include order.
  std::vector<rule> rules;
  metrics_settings metrics;
  /// The `include` patterns as written in the main file.
  std::vector<std::string> include;
};

/// Field by field, rules in order (rule order is the order of the file).
bool operator==(const daemon_config& x, const daemon_config& y);

} // namespace castor::relay
