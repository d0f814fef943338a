#include "peer.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "directory.hpp"
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/errors.hpp"

namespace castor::node::detail {

namespace {

struct peer_state {
  caf::actor remote;
  static inline const char* name = "castor.node.peer";
};

using self_ptr = caf::stateful_actor<peer_state>*;

/// Asks a probe whether the peer's port answers (see reach()).
using reach_atom = caf::atom_constant<caf::atom("nd_reach")>;

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

/// "" if host:port answers a TCP connect within `timeout`, else why not.
/// Polls in slices, so that a peer actor that ends meanwhile (`stop`) does
/// not keep its actor system waiting for the whole timeout.
std::string reach(const std::string& host, uint16_t port,
                  std::chrono::milliseconds timeout,
                  const std::atomic<bool>& stop) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
      rc != 0)
    return std::string{"cannot resolve: "} + gai_strerror(rc);
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard{found, freeaddrinfo};
  int fd =
    socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return std::strerror(errno);
  std::string why;
  if (connect(fd, found->ai_addr, found->ai_addrlen) != 0
      && errno != EINPROGRESS) {
    why = std::strerror(errno);
  } else {
    why = "no answer within " + std::to_string(timeout.count()) + " ms";
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 100) > 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        why = err == 0 ? std::string{} : std::strerror(err);
        break;
      }
    }
  }
  close(fd);
  return why;
}

void connect_via_middleman(self_ptr self,
                           std::shared_ptr<const peer_context> ctx,
                           const peer_spec& peer) {
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
  // The middleman is asked only once the peer's port answers (see
  // node_options::reach_timeout). The check runs on a thread of its own
  // (a blocking actor), which stops polling when this actor ends.
  auto stop = std::make_shared<std::atomic<bool>>(false);
  self->attach_functor([stop] { stop->store(true); });
  auto probe =
    self->spawn([host = peer.host, port = peer.port,
                 timeout = ctx->reach_timeout, stop](caf::blocking_actor* b) {
      b->receive([&](reach_atom) { return reach(host, port, timeout, *stop); });
    });
  self
    ->request(probe, ctx->reach_timeout + std::chrono::seconds{1},
              reach_atom::value)
    .then(
      [self, ctx, peer](const std::string& why) {
        if (!why.empty()) {
          // Not a TLS matter: nothing answers there (yet).
          spdlog::warn("node {}: peer {} unreachable: {}", ctx->node_name,
                       where(peer), why);
          self->quit(caf::make_error(errc::connect_failed, peer.name,
                                     "port does not answer: " + why));
          return;
        }
        connect_via_middleman(self, ctx, peer);
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
