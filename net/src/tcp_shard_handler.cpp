#include "tcp_shard_handler.hpp"

#include <memory>

#include "shard_companion.hpp"

namespace castor::net::detail {

namespace {

class shard_handler final : public shard_companion {
public:
  using shard_companion::shard_companion;

  caf::actor
  start(const std::function<caf::behavior(caf::actor_companion*)>& init) {
    auto hdl = spawn_companion();
    companion()->become(init(companion()));
    return hdl;
  }

  void admitted() { register_resident(); }

private:
  void release() override {
    // Owns nothing but its behavior.
  }
};

} // namespace

caf::expected<caf::actor> spawn_shard_handler(
  caf::actor_system& sys, io_shard& shard,
  const std::function<caf::behavior(caf::actor_companion*)>& init) {
  auto h = std::make_shared<shard_handler>(sys, shard);
  caf::actor hdl;
  if (auto err = shard_access::admit(
        shard, [&] { hdl = h->start(init); }, [h] { h->admitted(); }))
    return err;
  return hdl;
}

} // namespace castor::net::detail
