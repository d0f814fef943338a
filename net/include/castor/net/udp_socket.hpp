#pragma once

// A UDP socket as an actor, with gen_udp's semantics.
//
// open_udp() opens and binds the socket on the calling thread (so bind errors
// are returned, not delivered later), then pins it to an io shard. The
// returned caf::actor is a real actor (an actor_companion whose mailbox is
// drained on the shard's thread): link, monitor, send_exit and request work.
// The socket is linked to its owner and closes when the owner exits, for any
// reason.
//
// Protocol (socket = S, owner = O):
//   S -> O  (udp_atom, udp_batch)           datagrams, in active mode. One
//                                           message carries up to
//                                           read_packets datagrams.
//   S -> O  (udp_passive_atom)              the active-N counter reached 0.
//   S -> O  (udp_error_atom, caf::error)    non-fatal error (send failed,
//                                           ICMP unreachable, queue full).
//   -> S    (active_atom, int32_t n)        {active, N}: n is ADDED to the
//                                           counter (clamped at 0); at 0
//                                           the socket goes passive and O
//                                           gets udp_passive_atom. The
//                                           counter may not exceed 32767
//                                           (gen_udp's limit); a request
//                                           that would is refused with
//                                           errc::invalid_argument.
//   -> S    (active_atom, once_atom)        {active, once}: one datagram,
//                                           then passive, no notice.
//   -> S    (active_atom, bool)             {active, true} / {active, false}.
//   -> S    (recv_atom, int64_t timeout_ms) -> udp_batch with 1 datagram,
//                                           or errc::timeout; passive mode
//                                           only (errc::active_mode). A
//                                           negative timeout waits forever,
//                                           0 only takes what is queued.
//   -> S    (send_atom, udp_endpoint, std::vector<uint8_t>)   send_to
//   -> S    (send_atom, std::vector<uint8_t>)                 send (to the
//                                                             connected peer)
//   -> S    (send_atom, udp_endpoint, std::vector<std::vector<uint8_t>>)
//                                           several datagrams to one
//                                           destination in one message,
//                                           in order (a sender that makes
//                                           many pays one mailbox hop, not
//                                           one per datagram)
//   -> S    (send_atom, udp_endpoint, udp_batch)  forward every datagram of
//                                           a received batch, zero-copy.
//           Sends queued in one turn of the shard go out in one sendmmsg.
//   -> S    (setopt_atom, udp_option)       -> void or a net error
//   -> S    (caf::join_atom, multicast_membership)  -> void or a net error
//   -> S    (caf::leave_atom, multicast_membership) -> void or a net error
//   -> S    (controlling_atom, caf::actor)  -> void; only from the owner
//                                           (errc::not_owner otherwise).
//   -> S    (sockname_atom)                 -> udp_endpoint
//   -> S    (stats_atom)                    -> udp_stats
//   -> S    (caf::close_atom)               close; S exits normally.
//
// Credits count datagrams, not messages: a batch of 7 uses 7.
//
// Unlike gen_udp, whose default is {active, true}, a socket starts passive:
// nothing reaches an owner that did not ask for it.
//
// Two kinds of owner:
//   open_udp          any actor, usually one on CAF's scheduler. Every
//                     batch and every re-arm crosses threads (shard ->
//                     scheduler -> shard).
//   open_udp_on_shard an owner made for the socket, running on the
//                     socket's own shard as an actor_companion (like the
//                     TCP listener's on-shard handlers). Batches and
//                     re-arms are posts on one thread, with no wake-up:
//                     {active, once} runs several times faster (see
//                     docs/architecture.md, bench_socket). It is a real
//                     actor (link, monitor, send, quit) but shares its
//                     thread with every socket of the shard: it must not
//                     block.
// For a supervised socket, see udp_child.hpp; for the owner's side of the
// credit (refill without actor_cast(current_sender())), udp_credit.hpp.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/behavior.hpp>
#include <caf/expected.hpp>

#include "castor/net/active_mode.hpp"
#include "castor/net/atoms.hpp"
#include "castor/net/errors.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/send_buffers.hpp"
#include "castor/net/socket_options.hpp"
#include "castor/net/udp_batch.hpp"

