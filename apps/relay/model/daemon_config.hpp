#pragma once

// Everything a config file says, as the running relay holds it: the [relay]
// settings, the rules, [metrics] and the `include` patterns. The config
// parser (config/config_parser.hpp) builds it from TOML; the relay context,
// the reload and `castorctl config show` read it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/rule.hpp"
#include "sites/site_model.hpp"

namespace castor::relay {

enum class ingress_mode : uint8_t {
  packet, ///< AF_PACKET + PACKET_FANOUT (needs CAP_NET_RAW)
  socket, ///< plain UDP sockets with SO_REUSEPORT
  /// "auto": packet when CAP_NET_RAW is effective, else socket; resolved
  /// at start (capabilities.hpp), so the data plane never sees it.
  automatic,
};

/// Where datagrams are forwarded (issue 16, model/datapath.hpp).
enum class datapath_mode : uint8_t {
  packet, ///< the forwarder actors' userspace loops (the default)
  kernel, ///< a tc eBPF program per input interface (needs CAP_BPF)
  /// "auto": kernel when the program loads, else packet; resolved at start
  /// (capabilities.hpp), so the data plane never sees it.
  automatic,
};

/// The largest frame (IP packet) the relay reads, and its bounds: an IP
/// packet of the minimum size every host must take (RFC 791) up to a
/// 9000-byte jumbo frame with room to spare.
inline constexpr std::size_t default_max_frame = 2048;
inline constexpr std::size_t min_max_frame = 576;
inline constexpr std::size_t max_max_frame = 9216;

/// Each forwarder's send ring per output group (packet/send_ring.hpp):
/// payload storage for send_ring_frames datagrams of max_frame bytes (one
/// read to one output), and send_ring_slots datagram slots sharing it, so
/// that many small datagrams fit where a few large ones would, and the
/// ring groups a window wide enough to join interleaved streams. A slot's
/// headers and grouping tables take at most send_slot_overhead bytes.
inline constexpr std::size_t send_ring_frames = 256;
inline constexpr std::size_t send_ring_slots = 2048;
inline constexpr std::size_t send_slot_overhead = 256;

/// IPv4 (no options) and UDP headers: a frame of max_frame bytes carries at
/// most max_frame - udp_ip_headers bytes of payload.
inline constexpr std::size_t udp_ip_headers = 20 + 8;

/// The default cap on the relay's buffer memory, and the largest cap.
inline constexpr uint64_t default_max_buffer_memory_mib = 1024;
inline constexpr uint64_t max_max_buffer_memory_mib = 1u << 20;

struct relay_settings {
  /// Forwarders per input interface; 0 means one per core.
  unsigned workers = 0;
  ingress_mode ingress = ingress_mode::packet;
  datapath_mode datapath = datapath_mode::packet;
  std::string control_socket = "/run/castor/relay.sock";
  /// The group whose members may change the relay over the control socket
  /// (control/control_access.hpp); empty: root and the daemon's user only.
  std::string control_admin_group;
  std::string log_level = "info";
  /// "stderr", "syslog" or "file:PATH" (logging.hpp).
  std::string log_target = "stderr";
  /// The largest IP packet relayed, in bytes (min_max_frame..max_max_frame):
  /// the size of every receive buffer and send slot. Larger frames count
  /// as `truncated`.
  std::size_t max_frame = default_max_frame;
  /// The cap on send rings and receive buffers, in MiB
  /// (service/memory_budget.hpp): rules that need more are refused.
  uint64_t max_buffer_memory_mib = default_max_buffer_memory_mib;
};

/// Forwarders per input interface that `s` asks for: `workers`, 0 meaning
/// one per core; always one with socket ingress (see relay_app.cpp).
unsigned forwarders_per_interface(const relay_settings& s);

/// The Prometheus endpoint (issue 6).
struct metrics_settings {
  bool enabled = true;
  /// HOST:PORT with an IPv4 or bracketed IPv6 literal; loopback by default.
  /// Port 17108: Prometheus's exporter range 9100-9999 is fully allocated
  /// (9108, the old default, is graphite_exporter's); 17108 lies outside
  /// it, below the ephemeral ports, and no known exporter or /etc/services
  /// entry uses it (issue 14).
  std::string listen = "127.0.0.1:17108";
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
  /// [node], [[peer]] and the rules that cross sites (issue 17).
  sites_config sites;
};

/// Field by field, rules in order (rule order is the order of the file).
bool operator==(const daemon_config& x, const daemon_config& y);

} // namespace castor::relay
