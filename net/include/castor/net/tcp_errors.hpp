#pragma once

// Errors that only TCP has, as their own CAF error category ("net_tcp").
// Everything a UDP socket can also hit (open_failed, send_failed,
// recv_failed, not_owner, invalid_argument ...) stays a castor::net::errc,
// so callers test both transports the same way. Rendered by castor's one
// describe() (errors.hpp registers the category).

#include <cstdint>
#include <string>
#include <utility>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace castor::net {

enum class tcp_errc : uint8_t {
  none = 0,
  /// A frame's length (declared by its prefix, or a line without its end)
  /// exceeds max_frame. Context: the length seen, the limit.
  frame_too_large,
  /// A send arrived after the connection had closed its sending side.
  closed,
  /// accept() failed with an error other than "try again". Context: errno,
  /// text.
  accept_failed,
};

std::string to_string(tcp_errc x);

/// The category atom of TCP errors.
constexpr caf::atom_value tcp_error_category = caf::atom("net_tcp");

/// Found by ADL, so that `caf::error e = tcp_errc::closed;` works.
inline caf::error make_error(tcp_errc x) {
  return caf::error{static_cast<uint8_t>(x), tcp_error_category};
}

template <class T, class... Ts>
caf::error make_error(tcp_errc x, T&& ctx, Ts&&... more) {
  return caf::error{
    static_cast<uint8_t>(x), tcp_error_category,
    caf::make_message(std::forward<T>(ctx), std::forward<Ts>(more)...)};
}

/// Whether `x` is the TCP error `code`.
inline bool is(const caf::error& x, tcp_errc code) {
  return x.category() == tcp_error_category
         && x.code() == static_cast<uint8_t>(code);
}

} // namespace castor::net
