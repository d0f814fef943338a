#include "tcp_shard_handler.hpp"

#include <memory>

#include "shard_handler.hpp"

namespace castor::net::detail {

caf::expected<caf::actor> spawn_shard_handler(
  caf::actor_system& sys, io_shard& shard,
  const std::function<caf::behavior(caf::actor_companion*)>& init) {
  auto h = std::make_shared<shard_handler>(sys, shard);
  caf::actor hdl;
  if (auto err = shard_access::admit(
        shard,
        [&] {
          hdl = h->spawn();
          h->become(init(h->self()));
        },
        [h] { h->admitted(); }))
    return err;
  return hdl;
}

} // namespace castor::net::detail
