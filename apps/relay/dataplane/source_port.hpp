#pragma once

// The relay's shared UDP source port: the port every output without a
// configured `source_port` sends from, on every worker, for the life of
// the process (docs/relay.md, "Packet identity").
//
// Why one port and not one per worker socket: the workers of an input
// interface each have their own egress sockets, and the fanout hashes
// each flow to one of them. Unbound sockets would each get their own
// ephemeral port, so a receiver that filters on the source port would see
// it change with the flow hash, and after every worker restart. Instead,
// the first use opens an anchor socket (SO_REUSEPORT, bound to port 0: the
// kernel picks a free ephemeral port) and keeps it open until the process
// exits, so the port stays the relay's even while no output uses it; every
// egress socket then binds that port with SO_REUSEPORT too. The anchor
// never reads (IP_MULTICAST_ALL 0 keeps group traffic out of it).

#include <cstdint>

namespace castor::relay {

/// The shared port, host order; opens the anchor on first use. Thread-safe.
/// Throws packet::io_error if no socket can be bound (then the next call
/// tries again).
uint16_t shared_source_port();

} // namespace castor::relay
