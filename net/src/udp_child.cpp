#include "castor/net/udp_child.hpp"

#include <utility>

#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "udp_open.hpp"

#include "castor/net/errors.hpp"

namespace castor::net {

namespace detail {

// Hands a scheduled owner its socket: sent while the socket is being
// admitted, so it is the first message the owner gets from anyone.
using udp_owner_init_atom = caf::atom_constant<caf::atom("udp_oinit")>;

// What every start of one child shares.
struct udp_child_shared {
  io_shards_ref shards;
  udp_child_options opts;
  /// Exactly one of the two is set.
  udp_owner_factory make_owner;
  udp_shard_owner_factory make_shard_owner;
  std::shared_ptr<udp_socket_info> info = std::make_shared<udp_socket_info>();

  // The options of this start: port 0 keeps the port of the first open.
  udp_options socket_options() const {
    auto o = opts.socket;
    if (auto bound = info->local(); o.local.port() == 0 && bound.port() != 0)
      o.local.port(bound.port());
    return o;
  }

  void opened(const udp_socket& s) {
    std::lock_guard<std::mutex> lock{info->mtx_};
    info->local_ = s.local;
    info->socket_ = s.actor.address();
    ++info->opens_;
  }

  // Joins the groups through the group manager, held by `owner`. The
  // answers come back to the supervisor; a refusal ends the owner.
  void join_groups(caf::event_based_actor* sup, const caf::actor& owner) {
    if (!opts.group_manager)
      return;
    for (auto& req : opts.groups)
      sup
        ->request(opts.group_manager, caf::infinite, caf::join_atom::value,
                  owner, req)
        .then([](const membership_status&) {},
              [sup, owner](caf::error& err) {
                sup->send_exit(owner, std::move(err));
              });
  }

  start_result start(caf::event_based_actor* sup) {
    if (!make_owner && !make_shard_owner)
      return make_error(errc::invalid_argument, "owner", "no owner factory");
    auto lease = shards.lock();
    if (!lease)
      return make_error(errc::shutting_down, "io_shards destroyed");
    auto& shard = lease->pick();
    caf::actor owner;
    if (make_shard_owner) {
      auto s = open_udp_on_shard(sup->system(), shard, socket_options(),
                                 make_shard_owner);
      if (!s)
        return std::move(s.error());
      opened(s->socket);
      owner = std::move(s->owner);
    } else {
      auto make = make_owner;
      owner = sup->spawn([make](caf::event_based_actor* self) {
        return caf::behavior{
          [self, make](udp_owner_init_atom, const caf::actor& sock,
                       const udp_endpoint& local) {
            self->become(make(self, udp_socket{sock, local}));
          },
        };
      });
      auto s = open_udp_announced(
        sup->system(), shard, owner, socket_options(),
        [&](const udp_socket& x) {
          caf::anon_send(owner, udp_owner_init_atom::value, x.actor, x.local);
        });
      if (!s) {
        caf::anon_send_exit(owner, caf::exit_reason::kill);
        return std::move(s.error());
      }
      opened(*s);
    }
    join_groups(sup, owner);
    return owner;
  }
};

} // namespace detail

namespace {

udp_socket_child make_child(std::string id,
                            std::shared_ptr<detail::udp_child_shared> ctx) {
  auto info = ctx->info;
  auto spec = worker_with(
    std::move(id),
    [ctx](caf::event_based_actor* sup, const caf::message&) -> start_result {
      return ctx->start(sup);
    });
  return {std::move(spec), std::move(info)};
}

} // namespace

udp_socket_child make_udp_socket(std::string id, io_shards& shards,
                                 udp_child_options opts,
                                 udp_owner_factory owner) {
  auto ctx = std::make_shared<detail::udp_child_shared>();
  ctx->shards = shards.ref();
  ctx->opts = std::move(opts);
  ctx->make_owner = std::move(owner);
  return make_child(std::move(id), std::move(ctx));
}

udp_socket_child make_udp_socket_on_shard(std::string id, io_shards& shards,
                                          udp_child_options opts,
                                          udp_shard_owner_factory owner) {
  auto ctx = std::make_shared<detail::udp_child_shared>();
  ctx->shards = shards.ref();
  ctx->opts = std::move(opts);
  ctx->make_shard_owner = std::move(owner);
  return make_child(std::move(id), std::move(ctx));
}

} // namespace castor::net
