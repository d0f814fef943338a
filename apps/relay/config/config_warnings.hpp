#pragma once

// What a valid config may still get wrong on this host: the warnings the
// relay logs at start, which `castor-relay -t` prints too, so that a check
// shows what the start would say.
//
//   - an interface a rule names that does not exist here (a typo, or a VLAN
//     not created yet): the relay starts, and its forwarder for that input
//     waits for the interface; nothing is forwarded until it appears;
//   - ingress = "socket" with workers other than 1: it runs one forwarder
//     per input interface (every socket bound to a group gets every
//     datagram of it, so a second one would forward everything twice).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/daemon_config.hpp"

namespace castor::relay {

/// Answers whether a network interface of that name exists; if_nametoindex
/// in the daemon, a fixed set in tests.
using interface_probe = std::function<bool(const std::string& name)>;

/// Whether `name` is an interface of this host (if_nametoindex(3)).
bool interface_exists(const std::string& name);

/// Why `port` cannot serve as an output's fixed source_port on this host:
/// another process (or another user) holds it without sharing
/// (SO_REUSEPORT), or it needs a privilege. Nothing when the relay could
/// bind it (free, or shared with the relay's own sockets). Probes with a
/// socket bound for a moment.
std::optional<std::string> source_port_problem(uint16_t port);

/// The warnings for `cfg`, in a stable order: missing interfaces by name,
/// each naming up to 5 of the rules that use it, then the settings, then
/// fixed source ports that cannot be bound (source_port_problem).
std::vector<std::string> config_warnings(const daemon_config& cfg,
                                         const interface_probe& exists);

} // namespace castor::relay