namespace castor::net {

struct udp_options {
  /// Where to bind. Port 0 picks a free port (see udp_socket::local). An
  /// IPv6 address makes an AF_INET6 socket: every multicast option below
  /// is then its IPv6 counterpart (IPV6_MULTICAST_IF, _HOPS, _LOOP,
  /// IPV6_TCLASS, IPV6_MULTICAST_ALL, IPV6_RECVPKTINFO) and joins of IPv6
  /// groups are MLD joins.
  udp_endpoint local{boost::asio::ip::address_v4::loopback(), 0};
  /// IPV6_V6ONLY for an AF_INET6 socket, set before bind: 1 receives IPv6
  /// only, 0 IPv4 too (as IPv4-mapped addresses). -1 keeps the kernel
  /// default (net.ipv6.bindv6only). Refused on an IPv4 socket.
  int v6only = -1;
  /// If set, the socket is connected: plain send goes there and only its
  /// datagrams are received.
  std::optional<udp_endpoint> peer;

  active_mode active = active_mode::passive();
  /// Datagrams read per wake-up and the size of one receive block: gen_udp's
  /// read_packets. Bounds how long one busy socket holds its shard.
  uint32_t read_packets = 16;
  /// Receive slot size. Longer datagrams are cut and flagged truncated.
  uint32_t max_datagram = 9216;
  /// Sends waiting for the kernel beyond this are dropped and reported.
  uint32_t max_send_queue = 4096;
  /// UDP GSO (UDP_SEGMENT, Linux 4.18): queued datagrams of one size to
  /// one destination (the last of a run may be shorter) leave as one
  /// message that the kernel cuts into datagrams, up to 64 a message and
  /// 64 KB. The kernel then routes and queues them once, not once each,
  /// which halves its send path for a sender of many equal datagrams. Each
  /// datagram must fit the path MTU (there is no fragmentation). The first
  /// refusal (EIO: no checksum offload; EINVAL: larger than the MTU) turns
  /// it off for good, and those datagrams go one by one.
  bool segmentation = false;
  /// UDP GRO (UDP_GRO, Linux 5.0), segmentation's receiving side: the
  /// kernel may hand a run of datagrams of one size from one sender (a GSO
  /// message that crossed a veth whole, or datagrams a NIC's GRO joined)
  /// as one receive, queued and woken for once. Such a datagram (one batch
  /// entry) carries datagram::segment_size: cut it into datagrams of that
  /// size, the last possibly shorter. The owner must split them, so it is
  /// off by default; credits and read_packets count entries. Needs
  /// max_datagram 65536 (a joined run is up to 64 KB).
  bool gro = false;
  /// Where the socket puts the buffers of (send_atom, ..., vector) messages
  /// once sent, for the owner to fill again (send_buffers.hpp); null: it
  /// frees them.
  std::shared_ptr<send_buffers> recycle;

  bool reuse_address = false;
  bool reuse_port = false;
  /// SO_BINDTODEVICE, applied before bind.
  std::string bind_device;
  /// 0 keeps the kernel default.
  int recv_buffer = 0;
  int send_buffer = 0;

  /// IP_MULTICAST_IF (IPV6_MULTICAST_IF) by index; empty keeps the
  /// routing table's choice.
  interface_ref multicast_interface;
  /// Negative keeps the kernel default (ttl 1, loop on, tos 0). On IPv6:
  /// the hop limit, loop and traffic class.
  int multicast_ttl = -1;
  int multicast_loop = -1;
  int tos = -1;
  /// Joined before open_udp returns. A socket that joins a group itself,
  /// here or later with (join_atom, membership), is taken to want exactly
  /// the groups it joined: see multicast_all and packet_info, whose
  /// defaults follow the first such join.
  std::vector<multicast_membership> memberships;

  /// IP_MULTICAST_ALL. Linux's default, 1, hands a socket bound to the
  /// wildcard address (or to a group) every datagram for its port of every
  /// group that *any* socket on the host joined on the receiving interface:
  /// two programs on one port, each joined to its own group, both get both
  /// groups, and a socket joined to G on eth1 also gets G from eth2 if
  /// someone else joined it there. -1 (default): turned off by the socket's
  /// first own join, so that it receives the groups it joined on the
  /// interfaces it joined them on, and nothing else; left on for a socket
  /// that never joins, because one whose memberships are held elsewhere (the
  /// group manager's helper sockets) receives only through it. 0 or 1: set
  /// at open, and a join no longer changes it.
  int multicast_all = -1;

