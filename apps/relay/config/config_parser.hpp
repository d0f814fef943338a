#pragma once

// castor-relay's configuration file (TOML, read with toml++): the [relay]
// settings, the [[rule]] tables, [metrics], and `include` of further rule
// files. The parser reports every problem it finds, not only the first, each
// as `file:line:col: message`, so that `castor-relay -t` and a rejected
// reload show the operator the whole list at once.
//
// Format (see config/relay.toml for a documented example):
//
//   include = ["/etc/castor/relay.d/*.toml"]   # optional, main file only
//
//   [relay]
//   workers = 2              # 0..256 forwarders per input interface; 0: cores
//   ingress = "packet"       # "packet" | "socket" | "auto" (capabilities.hpp)
//   control_socket = "/run/castor/relay.sock"
//   control_admin_group = "castor-admin"  # may add, remove, reload, kill
//   log_level = "info"       # none|err|warn|notice|info|debug
//   log_target = "stderr"    # stderr|syslog|file:PATH (logging.hpp)
//   max_frame = 2048         # 576..9216: largest IP packet relayed
//   max_buffer_memory_mib = 1024  # cap on send rings and receive buffers
//
//   [metrics]
//   enabled = true
//   listen = "127.0.0.1:17108"  # IPv4:PORT or [IPv6]:PORT
//
//   [[rule]]
//   name = "feed-a"
//   input = { interface = "eth0", group = "239.1.1.1", port = 5001,
//             source = "10.0.0.5" }                     # source optional
//   outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001,
//                 ttl = 1, tos = 0 } ]                 # ttl, tos optional
//   # ttl = "decrement" | 1..255, tos = "preserve" | 0..255,
//   # source_port = 1..65535 (see castor.conf(5), "Packet identity")
//
// Includes: each pattern is a glob(7); a relative pattern is relative to the
// directory of the file that names it. Matches are read in lexical (byte)
// order, pattern by pattern, and their rules are appended to the main
// file's. A pattern with wildcards may match nothing (an empty relay.d is
// normal); a plain path that does not exist is an error, and so is a
// directory, named or matched (it would read as a file without rules).
// Included files may hold only [[rule]] tables and may not include further
// files.
//
// Syntax errors: toml++ stops at the first one in a file, so a file with a
// syntax error contributes exactly that error (other files are still read).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/daemon_config.hpp"

namespace castor::relay {

/// One problem, positioned where the offending key or value starts. Line and
/// column are 1-based; both are 0 when the problem has no position (a file
/// that cannot be read).
struct config_error {
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;
};

/// "file:line:col: message", or "file: message" without a position.
std::string to_string(const config_error& x);

struct config_result {
  daemon_config config;
  /// Empty on success. Ordered by file (in reading order), then position.
  std::vector<config_error> errors;
  /// Every file read: the main file first, then included files in order.
  std::vector<std::string> files;

  bool ok() const noexcept { return errors.empty(); }
};

/// Reads and validates a config file and everything it includes.
config_result parse_config_file(const std::string& path);

/// Parses `text` as if it were the file `name` (used in messages, and as the
/// base directory of relative include patterns).
config_result parse_config_string(std::string_view text,
                                  const std::string& name);

std::string to_string(ingress_mode x);

} // namespace castor::relay
