#pragma once

// The initial active mode of a socket actor, gen_udp's and gen_tcp's
// {active, false | once | true | N}; shared by UDP (udp_socket.hpp) and TCP
// (tcp_connection.hpp).

#include <cstdint>

namespace castor::net {

/// The initial active mode.
struct active_mode {
  enum class kind : uint8_t { passive, once, always, counted };
  kind mode = kind::passive;
  int32_t count = 0;

  static active_mode passive() { return {kind::passive, 0}; }
  static active_mode once() { return {kind::once, 0}; }
  static active_mode always() { return {kind::always, 0}; }
  static active_mode counted(int32_t n) { return {kind::counted, n}; }
};

} // namespace castor::net
