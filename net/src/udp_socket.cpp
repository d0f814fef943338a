#include "castor/net/udp_socket.hpp"

#include <exception>
#include <memory>

#include "shard_handler.hpp"
#include "udp_open.hpp"
#include "udp_port_claim.hpp"
#include "udp_session.hpp"

#include "castor/net/errors.hpp"

namespace castor::net {

namespace {

namespace asio = boost::asio;

caf::error validate(const udp_options& o) {
  if (o.read_packets < 1 || o.read_packets > 1024)
    return make_error(errc::invalid_argument, "read_packets", o.read_packets);
  if (o.max_datagram < 1 || o.max_datagram > 65536)
    return make_error(errc::invalid_argument, "max_datagram", o.max_datagram);
  if (o.gro && o.max_datagram < 65536)
    return make_error(errc::invalid_argument,
                      "max_datagram below 65536 with gro (a joined run of "
                      "datagrams is up to 64 KB)",
                      o.max_datagram);
  if (o.max_send_queue < 1)
    return make_error(errc::invalid_argument, "max_send_queue", 0);
  if (o.max_pinned_bytes < uint64_t{o.read_packets} * uint64_t{o.max_datagram})
    return make_error(errc::invalid_argument,
                      "max_pinned_bytes below one block (read_packets * "
                      "max_datagram)",
                      o.max_pinned_bytes);
  if (o.multicast_all < -1 || o.multicast_all > 1)
    return make_error(errc::invalid_argument, "multicast_all", o.multicast_all);
  if (o.packet_info < -1 || o.packet_info > 1)
    return make_error(errc::invalid_argument, "packet_info", o.packet_info);
  if (o.v6only < -1 || o.v6only > 1
      || (o.v6only >= 0 && !o.local.address().is_v6()))
    return make_error(errc::invalid_argument,
                      "v6only (0 or 1, on an IPv6 socket)", o.v6only);
  if (o.active.mode == active_mode::kind::counted
      && (o.active.count < 0
          || o.active.count > detail::active_state::max_count))
    return make_error(errc::invalid_argument, "active", o.active.count);
  return caf::none;
}

std::string to_text(const udp_endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// Everything that must happen before bind, then bind, then what may follow.
// The order matters: SO_REUSE* and SO_BINDTODEVICE only influence bind if set
// before it.
caf::error configure(asio::ip::udp::socket& sock, const udp_options& o) {
  boost::system::error_code ec;
  sock.open(o.local.protocol(), ec);
  if (ec)
    return errno_error(errc::open_failed, "socket", ec.value());
  auto fd = sock.native_handle();
  if (o.v6only >= 0)
    if (auto err = set_v6only(fd, o.v6only != 0))
      return err;
  if (o.reuse_address)
    if (auto err = set_reuse_address(fd, true))
      return err;
  if (o.reuse_port)
    if (auto err = set_reuse_port(fd, true))
      return err;
  if (!o.bind_device.empty())
    if (auto err = bind_to_device(fd, o.bind_device))
      return err;
  if (o.recv_buffer > 0)
    if (auto r = set_recv_buffer(fd, o.recv_buffer); !r)
      return std::move(r.error());
  if (o.send_buffer > 0)
    if (auto r = set_send_buffer(fd, o.send_buffer); !r)
      return std::move(r.error());
  if (!o.multicast_interface.empty()) {
    auto idx = resolve_interface(o.multicast_interface);
    if (!idx)
      return std::move(idx.error());
    if (auto err = set_multicast_interface(fd, *idx))
      return err;
  }
  if (o.multicast_ttl >= 0)
    if (auto err = set_multicast_ttl(fd, o.multicast_ttl))
      return err;
  if (o.multicast_loop >= 0)
    if (auto err = set_multicast_loop(fd, o.multicast_loop != 0))
      return err;
  if (o.tos >= 0)
    if (auto err = set_tos(fd, o.tos))
      return err;
  if (o.multicast_all >= 0)
    if (auto err = set_multicast_all(fd, o.multicast_all != 0))
      return err;
  if (o.packet_info >= 0)
    if (auto err = set_packet_info(fd, o.packet_info != 0))
      return err;
  if (o.gro)
    if (auto err = set_udp_gro(fd, true))
      return err;
  sock.bind(o.local, ec);
  // Still held by a socket whose owner has ended (its shard has not closed
  // it yet): a supervisor restarting that owner must bind on the first try.
  if (ec == boost::asio::error::address_in_use
      && detail::udp_port_claim::release_orphans(o.local))
    sock.bind(o.local, ec);
  if (ec)
    return errno_error(errc::open_failed, "bind " + to_text(o.local),
                       ec.value());
  if (o.peer) {
    sock.connect(*o.peer, ec);
    if (ec)
      return errno_error(errc::open_failed, "connect " + to_text(*o.peer),
                         ec.value());
  }
  for (auto& m : o.memberships)
    if (auto err = join_group(fd, m))
      return err;
  if (!o.memberships.empty())
    if (auto err = detail::apply_join_defaults(fd, o.multicast_all < 0,
                                               o.packet_info < 0))
      return err;
  sock.non_blocking(true, ec);
  if (ec)
    return errno_error(errc::open_failed, "O_NONBLOCK", ec.value());
  return caf::none;
}

// A configured, bound socket and the session that will run it.
struct opened {
  std::shared_ptr<detail::udp_session> session;
  udp_endpoint local;
};

caf::expected<opened> open_session(caf::actor_system& sys, io_shard& shard,
                                   const udp_options& opts) {
  if (auto err = validate(opts))
    return err;
  asio::ip::udp::socket sock{shard.context()};
  if (auto err = configure(sock, opts))
    return err;
  boost::system::error_code ec;
  auto local = sock.local_endpoint(ec);
  if (ec)
    return errno_error(errc::open_failed, "getsockname", ec.value());
  return opened{
    std::make_shared<detail::udp_session>(sys, shard, std::move(sock), opts),
    local};
}

} // namespace

namespace detail {

caf::expected<udp_socket>
open_udp_announced(caf::actor_system& sys, io_shard& shard,
                   const caf::actor& owner, const udp_options& opts,
                   const std::function<void(const udp_socket&)>& announce) {
  if (!owner)
    return make_error(errc::invalid_argument, "owner", "invalid actor");
  auto x = open_session(sys, shard, opts);
  if (!x)
    return std::move(x.error());
  udp_socket result;
  result.local = x->local;
  // The companion is spawned only once the shard has accepted the socket:
  // a companion that no shard would ever run could not be closed, and
  // ~actor_system would wait for it forever.
  if (auto err = shard_access::admit(
        shard,
        [&] {
          result.actor = x->session->start(owner);
          if (announce)
            announce(result);
        },
        [session = x->session] { session->admitted(); }))
    return err;
  return result;
}

} // namespace detail

caf::expected<udp_socket> open_udp(caf::actor_system& sys, io_shard& shard,
                                   const caf::actor& owner,
                                   const udp_options& opts) {
  return detail::open_udp_announced(sys, shard, owner, opts, nullptr);
}

caf::expected<udp_owned_socket>
open_udp_on_shard(caf::actor_system& sys, io_shard& shard,
                  const udp_options& opts, udp_shard_owner_factory make_owner) {
  if (!make_owner)
    return make_error(errc::invalid_argument, "owner", "no owner factory");
  auto x = open_session(sys, shard, opts);
  if (!x)
    return std::move(x.error());
  auto owner = std::make_shared<detail::shard_handler>(sys, shard);
  udp_owned_socket result;
  result.socket.local = x->local;
  // Read on the shard, after the factory ran under the admission lock.
  auto failed = std::make_shared<caf::error>();
  if (auto err = detail::shard_access::admit(
        shard,
        [&] {
          result.owner = owner->spawn();
          result.socket.actor = x->session->start(result.owner);
          try {
            auto bhvr = make_owner(owner->self(), result.socket);
            if (bhvr)
              owner->become(std::move(bhvr));
            else
              *failed = make_error(errc::invalid_argument, "owner",
                                   "the owner factory made no behavior");
          } catch (const std::exception& e) {
            *failed = make_error(errc::invalid_argument, "owner", e.what());
          } catch (...) {
            *failed = make_error(errc::invalid_argument, "owner",
                                 "the owner factory threw");
          }
        },
        // The owner first: ending it (when its behavior failed) then ends
        // the socket through their link.
        [owner, session = x->session, failed] {
          owner->admitted(*failed);
          session->admitted();
        }))
    return err;
  if (*failed)
    return *failed;
  return result;
}
} // namespace castor::net
