#pragma once

// `castorctl add --from FILE`: many rules in few requests, and how a
// refused request is shown.

#include <chrono>
#include <string>

#include "control/control_protocol.hpp"

namespace castor::relay::castorctl {

/// The daemon's error, and each of its "errors" lines, on stderr.
void print_refusal(const castor::relay::control::response& reply);

/// Reads every line of `file` ('-': stdin) first (a bad line fails before
/// anything is sent), then sends the rules in requests of at most 200, each
/// all or nothing; on a refused one the earlier ones stay added, and the
/// message says how many. Returns the exit status.
int add_from(const std::string& socket_path, const std::string& file,
             std::chrono::seconds timeout);

} // namespace castor::relay::castorctl
