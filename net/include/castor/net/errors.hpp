#pragma once

// Errors of the net layer, as a CAF error category ("net"). Errors that come
// from a system call carry the call or option name, the errno value and its
// text in the context, so a log line says which setsockopt failed and why.
//
// net's three categories ("net" here, "net_tcp" in tcp_errors.hpp, "mcast"
// in group_manager.hpp) are registered with castor's error registry
// (castor/actors/errors.hpp), so castor::describe() names their codes.

#include <cstdint>
#include <string>
#include <utility>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include "castor/actors/errors.hpp"

namespace castor::net {

enum class errc : uint8_t {
  none = 0,
  /// A setsockopt/getsockopt failed. Context: option name, errno, text.
  socket_option,
  /// socket() or bind() or connect() failed. Context: call, errno, text.
  open_failed,
  /// An interface name that does not exist. Context: name, errno, text.
  no_such_interface,
  /// recv on a socket in active mode (gen_udp answers einval).
  active_mode,
  /// recv found nothing within its timeout, or connect_tcp's handshake did
  /// not finish within its timeout. Context: what, the timeout.
  timeout,
  /// recvmmsg failed. Context: errno, text.
  recv_failed,
  /// sendmmsg failed for a datagram. Context: destination, errno, text.
  send_failed,
  /// The send queue was full and datagrams were dropped. Context: count.
  send_queue_full,
  /// Only the controlling process may do this (controlling_process).
  not_owner,
  /// The I/O shards are stopping and take no new sockets.
  shutting_down,
  /// An argument is out of range; context says which.
  invalid_argument,
};

std::string to_string(errc x);

/// The category atom of net errors.
constexpr caf::atom_value error_category = caf::atom("net");

/// Found by ADL, so that `caf::error e = errc::timeout;` works.
inline caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), error_category};
}

template <class T, class... Ts>
caf::error make_error(errc x, T&& ctx, Ts&&... more) {
  return caf::error{
    static_cast<uint8_t>(x), error_category,
    caf::make_message(std::forward<T>(ctx), std::forward<Ts>(more)...)};
}

/// An error for a failed system call or option: (what, errno, strerror).
caf::error errno_error(errc code, const std::string& what, int err);

/// Whether `x` is the net error `code`.
inline bool is(const caf::error& x, errc code) {
  return x.category() == error_category
         && x.code() == static_cast<uint8_t>(code);
}

/// castor's one describe(): renders any registered category (net's too),
/// without needing an actor system.
using castor::describe;

/// Registers net's categories ("net", "net_tcp", "mcast") with castor's
/// error registry. Idempotent; runs at start-up and whenever io_shards or a
/// group manager is made, so describe() knows them before any net error
/// exists.
void register_errors();

/// register_errors(), then gives `cfg` the renderers of every registered
/// category (castor::install_error_renderers), so that `sys.render(err)`
/// names net errors. castor::configure() does the latter too.
void register_errors(caf::actor_system_config& cfg);

} // namespace castor::net
