#include "metrics/metrics_actor.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

#include "control/interface_facts.hpp"
#include "control/reload_counters.hpp"
#include "metrics/metrics_families.hpp"
#include "metrics/metrics_http.hpp"
#include "metrics/metrics_ledger.hpp"
#include "model/atoms.hpp"
#include "sites/sites_atoms.hpp"
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include "castor/actors/atoms.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/net/group_manager.hpp"

namespace castor::relay {

namespace {

using metrics_tick_atom = caf::atom_constant<caf::atom("mtr_tick")>;

/// How long one gather waits for a peer. A peer that does not answer in
/// time keeps its last figures (the ledger and the previous view).
constexpr auto peer_timeout = std::chrono::seconds{5};

/// What the HTTP threads read: the text of the last gather, swapped whole
/// under a lock, so a scrape never sees half a gather and never waits for
/// more than a string copy.
class metrics_board {
public:
  void publish(std::string text) {
    std::lock_guard<std::mutex> guard{mtx_};
    text_ = std::move(text);
  }

  std::string text() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return text_;
  }

private:
  mutable std::mutex mtx_;
  std::string text_;
};

/// Outlives metrics actor restarts (see the header).
struct metrics_endpoint {
  std::shared_ptr<metrics_board> board = std::make_shared<metrics_board>();
  std::unique_ptr<metrics_http_server> server;
  /// Touched only by the running metrics actor.
  worker_ledger ledger;
  metrics_view last;
};

// -- gathering -------------------------------------------------------------

/// One gather: four strands (workers, memberships, tree, sites) that each call
/// done() once; the last one publishes.
struct gathering {
  int strands = 4;
  std::optional<std::vector<sites::site_peer_stats>> peers;
  bool workers_listed = false;
  std::vector<std::string> worker_ids;
  std::optional<std::map<std::string, uint64_t>> memberships;
  std::map<std::string, std::map<std::string, uint64_t>>
    memberships_per_interface;
  std::optional<std::vector<std::pair<std::string, uint64_t>>> restarts;
};

using gathering_ptr = std::shared_ptr<gathering>;
using done_fn = std::function<void()>;

void gather_workers(caf::event_based_actor* self, const relay_context_ptr& ctx,
                    const std::shared_ptr<metrics_endpoint>& ep,
                    gathering_ptr g, done_fn done) {
  auto workers = ctx->get(relay_role::workers);
  if (!workers) {
    done();
    return;
  }
  self->request(workers, peer_timeout, which_children_atom::value)
    .then(
      [self, ep, g, done](const std::vector<child_info>& children) {
        g->workers_listed = true;
        auto remaining = std::make_shared<size_t>(0);
        for (const auto& c : children) {
          g->worker_ids.push_back(c.id);
          if (c.handle)
            ++*remaining;
        }
        if (*remaining == 0) {
          done();
          return;
        }
        for (const auto& c : children) {
          if (!c.handle)
            continue;
          auto id = c.id;
          auto incarnation = c.handle.id();
          self->request(c.handle, peer_timeout, forwarder_stats_atom::value)
            .then(
              [ep, id, incarnation, remaining, done](worker_snapshot& snap) {
                ep->ledger.record(id, incarnation, std::move(snap));
                if (--*remaining == 0)
                  done();
              },
              [remaining, done](const caf::error&) {
                if (--*remaining == 0)
                  done();
              });
        }
      },
      [done](const caf::error&) { done(); });
}

void gather_memberships(caf::event_based_actor* self,
                        const relay_context_ptr& ctx, gathering_ptr g,
                        done_fn done) {
  auto gm = ctx->get(relay_role::group_manager);
  if (!gm) {
    done();
    return;
  }
  self->request(gm, peer_timeout, net::memberships_atom::value)
    .then(
      [g, done](const std::vector<net::membership_status>& all) {
        std::map<std::string, uint64_t> by_state;
        std::map<std::string, std::map<std::string, uint64_t>> per_if;
        for (const auto& m : all) {
          ++by_state[m.state];
          ++per_if[m.interface][m.state];
        }
        g->memberships = std::move(by_state);
        g->memberships_per_interface = std::move(per_if);
        done();
      },
      [done](const caf::error&) { done(); });
}

void gather_restarts(caf::event_based_actor* self, const relay_context_ptr& ctx,
                     gathering_ptr g, done_fn done) {
  // The root is known once the whole tree has started (relay_app.cpp).
  auto root = ctx->get(relay_role::root);
  if (!root) {
    done();
    return;
  }
  self->request(root, peer_timeout, tree_atom::value)
    .then(
      [g, done](const tree_node& tree) {
        g->restarts = restarts_by_path(tree);
        done();
      },
      [done](const caf::error&) { done(); });
}

/// Relaying across sites: the peers' counters, when there is a [node].
void gather_sites(caf::event_based_actor* self, const relay_context_ptr& ctx,
                  gathering_ptr g, done_fn done) {
  auto sites = ctx->get(relay_role::sites);
  if (!sites) {
    done();
    return;
  }
  self->request(sites, peer_timeout, site_stats_atom::value)
    .then(
      [g, done](const sites::site_engine_stats& st) {
        g->peers = st.peers;
        done();
      },
      [done](const caf::error&) { done(); });
}

void publish(const relay_context_ptr& ctx, metrics_endpoint& ep, gathering& g) {
  auto& view = ep.last;
  view.rules.clear();
  for (const auto& r : *ctx->rules().rules)
    view.rules.push_back(r.name);
  const auto retired = ctx->retired_per_worker();
  if (g.workers_listed)
    ep.ledger.retain(g.worker_ids, view.rules, retired);
  view.workers = ep.ledger.totals(retired);
  if (g.memberships) {
    view.memberships = std::move(*g.memberships);
    view.memberships_per_interface = std::move(g.memberships_per_interface);
  }
  std::set<std::string> outputs;
  for (const auto& r : *ctx->rules().rules)
    for (const auto& o : r.outputs)
      outputs.insert(o.interface);
  view.tx_dropped.clear();
  for (const auto& [name, f] : control::read_interfaces(outputs))
    if (f.exists)
      view.tx_dropped[name] = f.tx_dropped;
  auto& reloads = control::reloads();
  view.reloads_ok = reloads.ok.load(std::memory_order_relaxed);
  view.reloads_failed = reloads.failed.load(std::memory_order_relaxed);
  view.last_reload_time = reloads.last_time.load(std::memory_order_relaxed);
  view.process = read_process_sample();
  if (g.restarts)
    view.restarts = std::move(*g.restarts);
  if (g.peers)
    view.peers = std::move(*g.peers);
  ep.board->publish(
    prometheus::TextSerializer{}.Serialize(to_metric_families(view)));
}

caf::behavior metrics_actor(caf::event_based_actor* self, relay_context_ptr ctx,
                            std::shared_ptr<metrics_endpoint> ep,
                            std::string version,
                            std::chrono::milliseconds interval) {
  ep->last.version = std::move(version);
  ep->last.commit = CASTOR_COMMIT;
  // The first gather at once, so a scrape right after start sees the
  // relay; the next one `interval` after each gather ends, so gathers
  // never overlap however slow a peer is.
  self->send(self, metrics_tick_atom::value);
  return {
    [self, ctx, ep, interval](metrics_tick_atom) {
      auto g = std::make_shared<gathering>();
      done_fn done = [self, ctx, ep, g, interval] {
        if (--g->strands > 0)
          return;
        publish(ctx, *ep, *g);
        self->delayed_send(self, interval, metrics_tick_atom::value);
      };
      gather_workers(self, ctx, ep, g, done);
      gather_memberships(self, ctx, g, done);
      gather_restarts(self, ctx, g, done);
      gather_sites(self, ctx, g, done);
    },
  };
}

} // namespace

child_spec metrics_child(std::string id, relay_context_ptr ctx,
                         metrics_settings settings, std::string version,
                         std::chrono::milliseconds interval) {
  auto ep = std::make_shared<metrics_endpoint>();
  return worker_with(
    std::move(id),
    [ep, ctx, listen = settings.listen, version, interval](
      caf::event_based_actor* sup, const caf::message&) -> start_result {
      if (!ep->server) {
        std::string err;
        ep->server = metrics_http_server::open(
          listen, [board = ep->board] { return board->text(); }, err);
        if (!ep->server)
          return caf::make_error(caf::sec::runtime_error, err);
        spdlog::info("metrics: serving http://{}/metrics", listen);
      }
      return sup->spawn(metrics_actor, ctx, ep, version, interval);
    });
}

} // namespace castor::relay
