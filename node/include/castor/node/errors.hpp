#pragma once

// Error codes of castor::node, a CAF error category ("node") that
// castor::describe() and `sys.render()` print as "node::<code>".

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "castor/actors/errors.hpp" // castor::describe renders them

namespace castor::node {

enum class errc : uint8_t {
  none = 0,
  /// The options are inconsistent (no name, TLS files missing or unreadable,
  /// a peer without an address); context says which.
  invalid_options,
  /// The peer is not connected now (never was, or is between a loss and a
  /// reconnect).
  not_connected,
  /// The node at the peer's address answered with another name.
  name_mismatch,
  /// The connection to the peer was lost (the peer's process ended, the
  /// link broke).
  peer_lost,
  /// Connecting failed: refused, unreachable, TLS handshake failed (a wrong
  /// or unknown certificate on either side) or timed out.
  connect_failed,
  /// A peer asked for an operation only the local node may do (publish,
  /// connect, subscribe).
  not_allowed,
  /// The node is not started, or stopped.
  not_running,
  /// A peer with that name is configured already.
  duplicate_peer,
};

std::string to_string(errc x);

constexpr caf::atom_value error_category = caf::atom("node");

inline bool is(const caf::error& x, errc code) {
  return x.category() == error_category
         && x.code() == static_cast<uint8_t>(code);
}

/// Registers the category with castor's renderers (castor::node::configure
/// calls it).
void register_errors();

} // namespace castor::node

// caf::make_error(errc::x, context...) and `caf::error e = errc::x;`.
CAF_ERROR_CODE_ENUM(castor::node::errc, "node")
