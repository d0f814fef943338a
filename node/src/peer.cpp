#include "peer.hpp"

#include <set>

#include <caf/actor_cast.hpp>
#include <caf/stateful_actor.hpp>

#include "directory.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"

namespace castor::node::detail {

namespace {

struct peer_state {
  caf::actor remote;
  static inline const char* name = "castor.node.peer";
};

using self_ptr = caf::stateful_actor<peer_state>*;

std::string where(const peer_spec& p) {
  return p.name + " at " + p.host + ":" + std::to_string(p.port);
}

void failed(self_ptr self, const peer_context& ctx, const peer_spec& peer,
            caf::error err) {
  // With TLS, a certificate the other side rejects (or we reject) shows
  // here as a closed connection during the handshake, or as no answer.
  spdlog::warn(
    "node {}: peer {} refused or unreachable{}: {}", ctx.node_name, where(peer),
    ctx.tls ? " (TLS: check both certificates and the CA)" : "", describe(err));
  self->quit(caf::make_error(errc::connect_failed, peer.name, describe(err)));
}

void hello(self_ptr self, std::shared_ptr<const peer_context> ctx,
           const peer_spec& peer) {
  self
    ->request(self->state.remote, ctx->connect_timeout, hello_atom::value,
              ctx->node_name)
    .then(
      [self, ctx, peer](hello_atom, const std::string& name) {
        if (name != peer.name) {
          spdlog::error("node {}: {} says it is {}", ctx->node_name,
                        where(peer), name);
          self->quit(caf::make_error(errc::name_mismatch, peer.name, name));
          return;
        }
        auto dir = caf::actor_cast<caf::actor>(ctx->directory);
        if (!dir) {
          self->quit(caf::make_error(errc::not_running, ctx->node_name));
          return;
        }
        self->send(dir, peer_up_atom::value, peer.name, self->state.remote);
      },
      [self, ctx, peer](caf::error& err) { failed(self, *ctx, peer, err); });
}

caf::behavior peer_actor(self_ptr self, std::shared_ptr<const peer_context> ctx,
                         peer_spec peer) {
  self->set_down_handler([self, ctx, peer](caf::down_msg& dm) {
    if (dm.source != self->state.remote.address())
      return;
    spdlog::warn("node {}: lost peer {}: {}", ctx->node_name, where(peer),
                 describe(dm.reason));
    self->quit(
      caf::make_error(errc::peer_lost, peer.name, describe(dm.reason)));
  });
  self
    ->request(ctx->middleman, ctx->connect_timeout, caf::connect_atom::value,
              peer.host, peer.port)
    .then(
      [self, ctx, peer](const caf::node_id&, caf::strong_actor_ptr& ptr,
                        const std::set<std::string>&) {
        if (!ptr) {
          failed(self, *ctx, peer,
                 caf::make_error(errc::connect_failed, "nothing published"));
          return;
        }
        self->state.remote = caf::actor_cast<caf::actor>(std::move(ptr));
        self->monitor(self->state.remote);
        hello(self, ctx, peer);
      },
      [self, ctx, peer](caf::error& err) { failed(self, *ctx, peer, err); });
  return {
    [](caf::ok_atom) {}, // nothing else to do: it lives while the link does
  };
}

} // namespace

child_spec peer_child(std::shared_ptr<const peer_context> ctx, peer_spec peer) {
  auto id = "peer:" + peer.name;
  auto spec =
    worker(std::move(id), peer_actor, std::move(ctx), std::move(peer));
  spec.shutdown = shutdown_spec::after(std::chrono::milliseconds{2000});
  return spec;
}

} // namespace castor::node::detail
