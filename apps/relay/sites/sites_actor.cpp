#include "sites/sites_actor.hpp"

#include <map>
#include <random>

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/stateful_actor.hpp>

#include <spdlog/spdlog.h>

namespace castor::relay {

namespace nd = castor::node;

castor::node::node_options node_options_of(const sites_config& sites) {
  nd::node_options o;
  const auto& n = *sites.node;
  o.name = n.name;
  o.listen_host = n.listen.host();
  o.listen_port = n.listen.port;
  o.insecure = n.insecure;
  o.tls.cert = n.tls_cert;
  o.tls.key = n.tls_key;
  o.tls.ca = n.tls_ca;
  // Reconnect within 2 s of the path returning (issue 17), however long
  // it was away. An attempt fails at once where nothing listens or there
  // is no route, and after reach_timeout (1 s) where the path drops
  // packets; attempts follow each other at most 500 ms apart. So a path
  // that returns is tried within 500 ms (refused, unreachable) or 1.5 s
  // (it returned just after an attempt's SYN was lost), plus the
  // handshakes.
  o.reconnect =
    backoff_spec{std::chrono::milliseconds{100}, std::chrono::milliseconds{500},
                 2.0, std::chrono::milliseconds{10000}};
  o.reach_timeout = std::chrono::milliseconds{1000};
  o.connect_timeout = std::chrono::milliseconds{2000};
  o.heartbeat = std::chrono::milliseconds{500};
  for (auto& p : sites.peers)
    if (connects_to(n.name, p.name))
      o.peers.push_back(
        nd::peer_spec{p.name, p.address.host(), p.address.port});
  return o;
}

bool connects_to(const std::string& self, const std::string& peer) {
  return self < peer;
}

void peer_connector::connect(castor::node::peer_spec peer) {
  std::lock_guard<std::mutex> guard{mtx_};
  threads_.emplace_back([this, peer] {
    if (auto err = node_.connect(peer))
      spdlog::error("sites: cannot add peer {}: {}", peer.name,
                    castor::describe(err));
  });
}

void peer_connector::join() {
  std::vector<std::thread> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    all.swap(threads_);
  }
  for (auto& t : all)
    t.join();
}

