#include "control/relay_handler.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

#include "config/config_writer.hpp"
#include "control/config_stamps.hpp"
#include "control/control_protocol.hpp"
#include "control/interface_facts.hpp"
#include "control/overload.hpp"
#include "control/relay_views.hpp"
#include "control/rule_activity.hpp"
#include "control/stats_view.hpp"
#include "dataplane/worker_supervisor.hpp"
#include "model/atoms.hpp"
#include "model/counters.hpp"
#include "model/datapath.hpp"
#include "service/logging.hpp"
#include "service/state_directory.hpp"
#include "sites/sites_atoms.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/atoms.hpp"
#include "castor/actors/errors.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/net/group_manager.hpp"

namespace castor::relay {

namespace {

constexpr auto peer_timeout = std::chrono::seconds{5};

/// How often the handler samples the rules' packet counts (rule_activity).
constexpr auto activity_interval = std::chrono::seconds{1};

using handler_tick_atom = caf::atom_constant<caf::atom("ctl_tick")>;

/// What outlives a handler restart: the rules' activity and the start time.
struct handler_state {
  rule_activity activity;
  std::chrono::steady_clock::time_point started =
    std::chrono::steady_clock::now();
};

using handler_state_ptr = std::shared_ptr<handler_state>;

/// The root supervisor's id, the first part of every path (relay_app.cpp).
constexpr const char* root_id = "root";

using response_promise = caf::typed_response_promise<control::response>;

control::response not_running(const char* what) {
  return control::make_error(std::string{"the "} + what + " is not running");
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream in{path};
  for (std::string part; std::getline(in, part, '/');)
    if (!part.empty())
      parts.push_back(part);
  return parts;
}

/// Asks the worker supervisor for its children and calls `f` with them;
/// failures become error answers on `rp`.
template <class F>
void with_workers(caf::event_based_actor* self, const relay_context_ptr& ctx,
                  response_promise rp, F f) {
  auto workers = ctx->get(relay_role::workers);
  if (!workers) {
    rp.deliver(not_running("worker supervisor"));
    return;
  }
  self->request(workers, peer_timeout, which_children_atom::value)
    .then([f](const std::vector<child_info>& children) mutable { f(children); },
          [rp](const caf::error& err) mutable {
            rp.deliver(control::make_error("workers: " + describe(err)));
          });
}

// -- stats ---------------------------------------------------------------------

/// Asks every running forwarder in `children` for its counters and calls
/// `done` with the snapshots of those that answered (a worker that cannot
/// answer, e.g. restarting, is left out; the others still report).
void gather_snapshots(caf::event_based_actor* self,
                      const std::vector<child_info>& children,
                      std::function<void(std::vector<worker_snapshot>&)> done) {
  struct gathering {
    std::vector<worker_snapshot> snapshots;
    size_t remaining = 0;
  };
  auto g = std::make_shared<gathering>();
  for (const auto& c : children)
    if (c.handle)
      ++g->remaining;
  if (g->remaining == 0) {
    done(g->snapshots);
    return;
  }
  for (const auto& c : children) {
    if (!c.handle)
      continue;
    self->request(c.handle, peer_timeout, forwarder_stats_atom::value)
      .then(
        [g, done](worker_snapshot& snap) {
          g->snapshots.push_back(std::move(snap));
          if (--g->remaining == 0)
            done(g->snapshots);
        },
        [g, done](const caf::error&) {
          if (--g->remaining == 0)
            done(g->snapshots);
        });
  }
}

/// Adds each rule's rate and last-packet time (sampling them too) and each
/// output's kernel tx_dropped.
void annotate(std::vector<control::rule_stats>& stats, handler_state& st) {
  const auto now = rule_activity::clock::now();
  std::set<std::string> interfaces;
  std::vector<std::string> names;
  for (auto& r : stats) {
    st.activity.observe(r.name, r.packets, now);
    auto v = st.activity.at(r.name, now);
    r.rate = v.rate;
    r.last_packet_s = v.last_packet_s;
    names.push_back(r.name);
    for (const auto& o : r.outputs)
      interfaces.insert(o.interface);
  }
  st.activity.retain(names);
  auto facts = control::read_interfaces(interfaces);
  for (auto& r : stats)
    for (auto& o : r.outputs)
      o.kernel_tx_dropped = facts[o.interface].tx_dropped;
}

/// The rules' stats from `snapshots` (plus the retired forwarders'),
/// annotated.
std::vector<control::rule_stats>
current_stats(const relay_context& ctx, std::vector<worker_snapshot> snapshots,
              handler_state& st) {
  snapshots.push_back(ctx.retired());
  std::vector<std::string> order;
  for (const auto& r : *ctx.rules().rules)
    order.push_back(r.name);
  auto stats = merge_rule_stats(snapshots, order);
  annotate(stats, st);
  return stats;
}

void gather_stats(caf::event_based_actor* self, const relay_context_ptr& ctx,
                  handler_state_ptr st, response_promise rp) {
  with_workers(
    self, ctx, rp,
    [self, ctx, st, rp](const std::vector<child_info>& children) mutable {
      gather_snapshots(
        self, children,
        [ctx, st, rp](std::vector<worker_snapshot>& snapshots) mutable {
          const auto reporting = snapshots.size();
          // Forwarders that stopped still count: totals never go back.
          auto data = control::stats_reply(current_stats(*ctx, snapshots, *st));
          snapshots.push_back(ctx->retired());
          data["ingress"] = merge_ingress_stats(snapshots);
          data["workers_reporting"] = reporting;
          rp.deliver(control::make_ok(std::move(data)));
        });
    });
}

// -- workers -------------------------------------------------------------------

/// Which data path each rule takes, in rule order (issue 16): "kernel" if
/// a datapath actor (kdp-*) reports it, "packet" if a forwarder does, "-"
/// while no worker of its interface answered; and under datapath =
/// "kernel", why the kernel path does not serve a rule (model/datapath.hpp).
nlohmann::json rule_paths(const std::vector<rule>& rules,
                          const relay_settings& settings,
                          const std::vector<worker_snapshot>& snapshots) {
  auto out = nlohmann::json::array();
  const auto why = kernel_refusals(rules, settings);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    std::string path = "-";
    for (const auto& snap : snapshots)
      for (const auto& rs : snap.rules)
        if (rs.name == r.name)
          path = snap.worker.rfind("kdp-", 0) == 0 ? "kernel" : "packet";
    nlohmann::json row{{"rule", r.name}, {"path", path}};
    if (settings.datapath == datapath_mode::kernel && !why[i].empty())
      row["why"] = why[i];
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<control::worker_info>
worker_infos(const std::vector<child_info>& children,
             const std::vector<worker_snapshot>& snapshots) {
  std::vector<control::worker_info> out;
  for (const auto& c : children) {
    control::worker_info w;
    w.id = c.id;
    w.interface = forwarder_interface(c.id);
    w.state = c.state;
    w.restarts = c.restarts;
    for (const auto& snap : snapshots)
      if (snap.worker == c.id) {
        w.queue_depth = snap.queued;
        w.frames = snap.ingress.frames;
        w.kernel_drops = snap.ingress.kernel_drops;
        w.filter = snap.filter;
        w.filter_error = snap.filter_error;
        w.filter_failures = snap.filter_failures;
        w.outputs = snap.output_links;
      }
    out.push_back(std::move(w));
  }
  return out;
}

void list_workers(caf::event_based_actor* self, const relay_context_ptr& ctx,
                  response_promise rp) {
  with_workers(
    self, ctx, rp,
    [self, ctx, rp](const std::vector<child_info>& children) mutable {
      gather_snapshots(
        self, children,
        [ctx, rp, children](std::vector<worker_snapshot>& snapshots) mutable {
          auto data = control::workers_reply(worker_infos(children, snapshots));
          data["paths"] =
            rule_paths(*ctx->rules().rules, ctx->settings(), snapshots);
          rp.deliver(control::make_ok(std::move(data)));
        });
    });
}

// -- peers (relaying across sites) -------------------------------------------

void list_peers(caf::event_based_actor* self, const relay_context_ptr& ctx,
                response_promise rp) {
  auto sites = ctx->get(relay_role::sites);
  if (!sites) {
    rp.deliver(control::make_ok(
      {{"peers", nlohmann::json::array()}, {"unknown_source", 0}}));
    return;
  }
  self->request(sites, peer_timeout, site_stats_atom::value)
    .then(
      [rp](const sites::site_engine_stats& st) mutable {
        auto peers = nlohmann::json::array();
        for (auto& p : st.peers) {
          nlohmann::json drops = nlohmann::json::object();
          for (std::size_t i = 0; i < sites::site_drop_count; ++i)
            drops[to_string(static_cast<sites::site_drop>(i))] = p.drops[i];
          peers.push_back({{"name", p.name},
                           {"address", p.address},
                           {"up", p.up},
                           {"interest", p.interest},
                           {"wants", p.wants},
                           {"reconnects", p.reconnects},
                           {"tx_frames", p.tx_frames},
                           {"tx_datagrams", p.tx_datagrams},
                           {"tx_bytes", p.tx_bytes},
                           {"rx_frames", p.rx_frames},
                           {"rx_datagrams", p.rx_datagrams},
                           {"rx_bytes", p.rx_bytes},
                           {"duplicates", p.duplicates},
                           {"bus_repairs", p.bus_repairs},
                           {"bus_naks_up", p.bus_naks_up},
                           {"bus_naks_in", p.bus_naks_in},
                           {"rtt_us", (p.rtt_ns + 999) / 1000},
                           {"drops", drops}});
        }
        rp.deliver(control::make_ok(
          {{"peers", peers}, {"unknown_source", st.unknown_source}}));
      },
      [rp](const caf::error& err) mutable {
        rp.deliver(control::make_error("peers: " + describe(err)));
      });
}

// -- groups, status, diagnose --------------------------------------------------

/// Gathers the rules, their annotated stats, the workers and the group
/// memberships, and calls `done` with them. Peers that do not answer are
/// left out (the survey says what it could learn).
void take_survey(caf::event_based_actor* self, const relay_context_ptr& ctx,
                 handler_state_ptr st,
                 std::function<void(relay_survey&)> done) {
  auto survey = std::make_shared<relay_survey>();
  survey->rules = *ctx->rules().rules;
  auto memberships = [self, ctx, survey, done] {
    auto gm = ctx->get(relay_role::group_manager);
    if (!gm) {
      done(*survey);
      return;
    }
    self->request(gm, peer_timeout, net::memberships_atom::value)
      .then(
        [survey, done](std::vector<net::membership_status>& all) {
          survey->memberships = std::move(all);
          done(*survey);
        },
        [survey, done](const caf::error&) { done(*survey); });
  };
  auto snapshots = [self, ctx, st, survey,
                    memberships](const std::vector<child_info>& children) {
    gather_snapshots(self, children,
                     [ctx, st, survey, memberships,
                      children](std::vector<worker_snapshot>& snaps) {
                       survey->workers = worker_infos(children, snaps);
                       survey->stats = current_stats(*ctx, snaps, *st);
                       memberships();
                     });
  };
  auto workers = ctx->get(relay_role::workers);
  if (!workers) {
    snapshots({});
    return;
  }
  self->request(workers, peer_timeout, which_children_atom::value)
    .then([snapshots](
            const std::vector<child_info>& children) { snapshots(children); },
          [snapshots](const caf::error&) { snapshots({}); });
}

control::response diagnose_rule(const relay_survey& survey,
                                const std::string& name) {
  auto facts = control::read_interfaces(diagnose_interfaces(survey, name));
  auto view = diagnose_view(survey, name, facts);
  if (!view)
    return control::make_error("diagnose: no rule named '" + name
                               + "' (castorctl list shows the rules)");
  return control::make_ok(std::move(*view));
}

// -- tree and kill ---------------------------------------------------------

void with_tree(caf::event_based_actor* self, const relay_context_ptr& ctx,
               response_promise rp,
               std::function<control::response(const tree_node&)> f) {
  auto root = ctx->get(relay_role::root);
  if (!root) {
    rp.deliver(not_running("root supervisor"));
    return;
  }
  self->request(root, peer_timeout, tree_atom::value)
    .then([rp, f](const tree_node& tree) mutable { rp.deliver(f(tree)); },
          [rp](const caf::error& err) mutable {
            rp.deliver(control::make_error("tree: " + describe(err)));
          });
}

/// Walks `parts[i..]` down from supervisor `sup` through which_children
/// and sends exit(kill) to the actor at the end (erlang:exit(Pid, kill)).
void kill_below(caf::event_based_actor* self, caf::actor sup,
                std::shared_ptr<const std::vector<std::string>> parts, size_t i,
                std::string path, response_promise rp) {
  self->request(sup, peer_timeout, which_children_atom::value)
    .then(
      [self, parts, i, path,
       rp](const std::vector<child_info>& children) mutable {
        const auto& id = (*parts)[i];
        auto c = std::find_if(children.begin(), children.end(),
                              [&](const child_info& x) { return x.id == id; });
        if (c == children.end()) {
          rp.deliver(control::make_error("kill: no actor at '" + path + "' ('"
                                         + id + "' not found)"));
          return;
        }
        if (!c->handle) {
          rp.deliver(control::make_error("kill: '" + path + "' is not running ("
                                         + c->state + ")"));
          return;
        }
        if (i + 1 < parts->size()) {
          if (c->type != child_type::supervisor) {
            rp.deliver(control::make_error("kill: '" + id
                                           + "' is a worker, it has no '"
                                           + (*parts)[i + 1] + "'"));
            return;
          }
          kill_below(self, c->handle, parts, i + 1, path, rp);
          return;
        }
        spdlog::warn("control: kill {} (actor {})", path, c->handle.id());
        self->send_exit(c->handle, caf::exit_reason::kill);
        rp.deliver(control::make_ok({{"path", path}}));
      },
      [rp, path](const caf::error& err) mutable {
        rp.deliver(control::make_error("kill " + path + ": " + describe(err)));
      });
}

void kill_at(caf::event_based_actor* self, const relay_context_ptr& ctx,
             const std::string& path, response_promise rp) {
  auto parts =
    std::make_shared<const std::vector<std::string>>(split_path(path));
  auto root = ctx->get(relay_role::root);
  if (!root) {
    rp.deliver(not_running("root supervisor"));
    return;
  }
  if (parts->empty() || parts->front() != root_id) {
    rp.deliver(control::make_error("kill: no actor at '" + path
                                   + "': paths start at '" + root_id
                                   + "', as `tree` prints them"));
    return;
  }
  if (parts->size() == 1) {
    rp.deliver(control::make_error(
      "kill: refusing to kill the root; stop the daemon with SIGTERM"));
    return;
  }
  kill_below(self, root, parts, 1, path, rp);
}

// -- config and log level ------------------------------------------------------

/// The running config as TOML: the settings in effect and the current rules.
control::response show_config(const relay_context& ctx) {
  auto cfg = ctx.config();
  cfg.rules = *ctx.rules().rules;
  return control::make_ok({{"config", write_config(cfg)}});
}

/// That text written atomically to `file_arg` in the state directory
/// (service/state_directory.hpp), by default its relay.toml.
control::response save_running_config(const relay_context& ctx,
                                      const std::string& state_directory,
                                      const std::string& file_arg) {
  auto cfg = ctx.config();
  cfg.rules = *ctx.rules().rules;
  auto target = config_save_target(state_directory, file_arg);
  if (!target.error.empty()) {
    spdlog::warn("control: config save refused: {}", target.error);
    return control::make_error("config save: " + target.error);
  }
  const auto& file = target.path;
  if (auto changed = check_config_unchanged(file))
    return control::make_error("config save: " + *changed);
  if (auto err = save_config(cfg, file))
    return control::make_error("config save: " + *err);
  // What is on disk is now what runs.
  if (file == ctx.config_file())
    remember_config_stamp(file, false);
  spdlog::info("control: saved the running config to {}", file);
  return control::make_ok({{"file", file}});
}

control::response set_log_level(const control::log_level_cmd& ll) {
  // One logger per component (logging.hpp); "all" sets every one.
  auto level = to_spdlog_level(ll.level);
  if (!level)
    return control::make_error("log_level: unknown level '" + ll.level + "'");
  if (!set_component_level(ll.component, *level))
    return control::make_error("log_level: unknown component '" + ll.component
                               + "' (this relay has: " + log_component_list()
                               + ")");
  return control::make_ok({{"component", ll.component}, {"level", ll.level}});
}

// -- the handler ---------------------------------------------------------------

caf::behavior relay_handler(caf::event_based_actor* self, relay_context_ptr ctx,
                            std::string version, std::string state_directory,
                            handler_state_ptr st) {
  // Samples the rules' counters now and then every activity_interval after
  // each sample ends (samples never overlap).
  self->send(self, handler_tick_atom::value);
  return {
    [self, ctx, st](handler_tick_atom) {
      take_survey(self, ctx, st, [self](relay_survey&) {
        self->delayed_send(self, activity_interval, handler_tick_atom::value);
      });
    },
    [self, ctx, version, state_directory,
     st](control_atom,
         const control::request& req) -> caf::result<control::response> {
      using result = caf::result<control::response>;
      // add, remove, list and reload change or read the rules: the rule
      // store answers them.
      auto to_store = [&](const auto&) -> result {
        auto store = ctx->get(relay_role::rule_store);
        if (!store)
          return not_running("rule store");
        self->delegate(store, control_atom::value, req);
        return caf::delegated<control::response>{};
      };
      // The rest that asks other actors answers through a promise.
      auto promised = [&](auto&& start) -> result {
        auto rp = self->make_response_promise<control::response>();
        start(rp);
        return rp;
      };
      return std::visit(
        control::overload{
          [&](const control::add_cmd& c) { return to_store(c); },
          [&](const control::add_rules_cmd& c) { return to_store(c); },
          [&](const control::remove_cmd& c) { return to_store(c); },
          [&](const control::list_cmd& c) { return to_store(c); },
          [&](const control::reload_cmd& c) { return to_store(c); },
          [&](const control::ping_cmd&) -> result {
            return control::make_ok({{"pong", true}});
          },
          [&](const control::version_cmd&) -> result {
            return control::make_ok(
              control::version_reply(version, CASTOR_COMMIT));
          },
          [&](const control::stats_cmd&) {
            return promised([&](auto& rp) { gather_stats(self, ctx, st, rp); });
          },
          [&](const control::peers_cmd&) {
            return promised([&](auto& rp) { list_peers(self, ctx, rp); });
          },
          [&](const control::workers_cmd&) {
            return promised([&](auto& rp) { list_workers(self, ctx, rp); });
          },
          [&](const control::tree_cmd&) {
            return promised([&](auto& rp) {
              with_tree(self, ctx, rp, [](const tree_node& tree) {
                return control::make_ok(
                  {{"tree", nlohmann::json::parse(to_json(tree))}});
              });
            });
          },
          [&](const control::kill_cmd& c) {
            return promised([&](auto& rp) { kill_at(self, ctx, c.path, rp); });
          },
          [&](const control::config_show_cmd&) -> result {
            return show_config(*ctx);
          },
          [&](const control::config_save_cmd& c) -> result {
            return save_running_config(*ctx, state_directory, c.file);
          },
          [&](const control::log_level_cmd& c) -> result {
            return set_log_level(c);
          },
          [&](const control::groups_cmd&) {
            return promised([&](auto& rp) {
              take_survey(self, ctx, st, [rp](relay_survey& x) mutable {
                rp.deliver(control::make_ok(groups_view(x)));
              });
            });
          },
          [&](const control::status_cmd&) {
            return promised([&](auto& rp) {
              status_context sc;
              sc.version = version;
              sc.config_file = ctx->config_file();
              sc.uptime_s = std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - st->started)
                              .count();
              take_survey(self, ctx, st, [rp, sc](relay_survey& x) mutable {
                rp.deliver(control::make_ok(status_view(x, sc)));
              });
            });
          },
          [&](const control::diagnose_cmd& c) {
            return promised([&](auto& rp) {
              take_survey(self, ctx, st,
                          [rp, name = c.name](relay_survey& x) mutable {
                            rp.deliver(diagnose_rule(x, name));
                          });
            });
          },
        },
        req.command);
    },
  };
}

} // namespace

child_spec relay_handler_child(std::string id, relay_context_ptr ctx,
                               std::string version,
                               std::string state_directory) {
  return worker(std::move(id), relay_handler, std::move(ctx),
                std::move(version), std::move(state_directory),
                std::make_shared<handler_state>());
}

} // namespace castor::relay
