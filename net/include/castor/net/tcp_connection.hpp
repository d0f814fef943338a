#pragma once

// A TCP connection as an actor, with gen_tcp's semantics.
//
// A connection comes from a listener (tcp_listener.hpp), from connect_tcp
// (a client), or from adopt_tcp (any connected socket). Like the UDP socket
// it is an actor_companion whose state lives on one io shard; it is linked
// to its owner and closes when the owner exits, for any reason.
//
// Protocol (connection = C, owner = O):
//   C -> O  (tcp_atom, tcp_frames)          frames, in active mode. One
//                                           message carries the frames of
//                                           one read, never more than the
//                                           remaining credit.
//   C -> O  (tcp_passive_atom)              the active-N counter reached 0.
//   C -> O  (tcp_error_atom, caf::error)    why the connection is closing:
//                                           tcp_errc::frame_too_large,
//                                           errc::recv_failed (reset),
//                                           errc::send_failed,
//                                           errc::send_queue_full.
//   C -> O  (tcp_closed_atom)               the peer closed, or the
//                                           connection closed after an
//                                           error; C has ended (normally,
//                                           so the link does not kill O).
//   -> C    (active_atom, int32_t n)        {active, N}: n is ADDED to the
//                                           counter (floored at 0, at most
//                                           32767 or the request is refused
//                                           with errc::invalid_argument);
//                                           at 0: passive + notice.
//   -> C    (active_atom, once_atom)        one frame, then passive, no
//                                           notice.
//   -> C    (active_atom, bool)             {active, true} / {active, false}.
//   -> C    (send_atom, std::vector<uint8_t>)   send one frame (the prefix
//   -> C    (send_atom, std::string)            is added in prefix mode).
//   -> C    (send_atom, tcp_frames)         send every frame of a received
//                                           batch, without copying.
//           Sends queued in one turn of the shard leave in one sendmsg.
//   -> C    (controlling_atom, caf::actor)  -> void; only from the owner
//                                           (errc::not_owner otherwise).
//   -> C    (sockname_atom)                 -> tcp_endpoint
//   -> C    (peername_atom)                 -> tcp_endpoint
//   -> C    (stats_atom)                    -> tcp_stats
//   -> C    (caf::close_atom)               sends what is queued, then
//                                           closes; C exits normally and O
//                                           gets no tcp_closed (gen_tcp:close).
//
// Credits count frames, not messages or bytes. While the owner grants none
// the connection does not read: the kernel's receive buffer fills, the TCP
// window closes and the peer's sends block. That is the back-pressure.
// Complete frames already read stay buffered in the connection until credit
// comes. A peer's close is seen only while reading, as in gen_tcp.
//
// A connection starts passive, like the UDP socket.

#include <chrono>
#include <cstdint>
#include <functional>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>

#include <boost/asio/ip/tcp.hpp>

#include "castor/net/active_mode.hpp"
#include "castor/net/atoms.hpp"
#include "castor/net/errors.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/tcp_atoms.hpp"
#include "castor/net/tcp_errors.hpp"
#include "castor/net/tcp_frames.hpp"
#include "castor/net/tcp_framing.hpp"

namespace castor::net {

using tcp_endpoint = boost::asio::ip::tcp::endpoint;

struct tcp_options {
  active_mode active = active_mode::passive();
  tcp_framing framing = tcp_framing::raw();
  /// The longest frame accepted (payload bytes; a line counts its '\n').
  /// At most 64 MiB; a prefix narrower than that lowers it to what the
  /// prefix can encode (255 or 65535).
  uint32_t max_frame = 1 << 20;
  /// Bytes asked of the kernel per read; also the largest raw frame when
  /// max_frame is larger.
  uint32_t read_size = 64 << 10;
  /// Bytes waiting to be sent beyond this close the connection with
  /// errc::send_queue_full: the peer does not read, and dropping parts of a
  /// stream would corrupt it.
  uint64_t max_send_queue = 16 << 20;
  /// TCP_NODELAY. Sends are batched by the connection already.
  bool no_delay = true;
  /// 0 keeps the kernel default.
  int recv_buffer = 0;
  int send_buffer = 0;
};

/// Counters kept by a connection, answered to (stats_atom).
struct tcp_stats {
  uint64_t frames_in = 0;
  uint64_t bytes_in = 0;
  uint64_t reads = 0;
  uint64_t batches = 0;
  uint64_t frames_out = 0;
  uint64_t bytes_out = 0;
  uint64_t sendmsg_calls = 0;
  /// Bytes read but not yet delivered (waiting for credit).
  uint64_t buffered = 0;
  /// Bytes queued for sending now.
  uint64_t send_queued = 0;
};

/// What connect_tcp and adopt_tcp return.
struct tcp_connection {
  caf::actor actor;
  tcp_endpoint local;
  tcp_endpoint peer;
};

/// Checks `opts` the way connect_tcp, adopt_tcp and listeners do.
caf::error validate(const tcp_options& opts);

/// How long connect_tcp waits for the handshake by default.
constexpr std::chrono::milliseconds default_connect_timeout{5000};

/// Connects to `to` and returns the connection, owned by and linked to
/// `owner`. Blocks the caller until the handshake is done or failed, at most
/// `timeout` (then errc::timeout, context "connect <address>:<port>" and the
/// timeout); a refusal or other failure is errc::open_failed with the errno.
/// A timeout of zero or less is errc::invalid_argument.
caf::expected<tcp_connection>
connect_tcp(caf::actor_system& sys, io_shard& shard, const caf::actor& owner,
            const tcp_endpoint& to, const tcp_options& opts,
            std::chrono::milliseconds timeout = default_connect_timeout);

/// Wraps the connected socket `fd` (ownership passes to the connection, also
/// on failure, when it is closed).
caf::expected<tcp_connection> adopt_tcp(caf::actor_system& sys, io_shard& shard,
                                        const caf::actor& owner, int fd,
                                        const tcp_options& opts);

} // namespace castor::net

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::tcp_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(boost::asio::ip::tcp::endpoint)
