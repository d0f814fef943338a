#pragma once

// The control server's limits and socket settings (control_server.hpp
// explains each limit), apart so that the connection
// (control_connection.hpp) can read them without the server's header.

#include <chrono>
#include <cstddef>
#include <string>

#include "control/control_access.hpp"
#include <sys/types.h>

namespace castor::relay {

struct control_server_options {
  /// The socket file. Its directory is created (mode 0755) if missing. A
  /// stale socket file (nobody listening) is replaced; a live one, or a file
  /// that is not a socket, fails the start.
  std::string socket_path = "/run/castor/relay.sock";
  /// Applied to the socket file before it starts listening, so no client
  /// connects through a wider mode.
  mode_t socket_mode = 0660;
  /// Longest request line, newline excluded.
  size_t max_line_bytes = 64 * 1024;
  /// Connections served at once.
  size_t max_clients = 1024;
  /// Reply bytes queued for one client before it is dropped as not reading.
  size_t max_output_bytes = 4 * 1024 * 1024;
  /// Requests decoded ahead of their replies, per client.
  size_t max_pipelined = 16;
  /// A client that sends no complete request for this long is closed. Time
  /// spent waiting for the handler does not count.
  std::chrono::milliseconds idle_timeout{10000};
  /// A reply that cannot be written for this long closes the connection.
  std::chrono::milliseconds write_timeout{10000};
  /// How long a client's actor waits for the handler's answer.
  std::chrono::milliseconds request_timeout{60000};
  /// Who may send changing commands (control_access.hpp); empty: root and
  /// the daemon's own user.
  admin_check admin{};
};

} // namespace castor::relay
