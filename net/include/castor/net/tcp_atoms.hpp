#pragma once

// Atoms of castor's TCP protocols (connections and listeners). Names follow
// gen_tcp's messages ({tcp, S, Data}, {tcp_passive, S}, {tcp_closed, S},
// {tcp_error, S, Reason}). Control messages reuse the socket atoms of
// atoms.hpp (active_atom, once_atom, send_atom, controlling_atom,
// sockname_atom, stats_atom) and CAF's caf::close_atom.

#include <caf/atom.hpp>

namespace castor::net {

/// Connection -> owner: (tcp_atom, tcp_frames), frames in active mode.
using tcp_atom = caf::atom_constant<caf::atom("tcp")>;

/// Connection -> owner: (tcp_passive_atom), the active-N counter reached 0.
using tcp_passive_atom = caf::atom_constant<caf::atom("tcp_pasv")>;

/// Connection -> owner: (tcp_closed_atom), the peer closed the connection
/// or it closed after an error; the connection actor has ended.
using tcp_closed_atom = caf::atom_constant<caf::atom("tcp_closed")>;

/// Connection -> owner: (tcp_error_atom, caf::error), the reason a
/// connection is closing (frame too large, reset, failed send). Always
/// followed by tcp_closed_atom.
using tcp_error_atom = caf::atom_constant<caf::atom("tcp_error")>;

/// Listener -> handler: (tcp_accepted_atom, tcp_endpoint peer), sent as the
/// new connection (current_sender() is the connection actor) before any
/// data; Ranch's handshake.
using tcp_accepted_atom = caf::atom_constant<caf::atom("tcp_accept")>;

/// -> connection: (peername_atom) -> tcp_endpoint, inet:peername.
using peername_atom = caf::atom_constant<caf::atom("peername")>;

} // namespace castor::net
