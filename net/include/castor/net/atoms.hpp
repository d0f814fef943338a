#pragma once

// Atoms of castor's socket protocols. CAF 0.17 atoms are at most 10
// characters. Names follow gen_udp where it has one ({udp, ...},
// {udp_passive, ...}, inet:setopts active, gen_udp:recv, controlling_process).
// close, join and leave reuse CAF's predefined caf::close_atom,
// caf::join_atom and caf::leave_atom.

#include <caf/atom.hpp>

namespace castor::net {

/// Socket -> owner: (udp_atom, udp_batch), datagrams in active mode.
using udp_atom = caf::atom_constant<caf::atom("udp")>;

/// Socket -> owner: (udp_passive_atom), the active-N counter reached 0.
using udp_passive_atom = caf::atom_constant<caf::atom("udp_pasv")>;

/// Socket -> owner: (udp_error_atom, caf::error), a non-fatal socket error
/// (ICMP port unreachable, a failed send, a full send queue).
using udp_error_atom = caf::atom_constant<caf::atom("udp_error")>;

/// -> socket: (active_atom, int32_t n | bool | once_atom), inet:setopts.
using active_atom = caf::atom_constant<caf::atom("active")>;
using once_atom = caf::atom_constant<caf::atom("once")>;

/// -> socket: (recv_atom, int64_t timeout_ms) -> udp_batch, gen_udp:recv.
using recv_atom = caf::atom_constant<caf::atom("recv")>;

/// -> socket: (send_atom, [endpoint,] payload), gen_udp:send.
using send_atom = caf::atom_constant<caf::atom("send")>;

/// -> socket: (setopt_atom, udp_option) -> void, runtime option changes.
using setopt_atom = caf::atom_constant<caf::atom("setopt")>;

/// -> socket: (controlling_atom, caf::actor) -> void, controlling_process.
using controlling_atom = caf::atom_constant<caf::atom("ctrl_proc")>;

/// -> socket: (stats_atom) -> udp_stats.
using stats_atom = caf::atom_constant<caf::atom("udp_stats")>;

/// -> socket: (sockname_atom) -> udp::endpoint, inet:sockname.
using sockname_atom = caf::atom_constant<caf::atom("sockname")>;

} // namespace castor::net