namespace {

struct pending_interest {
  std::string from;
  std::string key;
  std::vector<site_group> groups;
};

struct sites_state {
  relay_context_ptr ctx;
  std::shared_ptr<sites::site_engine> engine;
  std::function<caf::actor()> node;
  std::shared_ptr<peer_connector> connector;
  sites_config config;
  /// Each up peer's "sites" actor.
  std::map<std::string, caf::actor> remotes;
  /// Interest that arrived before the sender's handle resolved.
  std::map<caf::actor_addr, pending_interest> pending;
  static inline const char* name = "sites";
};

using sites_self = caf::stateful_actor<sites_state>;

std::vector<site_group> wanted_from(const sites_config& c,
                                    const std::string& peer) {
  std::vector<site_group> out;
  for (auto& imp : c.imports)
    if (imp.peer == peer)
      out.push_back(site_group{imp.group, imp.port});
  return out;
}

void send_interest(sites_self* self, const std::string& peer) {
  auto& st = self->state;
  auto i = st.remotes.find(peer);
  if (i == st.remotes.end())
    return;
  self->send(i->second, site_interest_atom::value, st.config.node->name,
             st.engine->rx_key(peer),
             encode_interest(wanted_from(st.config, peer)));
}

void watch(sites_self* self, const std::string& peer) {
  if (!connects_to(self->state.config.node->name, peer))
    return; // it connects to us: its first interest message brings it
  auto n = self->state.node();
  if (n)
    self->send(n, nd::watch_atom::value, caf::actor{self}, peer,
               std::string{"sites"});
}

void apply_interest(sites_self* self, const std::string& peer,
                    pending_interest& x) {
  if (x.from != peer) {
    spdlog::warn("sites: peer {} sent interest in the name of {}; ignored",
                 peer, x.from);
    return;
  }
  spdlog::info("sites: peer {} wants {} group(s)", peer, x.groups.size());
  self->state.engine->set_interest(peer, std::move(x.groups), std::move(x.key));
}

/// Believes the name a connecting peer gives in its first interest message
/// only if its node link comes from that peer's configured address: a
/// holder of a certificate of the same CA cannot speak for another peer
/// from elsewhere (docs/sites.md, "Threat model"). CAF 0.17's TLS layer
/// does not show the accepting side the peer's certificate; the middleman
/// does tell the address of the connection a node came in on.
void accept_peer(sites_self* self, caf::actor remote, pending_interest x) {
  if (!remote)
    return;
  auto mm = self->home_system().middleman().actor_handle();
  auto node = remote.node();
  auto claimed = x.from;
  self->request(mm, std::chrono::seconds{5}, caf::get_atom::value, node)
    .then(
      [self, remote, x = std::move(x)](
        const caf::node_id&, const std::string& from, uint16_t) mutable {
        auto& st = self->state;
        auto* conf = st.config.find_peer(x.from);
        if (!conf)
          return;
        if (!conf->address.host_is(from)) {
          spdlog::error("sites: a node connected from '{}' says it is peer "
                        "{}, configured at {}; refused",
                        from, x.from, conf->address.host());
          return;
        }
        auto peer = x.from;
        if (st.remotes[peer] != remote) {
          st.remotes[peer] = remote;
          self->monitor(remote);
        }
        apply_interest(self, peer, x);
        send_interest(self, peer);
      },
      [claimed](const caf::error& err) {
        spdlog::warn("sites: cannot tell where peer {} connected from: {}",
                     claimed, castor::describe(err));
      });
}

void reload(sites_self* self) {
  auto& st = self->state;
  auto next = st.ctx->config().sites;
  if (!(next.node == st.config.node))
    spdlog::warn("sites: [node] changed; it takes effect at the next start");
  next.node = st.config.node;
  for (auto& p : next.peers)
    if (!st.config.find_peer(p.name)) {
      spdlog::info("sites: adding peer {} at {}", p.name,
                   p.address.to_string());
      if (st.connector && connects_to(st.config.node->name, p.name))
        st.connector->connect(
          nd::peer_spec{p.name, p.address.host(), p.address.port});
      watch(self, p.name);
    }
  for (auto& p : st.config.peers)
    if (!next.find_peer(p.name)) {
      spdlog::info("sites: removing peer {}", p.name);
      st.remotes.erase(p.name);
    }
  st.config = std::move(next);
  st.engine->configure(st.config);
  for (auto& [peer, remote] : st.remotes)
    send_interest(self, peer);
}

caf::behavior sites_actor(sites_self* self, relay_context_ptr ctx,
                          std::shared_ptr<sites::site_engine> engine,
                          std::function<caf::actor()> node,
                          std::shared_ptr<peer_connector> connector) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.engine = std::move(engine);
  st.node = std::move(node);
  st.connector = std::move(connector);
  st.config = st.ctx->config().sites;
  st.engine->configure(st.config);
  // A peer's stray or newer message must not end the actor.
  // A peer that connected to us went away (its link or its actor).
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto i = st.remotes.begin(); i != st.remotes.end(); ++i)
      if (i->second.address() == dm.source) {
        spdlog::warn("sites: peer {} went away", i->first);
        st.engine->peer_down(i->first);
        st.remotes.erase(i);
        return;
      }
  });
  self->set_default_handler(
    [](caf::scheduled_actor*,
       caf::message_view& x) -> caf::result<caf::message> {
      spdlog::debug("sites: ignored {}",
                    caf::to_string(x.move_content_to_message()));
      return caf::message{};
    });
  if (auto n = st.node()) {
    self->send(n, caf::publish_atom::value, std::string{"sites"},
               caf::actor{self});
    self->send(n, nd::subscribe_atom::value, caf::actor{self});
  }
  for (auto& p : st.config.peers)
    watch(self, p.name);
  return {
    [](caf::ok_atom) {
      // the node's answers to publish, subscribe and watch
    },
    [self](nd::node_up_atom, const std::string& peer) {
      spdlog::info("sites: node link to {} up", peer);
    },
    [self](nd::node_down_atom, const std::string& peer, const caf::error&) {
      spdlog::warn("sites: node link to {} down", peer);
      self->state.remotes.erase(peer);
      self->state.engine->peer_down(peer);
    },
    [self](nd::name_up_atom, const std::string& peer, const std::string&,
           const caf::actor& remote) {
      auto& st = self->state;
      if (!st.config.find_peer(peer))
        return;
      st.remotes[peer] = remote;
      send_interest(self, peer);
      if (auto i = st.pending.find(remote.address()); i != st.pending.end()) {
        apply_interest(self, peer, i->second);
        st.pending.erase(i);
      }
    },
    [self](nd::name_down_atom, const std::string& peer, const std::string&,
           const caf::error&) {
      self->state.remotes.erase(peer);
      self->state.engine->peer_down(peer);
    },
    [self](site_interest_atom, std::string& from, std::string& key,
           const std::string& groups) {
      auto& st = self->state;
      auto wanted = decode_interest(groups);
      if (!wanted) {
        spdlog::error("sites: interest from '{}' is not in the format this "
                      "relay reads (a castor-relay from before IPv6 groups?); "
                      "ignored: upgrade both sites",
                      from);
        return;
      }
      pending_interest x{std::move(from), std::move(key), std::move(*wanted)};
      auto sender = self->current_sender();
      for (auto& [peer, remote] : st.remotes)
        if (remote.address() == sender) {
          apply_interest(self, peer, x);
          return;
        }
      // A peer that connects to us: its node link was authenticated (TLS)
      // when it was accepted, and this is how we learn its sites actor,
      // once the link is seen to come from the peer's configured address.
      if (st.config.find_peer(x.from)
          && !connects_to(st.config.node->name, x.from)) {
        accept_peer(self, caf::actor_cast<caf::actor>(sender), std::move(x));
        return;
      }
      // Not resolved yet: applied once its name_up names the sender. Bounded
      // by the peers that can resolve.
      if (st.pending.size() < 4 * st.config.peers.size() + 4)
        st.pending[caf::actor_cast<caf::actor_addr>(sender)] = std::move(x);
    },
    [self](sites_reload_atom) { reload(self); },
    [self](site_stats_atom) { return self->state.engine->stats(); },
  };
}

} // namespace

child_spec sites_child(std::string id, relay_context_ptr ctx,
                       std::function<caf::actor()> node,
                       std::shared_ptr<peer_connector> connector) {
  auto engine = std::make_shared<std::shared_ptr<sites::site_engine>>();
  return worker_with(
    std::move(id),
    [engine, ctx, node, connector](caf::event_based_actor* sup,
                                   const caf::message&) -> start_result {
      if (!*engine) {
        auto sites = ctx->config().sites;
        std::random_device rd;
        auto incarnation =
          (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
        auto e = std::make_shared<sites::site_engine>(incarnation);
        auto err = e->start(sites.node->listen);
        if (!err.empty())
          return caf::make_error(caf::sec::runtime_error, "sites: " + err);
        spdlog::info("sites: node {} data on UDP {}", sites.node->name,
                     sites.node->listen.to_string());
        *engine = std::move(e);
      }
      return sup->spawn(sites_actor, ctx, *engine, node, connector);
    });
}

} // namespace castor::relay
