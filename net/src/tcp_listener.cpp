#include "castor/net/tcp_listener.hpp"

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "tcp_listener_shared.hpp"
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"
#include "castor/net/errors.hpp"

namespace castor::net {

namespace {

std::string to_text(const tcp_endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

caf::error validate(const tcp_listener_options& o) {
  if (o.num_acceptors < 1)
    return make_error(errc::invalid_argument, "num_acceptors", 0);
  if (o.max_connections < 1)
    return make_error(errc::invalid_argument, "max_connections", 0);
  if (o.backlog < 1)
    return make_error(errc::invalid_argument, "backlog", o.backlog);
  return validate(o.connection);
}

// Opens, binds and listens; the listen_socket child. The socket closes when
// the returned actor ends, so a restart of this child rebinds.
start_result
open_listen_socket(caf::event_based_actor* sup,
                   const std::shared_ptr<detail::listener_shared>& ctx) {
  auto& o = ctx->opts;
  if (auto err = validate(o))
    return err;
  auto ep = o.local;
  // Port 0 picked a port the first time; keep it across restarts, so that
  // clients can reconnect to the same address.
  if (auto bound = ctx->info->local(); ep.port() == 0 && bound.port() != 0)
    ep.port(bound.port());
  int fd = ::socket(ep.protocol().family(),
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return errno_error(errc::open_failed, "socket", errno);
  // Takes errno first: building the message may change it.
  auto fail = [fd, &ep](const char* what) {
    auto err = errno;
    ::close(fd);
    return errno_error(errc::open_failed, what + (" " + to_text(ep)), err);
  };
  int one = 1;
  if (o.reuse_address
      && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    return fail("SO_REUSEADDR");
  if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0)
    return fail("bind");
  if (::listen(fd, o.backlog) != 0)
    return fail("listen");
  tcp_endpoint local;
  socklen_t len = static_cast<socklen_t>(local.capacity());
  if (::getsockname(fd, local.data(), &len) != 0)
    return fail("getsockname");
  local.resize(len);
  ctx->set_local(local);
  ctx->set_listen_fd(fd);
  auto hdl = sup->spawn([local](caf::event_based_actor*) -> caf::behavior {
    return {
      [local](sockname_atom) { return local; },
    };
  });
  hdl->attach_functor([ctx, fd] { ctx->close_listen_fd(fd); });
  return hdl;
}

// The tree of one listener; the same for both kinds of handler.
tcp_listener make_tree(std::string id,
                       std::shared_ptr<detail::listener_shared> ctx) {
  auto conns = worker_with(
    "connections",
    [ctx](caf::event_based_actor* sup, const caf::message&) -> start_result {
      return detail::spawn_conns_sup(sup, ctx);
    });
  // It bounds its connections' shutdown itself (opts.shutdown).
  conns.type = child_type::supervisor;
  conns.shutdown = shutdown_spec::infinity();
  auto listen = worker_with(
    "listen_socket",
    [ctx](caf::event_based_actor* sup, const caf::message&) -> start_result {
      return open_listen_socket(sup, ctx);
    });
  std::vector<child_spec> acceptors;
  for (size_t i = 0; i < ctx->opts.num_acceptors; ++i)
    acceptors.emplace_back(
      worker_with("acceptor_" + std::to_string(i),
                  [ctx, i](caf::event_based_actor* sup,
                           const caf::message&) -> start_result {
                    return detail::start_acceptor(sup->system(), ctx, i);
                  }));
  supervisor_flags acceptor_flags;
  acceptor_flags.strategy = strategy::one_for_one;
  acceptor_flags.intensity = ctx->opts.intensity;
  acceptor_flags.period = ctx->opts.period;
  acceptor_flags.name = id + "/acceptors";
  supervisor_flags listener_flags;
  listener_flags.strategy = strategy::rest_for_one;
  listener_flags.intensity = ctx->opts.intensity;
  listener_flags.period = ctx->opts.period;
  listener_flags.name = id;
  std::vector<child_spec> children{std::move(conns), std::move(listen),
                                   supervisor_child("acceptors",
                                                    std::move(acceptor_flags),
                                                    std::move(acceptors))};
  auto info = ctx->info;
  return {supervisor_child(std::move(id), std::move(listener_flags),
                           std::move(children)),
          std::move(info)};
}

} // namespace

tcp_listener make_tcp_listener(std::string id, io_shards& shards,
                               tcp_listener_options opts,
                               tcp_handler_factory handler) {
  return make_tree(std::move(id), std::make_shared<detail::listener_shared>(
                                    shards.ref(), std::move(opts),
                                    std::move(handler), nullptr));
}

tcp_listener make_tcp_listener_on_shards(std::string id, io_shards& shards,
                                         tcp_listener_options opts,
                                         tcp_shard_handler_factory handler) {
  return make_tree(std::move(id), std::make_shared<detail::listener_shared>(
                                    shards.ref(), std::move(opts), nullptr,
                                    std::move(handler)));
}

} // namespace castor::net
