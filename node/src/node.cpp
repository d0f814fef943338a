#include "castor/node/node.hpp"

#include <set>

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>

#include "blocking_request.hpp"
#include "directory.hpp"
#include "peer.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/supervisor.hpp"

namespace castor::node {

struct node::impl {
  caf::actor_system& sys;
  node_options opts;
  caf::io::middleman_actor middleman;
  std::shared_ptr<detail::peer_context> ctx;
  caf::actor directory;
  caf::actor peers;
  uint16_t port = 0;

  impl(caf::actor_system& s, node_options o) : sys(s), opts(std::move(o)) {}

  std::chrono::milliseconds ask_timeout() const {
    // Longer than the node's own remote lookup, so that its answer (a
    // timeout included) arrives first.
    return opts.lookup_timeout + std::chrono::seconds(2);
  }

  caf::error running() const {
    return directory ? caf::error{}
                     : caf::make_error(errc::not_running, opts.name);
  }

  template <class... Ts>
  caf::error ask_ok(Ts&&... xs) {
    if (auto err = running())
      return err;
    return castor::detail::ask_ok(sys, directory, ask_timeout(),
                                  std::forward<Ts>(xs)...);
  }
};

node::node(caf::actor_system& sys, node_options opts)
    : impl_(std::make_unique<impl>(sys, std::move(opts))) {
  register_errors();
}

node::~node() {
  stop();
}

caf::expected<uint16_t> node::start() {
  auto& d = *impl_;
  if (d.directory)
    return d.port;
  if (auto err = castor::detail::refuse_blocking(d.sys))
    return err;
  if (d.opts.name.empty())
    return caf::make_error(errc::invalid_options, "a node needs a name");
  if (!d.sys.has_middleman()
      || (!d.opts.insecure && !d.sys.has_openssl_manager()))
    return caf::make_error(errc::invalid_options,
                           "the actor system was not prepared with "
                           "castor::node::configure for these options");
  d.middleman = d.opts.insecure ? d.sys.middleman().actor_handle()
                                : d.sys.openssl_manager().actor_handle();
  d.directory =
    d.sys.spawn(detail::directory, d.opts.name, d.opts.lookup_timeout,
                d.opts.max_in_flight, d.opts.ack_every);
  auto ctx = std::make_shared<detail::peer_context>();
  ctx->node_name = d.opts.name;
  ctx->middleman = d.middleman;
  ctx->directory = d.directory.address();
  ctx->connect_timeout = d.opts.connect_timeout;
  ctx->reach_timeout = d.opts.reach_timeout;
  ctx->tls = !d.opts.insecure;
  d.ctx = ctx;

  // Listen first, so that a peer that connects to us at once finds the
  // node's actor.
  caf::scoped_actor self{d.sys};
  caf::expected<uint16_t> port{caf::error{}};
  self
    ->request(d.middleman, d.ask_timeout(), caf::publish_atom::value,
              d.opts.listen_port,
              caf::actor_cast<caf::strong_actor_ptr>(d.directory),
              std::set<std::string>{}, d.opts.listen_host, true)
    .receive([&](uint16_t p) { port = p; },
             [&](caf::error& err) { port = std::move(err); });
  if (!port) {
    spdlog::error("node {}: cannot listen on {}:{}: {}", d.opts.name,
                  d.opts.listen_host, d.opts.listen_port,
                  describe(port.error()));
    self->send_exit(d.directory, caf::exit_reason::user_shutdown);
    d.directory = nullptr;
    return port;
  }
  d.port = *port;

  // One child per peer, restarted with backoff for as long as the node
  // runs: a peer that is away is not a reason to give up.
  supervisor_flags flags;
  flags.name = d.opts.supervisor_name();
  flags.intensity = 1000000;
  flags.period = std::chrono::milliseconds{1000};
  flags.backoff = d.opts.reconnect;
  std::vector<child_spec> specs;
  for (auto& p : d.opts.peers)
    specs.push_back(detail::peer_child(ctx, p));
  d.peers = spawn_supervisor(d.sys, flags, std::move(specs));
  // The peers serve the node's actor; should it end, they end too.
  caf::actor_cast<caf::abstract_actor*>(d.directory)
    ->attach_functor([sup = d.peers](const caf::error& reason) {
      caf::error why = reason;
      if (!why)
        why = caf::exit_reason::user_shutdown;
      caf::anon_send(sup, caf::exit_msg{caf::actor_addr{}, std::move(why)});
    });
  spdlog::info(
    "node {}: listening on {}:{}{}", d.opts.name, d.opts.listen_host, d.port,
    d.opts.insecure ? " (insecure: plaintext, no authentication)" : " (TLS)");
  return d.port;
}

void node::stop() {
  auto& d = *impl_;
  if (!d.directory)
    return;
  caf::anon_send(d.middleman, caf::close_atom::value, d.port);
  if (castor::detail::refuse_blocking(d.sys)) {
    caf::anon_send_exit(d.peers, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(d.directory, caf::exit_reason::user_shutdown);
  } else {
    // The peers first (in order, each per its shutdown), then the node's
    // actor.
    caf::scoped_actor self{d.sys};
    for (auto* who : {&d.peers, &d.directory}) {
      self->monitor(*who);
      self->send_exit(*who, caf::exit_reason::user_shutdown);
      self->receive(
        [](const caf::down_msg&) {},
        caf::after(std::chrono::seconds(10)) >>
          [&] { spdlog::warn("node {}: stop timed out", d.opts.name); });
    }
  }
  spdlog::info("node {}: stopped", d.opts.name);
  d.directory = nullptr;
  d.peers = nullptr;
  d.ctx = nullptr;
  d.port = 0;
}

const std::string& node::name() const noexcept {
  return impl_->opts.name;
}

uint16_t node::port() const noexcept {
  return impl_->port;
}

caf::actor node::handle() const {
  return impl_->directory;
}

caf::actor node::peer_supervisor() const {
  return impl_->peers;
}

caf::error node::connect(const peer_spec& peer) {
  auto& d = *impl_;
  if (auto err = d.running())
    return err;
  if (peer.name.empty() || peer.host.empty() || peer.port == 0)
    return caf::make_error(errc::invalid_options,
                           "peer needs a name, a host and a port: "
                             + peer.name);
  auto res = castor::detail::ask<caf::actor>(d.sys, d.peers, d.ask_timeout(),
                                             start_child_atom::value,
                                             detail::peer_child(d.ctx, peer));
  if (!res
      && (res.error() == castor::errc::already_started
          || res.error() == castor::errc::already_present))
    return caf::make_error(errc::duplicate_peer, peer.name);
  return res ? caf::error{} : std::move(res.error());
}

caf::error node::publish(const std::string& name, const caf::actor& whom) {
  return impl_->ask_ok(caf::publish_atom::value, name, whom);
}

caf::error node::unpublish(const std::string& name) {
  return impl_->ask_ok(caf::unpublish_atom::value, name);
}

caf::expected<caf::actor> node::whereis(const std::string& peer,
                                        const std::string& name) {
  auto& d = *impl_;
  if (auto err = d.running())
    return err;
  return castor::detail::ask<caf::actor>(d.sys, d.directory, d.ask_timeout(),
                                         whereis_atom::value, peer, name);
}

caf::error node::subscribe_node_events(const caf::actor& subscriber) {
  return impl_->ask_ok(subscribe_atom::value, subscriber);
}

caf::error node::watch(const caf::actor& subscriber, const std::string& peer,
                       const std::string& name) {
  return impl_->ask_ok(watch_atom::value, subscriber, peer, name);
}

void node::cast(const std::string& peer, const caf::actor& target,
                caf::message msg) {
  if (impl_->directory)
    caf::anon_send(impl_->directory, cast_atom::value, peer, target,
                   std::move(msg));
}

caf::expected<std::vector<peer_flow>> node::flows() {
  auto& d = *impl_;
  if (auto err = d.running())
    return err;
  return castor::detail::ask<std::vector<peer_flow>>(
    d.sys, d.directory, d.ask_timeout(), flows_atom::value);
}

caf::expected<std::vector<std::string>> node::connected_peers() {
  auto& d = *impl_;
  if (auto err = d.running())
    return err;
  return castor::detail::ask<std::vector<std::string>>(
    d.sys, d.directory, d.ask_timeout(), peers_atom::value);
}

} // namespace castor::node
