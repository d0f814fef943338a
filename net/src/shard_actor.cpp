#include "castor/net/shard_actor.hpp"

#include <memory>

#include "shard_handler.hpp"

namespace castor::net {

caf::expected<caf::actor> spawn_on_shard(caf::actor_system& sys,
                                         io_shard& shard,
                                         const shard_actor_init& init) {
  auto h = std::make_shared<detail::shard_handler>(sys, shard);
  caf::actor hdl;
  if (auto err = detail::shard_access::admit(
        shard,
        [&] {
          hdl = h->spawn();
          h->become(init(h->self()));
        },
        [h] { h->admitted(); }))
    return err;
  return hdl;
}

} // namespace castor::net