  /// IP_PKTINFO (IPV6_RECVPKTINFO): every datagram says which address it
  /// was sent to and which
  /// interface it came in on (datagram::destination and ::ifindex), read
  /// from the control messages of the same recvmmsg, without an allocation.
  /// -1 (default): turned on by the socket's first own join, since a socket
  /// joined to several groups, or to one group on several interfaces, has
  /// no other way to tell its datagrams apart; off for a socket that never
  /// joins (it usually knows where its datagrams were sent, and the kernel
  /// then writes no control message). 0 or 1: set at open, and a join no
  /// longer changes it. Turn it on for a unicast socket bound to the
  /// wildcard address on a multi-homed host to learn which address a
  /// client used.
  int packet_info = -1;

  /// The most receive-block memory the socket lets its owner (and whoever
  /// it passes batches to) hold at once, in payload bytes; each block is
  /// read_packets × max_datagram and stays pinned while any batch of it is
  /// alive. {active, N} bounds the *messages* an owner gets, not their
  /// memory: one datagram of 64 bytes delivered alone still pins a whole
  /// block, and in {active, true} nothing bounds the owner's backlog at all.
  /// At the bound the socket stops reading (counted in udp_stats as
  /// read_stalls) until a batch is dropped: the kernel's receive buffer
  /// takes the pressure, exactly as when the active-N credit runs out, and
  /// what it cannot hold the kernel drops and counts (RcvbufErrors); the
  /// socket itself never drops a datagram it has read. At least one block.
  uint64_t max_pinned_bytes = uint64_t{64} << 20;
};

/// Counters kept by the socket, answered to (stats_atom).
struct udp_stats {
  /// Datagrams received (with gro, a joined run counts each of its own).
  uint64_t received = 0;
  uint64_t batches = 0;
  uint64_t truncated = 0;
  uint64_t wakeups = 0;
  uint64_t sent = 0;
  uint64_t sendmmsg_calls = 0;
  /// Datagrams that left joined in a UDP GSO message (segmentation).
  uint64_t segmented = 0;
  uint64_t send_dropped = 0;
  uint64_t send_errors = 0;
  /// Receive blocks that exist now (see batch_pool::live_blocks).
  uint64_t blocks_live = 0;
  /// Payload bytes of the blocks on loan now (see max_pinned_bytes).
  uint64_t pinned_bytes = 0;
  /// How often reading stopped at max_pinned_bytes.
  uint64_t read_stalls = 0;
};

/// What open_udp returns.
struct udp_socket {
  caf::actor actor;
  /// The bound address (with the port the kernel picked).
  udp_endpoint local;
};

/// Opens a socket per `opts` on `shard`, owned by (and linked to) `owner`.
/// Option and bind failures come back as net errors naming the option.
caf::expected<udp_socket> open_udp(caf::actor_system& sys, io_shard& shard,
                                   const caf::actor& owner,
                                   const udp_options& opts);

/// The same on a shard picked by `shards`.
inline caf::expected<udp_socket> open_udp(caf::actor_system& sys,
                                          io_shards& shards,
                                          const caf::actor& owner,
                                          const udp_options& opts) {
  return open_udp(sys, shards.pick(), owner, opts);
}

/// Makes the behavior of a socket's on-shard owner. `self` is the owner (an
/// actor_companion run by the socket's shard), `sock` the socket it owns,
/// already linked to it. Called once, on the thread that opens the socket,
/// before the shard runs anything of either; keep state in the lambdas.
/// Exceptions and an empty behavior fail the open.
using udp_shard_owner_factory = std::function<caf::behavior(
  caf::actor_companion* self, const udp_socket& sock)>;

/// What open_udp_on_shard returns: the owner and its socket.
struct udp_owned_socket {
  caf::actor owner;
  udp_socket socket;
};

/// Opens a socket per `opts` on `shard` and an owner for it on the same
/// shard, made by `make_owner`. The owner ends like any actor (quit, a
/// non-normal exit message, the shard stopping); the socket closes with it.
caf::expected<udp_owned_socket>
open_udp_on_shard(caf::actor_system& sys, io_shard& shard,
                  const udp_options& opts, udp_shard_owner_factory make_owner);

inline caf::expected<udp_owned_socket>
open_udp_on_shard(caf::actor_system& sys, io_shards& shards,
                  const udp_options& opts, udp_shard_owner_factory make_owner) {
  return open_udp_on_shard(sys, shards.pick(), opts, std::move(make_owner));
}

} // namespace castor::net

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::udp_stats)
