#include "control/rule_store.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "config/config_reload.hpp"
#include "config/config_warnings.hpp"
#include "config/runtime_changes.hpp"
#include "config/runtime_state.hpp"
#include "control/config_stamps.hpp"
#include "control/control_protocol.hpp"
#include "control/overload.hpp"
#include "control/reload_counters.hpp"
#include "dataplane/rule_table.hpp"
#include "dataplane/worker_supervisor.hpp"
#include "model/rule_validator.hpp"
#include "service/logging.hpp"
#include "service/memory_budget.hpp"
#include "service/service_notifier.hpp"
#include "sites/sites_atoms.hpp"
#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"
#include "castor/net/group_manager.hpp"

namespace castor::relay {

namespace {

constexpr auto group_manager_timeout = std::chrono::seconds{5};

/// An input membership: (interface, group, source or unspecified).
using membership = std::tuple<std::string, ip_addr, ip_addr>;

membership membership_of(const rule& r) {
  return {r.input.interface, r.input.group,
          r.input.source ? *r.input.source : ip_addr{}};
}

std::set<membership> memberships_of(const std::vector<rule>& rules) {
  std::set<membership> out;
  for (const auto& r : rules)
    out.insert(membership_of(r));
  return out;
}

boost::asio::ip::address to_asio(const ip_addr& a) {
  if (a.v6)
    return boost::asio::ip::address_v6{a.bytes};
  return boost::asio::ip::address_v4{ntohl(a.v4_be())};
}

net::membership_request to_request(const membership& m) {
  net::membership_request req;
  req.interface = net::interface_ref::by_name(std::get<0>(m));
  req.group = to_asio(std::get<1>(m));
  // Any-source: the unspecified address of the group's family.
  req.source = std::get<2>(m).is_unspecified()
                 ? (std::get<1>(m).v6
                      ? boost::asio::ip::address{boost::asio::ip::address_v6{}}
                      : boost::asio::ip::address{boost::asio::ip::address_v4{}})
                 : to_asio(std::get<2>(m));
  return req;
}

std::string describe(const membership& m) {
  auto text = std::get<0>(m) + " " + std::get<1>(m).to_string();
  if (!std::get<2>(m).is_unspecified())
    text += " source " + std::get<2>(m).to_string();
  return text;
}

struct rule_store_state {
  relay_context_ptr ctx;
  /// Where the runtime state goes (service/state_directory.hpp); empty:
  /// nowhere.
  std::string state_directory;
  std::vector<caf::actor> subscribers;
  static inline const char* name = "rule-store";
};

using store_self = caf::stateful_actor<rule_store_state>;

caf::actor self_handle(store_self* self) {
  return caf::actor_cast<caf::actor>(self);
}

void publish(store_self* self, const rule_set& rs) {
  for (const auto& s : self->state.subscribers)
    self->send(s, rules_atom::value, rs);
}

void leave(store_self* self, const membership& m) {
  auto gm = self->state.ctx->get(relay_role::group_manager);
  if (!gm)
    return; // a dead group manager held nothing for us any more
  self
    ->request(gm, group_manager_timeout, caf::leave_atom::value,
              self_handle(self), to_request(m))
    .then([m](caf::ok_atom) { spdlog::info("left {}", describe(m)); },
          [m](const caf::error& err) {
            spdlog::warn("leaving {} failed: {}", describe(m),
                         castor::describe(err));
          });
}

/// Joins `m` (awaited), then calls `done` with the outcome.
/// Awaited (the default), the store handles nothing else until the answer
/// is in: a change's joins are part of the change.
void join(store_self* self, const membership& m,
          std::function<void(caf::error)> done, bool awaited = true) {
  auto gm = self->state.ctx->get(relay_role::group_manager);
  if (!gm) {
    done(caf::make_error(caf::sec::runtime_error,
                         "the group manager is not running"));
    return;
  }
  auto joined = [m, done](const net::membership_status& st) {
    spdlog::info("joined {} ({})", describe(m), st.state);
    done(caf::none);
  };
  auto failed = [done](caf::error& err) { done(std::move(err)); };
  auto req = self->request(gm, group_manager_timeout, caf::join_atom::value,
                           self_handle(self), to_request(m));
  if (awaited)
    std::move(req).await(std::move(joined), std::move(failed));
  else
    std::move(req).then(std::move(joined), std::move(failed));
}

/// Joins in flight at once: the group manager takes them back to back, so
/// 10,000 groups cost one round trip per window rather than per group; and
/// the window stays small enough that every request is answered well
/// within group_manager_timeout.
constexpr size_t join_window = 64;

using join_done = std::shared_ptr<const std::function<void(caf::error)>>;

/// Joins `todo[i..]` window by window (join_window awaited requests at
/// once). On a failure, once its window is in, leaves every membership it
/// joined and calls `done` with the first error. `done` is shared, not
/// copied per request: it holds the change's rule vectors (10,000 rules).
void join_from(store_self* self, std::shared_ptr<std::vector<membership>> todo,
               size_t i, join_done done) {
  if (i == todo->size()) {
    (*done)(caf::none);
    return;
  }
  struct window {
    size_t pending = 0;
    caf::error first;
    std::vector<size_t> failed;
  };
  const size_t end = std::min(todo->size(), i + join_window);
  auto w = std::make_shared<window>();
  w->pending = end - i;
  for (size_t k = i; k < end; ++k)
    join(self, (*todo)[k], [self, todo, end, k, w, done](caf::error err) {
      if (err) {
        w->failed.push_back(k);
        if (!w->first)
          w->first = caf::make_error(caf::sec::runtime_error,
                                     "cannot join " + describe((*todo)[k])
                                       + ": " + castor::describe(err));
      }
      if (--w->pending > 0)
        return;
      if (!w->first) {
        join_from(self, todo, end, done);
        return;
      }
      for (size_t j = 0; j < end; ++j)
        if (std::find(w->failed.begin(), w->failed.end(), j) == w->failed.end())
          leave(self, (*todo)[j]);
      (*done)(std::move(w->first));
    });
}

void join_all(store_self* self, std::shared_ptr<std::vector<membership>> todo,
              std::function<void(caf::error)> done) {
  join_from(
    self, std::move(todo), 0,
    std::make_shared<const std::function<void(caf::error)>>(std::move(done)));
}

/// A restarted (or fresh) store's joins of the current rules, window by
/// window like join_all but not awaited: the store answers its subscribers
/// meanwhile (10,000 groups take seconds), and a group that cannot be
/// joined now is an error in the log, not a reason to hold the rules back.
void rejoin_all(store_self* self, std::shared_ptr<std::vector<membership>> todo,
                size_t i) {
  const size_t end = std::min(todo->size(), i + join_window);
  auto pending = std::make_shared<size_t>(end - i);
  for (size_t k = i; k < end; ++k) {
    const auto m = (*todo)[k];
    join(
      self, m,
      [self, todo, end, m, pending](caf::error err) {
        if (err)
          spdlog::error("cannot join {}: {}", describe(m),
                        castor::describe(err));
        if (--*pending == 0 && end < todo->size())
          rejoin_all(self, todo, end);
      },
      false);
  }
}

/// Writes the runtime state: the running rules' difference from the config
/// file. A failure is logged and returned; the change itself stands.
std::optional<std::string> persist(store_self* self) {
  auto& st = self->state;
  auto err = save_runtime_state(st.state_directory, st.ctx->config_file(),
                                st.ctx->config().rules, *st.ctx->rules().rules);
  if (err)
    spdlog::error("runtime state: {}; the running rules will not survive a "
                  "restart",
                  *err);
  return err;
}

/// Commits `next` (a change from `previous`), publishes it, starts or stops
/// forwarders, and leaves what no rule needs. On a worker start failure the
/// change is rolled back and `reply` gets the error.
void commit(
  store_self* self, std::vector<rule> previous, std::vector<rule> next,
  caf::response_promise rp, control::response ok,
  std::function<void()> finished = [] {}) {
  auto& ctx = self->state.ctx;
  const auto before = memberships_of(previous);
  const auto after = memberships_of(next);
  auto rs = ctx->commit(std::move(next));
  spdlog::info("rules: epoch {} committed ({} rules), pushed to {} "
               "forwarders",
               rs.epoch, rs.rules->size(), self->state.subscribers.size());
  publish(self, rs);
  reconcile_workers(
    self, ctx,
    [self, rp, ok, before, after, previous, finished](caf::error err) mutable {
      auto& ctx = self->state.ctx;
      if (err) {
        // Back to the previous rules; the failed forwarders were never up.
        publish(self, ctx->commit(previous));
        for (const auto& m : after)
          if (before.count(m) == 0)
            leave(self, m);
        reconcile_workers(self, ctx, [](caf::error) {});
        rp.deliver(control::make_error("cannot start forwarders: "
                                       + castor::describe(err)));
        finished();
        return;
      }
      for (const auto& m : before)
        if (after.count(m) == 0)
          leave(self, m);
      if (auto bad = persist(self))
        ok.data["state_error"] = *bad;
      rp.deliver(std::move(ok));
      finished();
    });
}

std::optional<std::string> check_interfaces(const rule& r) {
  if (resolve_interface_index(r.input.interface) == 0)
    return "input.interface: no interface '" + r.input.interface + "'";
  for (size_t i = 0; i < r.outputs.size(); ++i)
    if (resolve_interface_index(r.outputs[i].interface) == 0)
      return "outputs[" + std::to_string(i) + "].interface: no interface '"
             + r.outputs[i].interface + "'";
  for (size_t i = 0; i < r.outputs.size(); ++i)
    if (r.outputs[i].source_port != 0)
      if (auto problem = source_port_problem(r.outputs[i].source_port))
        return "outputs[" + std::to_string(i) + "].source_port: " + *problem;
  return std::nullopt;
}

/// The limits a rule set must fit with the running settings.
std::optional<std::string> check_limits(const relay_context_ptr& ctx,
                                        const std::vector<rule>& next) {
  return check_rule_limits(next, ctx->config().relay,
                           ctx->workers_per_interface());
}

caf::result<control::response> add_rule(store_self* self, const rule& r) {
  auto current = *self->state.ctx->rules().rules;
  auto issues = validate_rule(r);
  auto conflicts = find_conflicts(r, current);
  issues.insert(issues.end(), conflicts.begin(), conflicts.end());
  if (!issues.empty())
    return control::make_error(describe(r, issues));
  if (auto bad = check_interfaces(r))
    return control::make_error("rule '" + r.name + "': " + *bad);
  auto next = current;
  next.push_back(r);
  if (auto bad = check_limits(self->state.ctx, next))
    return control::make_error("rule '" + r.name + "': " + *bad);
  auto rp = self->make_response_promise<control::response>();
  auto ok = control::make_ok({{"rule", control::to_json(r)}});
  const auto m = membership_of(r);
  if (memberships_of(current).count(m) != 0) {
    commit(self, std::move(current), std::move(next), rp, std::move(ok));
    return rp;
  }
  join(self, m, [self, rp, r, current, next, ok](caf::error err) mutable {
    if (err) {
      rp.deliver(control::make_error("rule '" + r.name + "': cannot join "
                                     + describe(membership_of(r)) + ": "
                                     + castor::describe(err)));
      return;
    }
    commit(self, std::move(current), std::move(next), rp, std::move(ok));
  });
  return rp;
}

/// Several rules in one change (castorctl add --from): each is checked as
/// `add` checks one, against the running rules and the others before it;
/// then their new memberships are joined and one epoch commits them all.
/// Nothing is installed unless every rule passes.
caf::result<control::response> add_rules(store_self* self,
                                         const std::vector<rule>& rules) {
  auto current = *self->state.ctx->rules().rules;
  auto next = current;
  next.reserve(current.size() + rules.size());
  std::vector<std::string> errors;
  for (const auto& r : rules) {
    auto issues = validate_rule(r);
    auto conflicts = find_conflicts(r, next);
    issues.insert(issues.end(), conflicts.begin(), conflicts.end());
    if (!issues.empty())
      errors.push_back(describe(r, issues));
    else if (auto bad = check_interfaces(r))
      errors.push_back("rule '" + r.name + "': " + *bad);
    else
      next.push_back(r);
  }
  if (errors.empty())
    if (auto bad = check_limits(self->state.ctx, next))
      errors.push_back(*bad);
  if (!errors.empty()) {
    auto message = std::to_string(errors.size()) + " of "
                   + std::to_string(rules.size())
                   + " rules refused; none was added: " + errors.front();
    if (errors.size() > 1)
      message += " (and " + std::to_string(errors.size() - 1) + " more)";
    return control::make_error(message, {{"errors", errors}});
  }
  auto rp = self->make_response_promise<control::response>();
  const auto before = memberships_of(current);
  auto todo = std::make_shared<std::vector<membership>>();
  for (const auto& m : memberships_of(next))
    if (before.count(m) == 0)
      todo->push_back(m);
  auto ok = control::make_ok({{"added", rules.size()}});
  join_all(self, todo, [self, rp, current, next, ok](caf::error err) mutable {
    if (err) {
      rp.deliver(control::make_error(castor::describe(err)));
      return;
    }
    commit(self, std::move(current), std::move(next), rp, std::move(ok));
  });
  return rp;
}

caf::result<control::response> remove_rule(store_self* self,
                                           const std::string& name) {
  auto current = *self->state.ctx->rules().rules;
  auto next = current;
  auto i = std::find_if(next.begin(), next.end(),
                        [&](const rule& r) { return r.name == name; });
  if (i == next.end())
    return control::make_error("no rule named '" + name + "'");
  next.erase(i);
  auto rp = self->make_response_promise<control::response>();
  commit(self, std::move(current), std::move(next), rp,
         control::make_ok({{"name", name}}));
  return rp;
}

std::string names(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out.empty() ? "-" : out;
}

/// Re-reads the config file and applies the difference (config_reload.hpp).
/// Nothing changes unless the whole new config is valid and every added or
/// changed rule's interfaces exist and its group can be joined.
caf::result<control::response> reload(store_self* self) {
  auto& ctx = self->state.ctx;
  if (ctx->config_file().empty())
    return control::make_error(
      "reload: this relay was started without a config file");
  spdlog::info("reload: reading {}", ctx->config_file());
  // systemd shows "reloading" until the outcome is known, either way.
  notify_reloading();
  auto parsed = parse_config_file(ctx->config_file());
  std::vector<std::string> errors;
  for (const auto& e : parsed.errors)
    errors.push_back(to_string(e));
  auto current = *ctx->rules().rules;
  const auto running = ctx->config();
  // The runtime changes (what differs from the file as last loaded) stay
  // on top of the new file, as at a restart (runtime_changes.hpp).
  auto applied =
    apply_runtime(parsed.config.rules, diff_runtime(running.rules, current));
  auto next = applied.rules;
  auto summary = diff_rules(current, next);
  // Only the rules the reload adds or changes are checked, found through a
  // set: a search per rule was quadratic in a reload of 10,000 rules.
  std::unordered_set<std::string_view> touched(summary.added.begin(),
                                               summary.added.end());
  touched.insert(summary.changed.begin(), summary.changed.end());
  if (errors.empty())
    for (const auto& r : next)
      if (touched.count(r.name) != 0)
        if (auto bad = check_interfaces(r))
          errors.push_back(ctx->config_file() + ": rule '" + r.name
                           + "': " + *bad);
  if (errors.empty())
    // With the settings the reload would run: a new memory cap counts at
    // once, a new max_frame only after a restart.
    if (auto bad = check_rule_limits(
          next, config_in_effect(ctx->config(), parsed.config).relay,
          ctx->workers_per_interface()))
      errors.push_back(ctx->config_file() + ": " + *bad);
  if (!errors.empty()) {
    for (const auto& e : errors)
      spdlog::error("reload: {}", e);
    spdlog::error("reload rejected; the running config is unchanged");
    notify_ready();
    control::count_reload(false);
    return control::reload_failed(errors);
  }
  summary.restart_needed = settings_needing_restart(running, parsed.config);
  for (const auto& s : summary.restart_needed)
    spdlog::warn("reload: {} changed; it takes effect at the next start", s);
  // The settings go live with the rules, and not at all if those fail.
  auto apply_settings = [ctx, running, loaded = parsed.config] {
    if (running.relay.log_level != loaded.relay.log_level)
      if (auto level = to_spdlog_level(loaded.relay.log_level))
        spdlog::set_level(*level);
    ctx->config(config_in_effect(running, loaded));
    // Peers and the rules that cross sites follow (sites_actor.hpp).
    if (auto sites = ctx->get(relay_role::sites))
      caf::anon_send(sites, sites_reload_atom::value);
  };
  spdlog::info("reload: added {}; removed {}; changed {}; {} unchanged",
               names(summary.added), names(summary.removed),
               names(summary.changed), summary.unchanged);
  auto ok = control::make_ok(control::reload_reply(summary));
  // Runtime rules the new file lacks stay; those the file now overrides
  // go. Either way said, never silent (issue 14).
  if (!applied.kept.empty()) {
    spdlog::warn("reload: keeps the rules added at runtime that {} lacks: "
                 "{} (castorctl remove NAME ends one)",
                 ctx->config_file(), names(applied.kept));
    ok.data["kept_runtime_rules"] = applied.kept;
  }
  for (const auto& d : applied.dropped)
    spdlog::warn("reload: drops a runtime change: {}", d);
  if (!applied.dropped.empty())
    ok.data["dropped_runtime_changes"] = applied.dropped;
  if (summary.added.empty() && summary.removed.empty()
      && summary.changed.empty() && current == next) {
    apply_settings(); // same rules in the same order: no new epoch
    notify_ready();
    control::count_reload(true);
    remember_config_stamp(ctx->config_file(), false);
    if (auto bad = persist(self))
      ok.data["state_error"] = *bad;
    return ok;
  }
  auto rp = self->make_response_promise<control::response>();
  const auto before = memberships_of(current);
  auto todo = std::make_shared<std::vector<membership>>();
  for (const auto& m : memberships_of(next))
    if (before.count(m) == 0)
      todo->push_back(m);
  join_all(
    self, todo,
    [self, rp, current, next, ok, apply_settings](caf::error err) mutable {
      if (err) {
        spdlog::error("reload rejected: {}", castor::describe(err));
        rp.deliver(control::reload_failed({castor::describe(err)}));
        notify_ready();
        control::count_reload(false);
        return;
      }
      control::count_reload(true);
      remember_config_stamp(self->state.ctx->config_file(), false);
      apply_settings();
      commit(self, std::move(current), std::move(next), rp, std::move(ok),
             [] { notify_ready(); });
    });
  return rp;
}

caf::behavior rule_store_actor(store_self* self, relay_context_ptr ctx,
                               std::string state_directory) {
  self->state.ctx = std::move(ctx);
  self->state.state_directory = std::move(state_directory);
  // The file as the relay loaded it at start (config_stamps.hpp).
  remember_config_stamp(self->state.ctx->config_file(), true);
  // The state as it runs now: what the start applied, without what it
  // dropped.
  persist(self);
  // A restarted store (or a fresh one) holds the current memberships again:
  // the group manager dropped its predecessor's when it died.
  const auto all = memberships_of(*self->state.ctx->rules().rules);
  rejoin_all(
    self, std::make_shared<std::vector<membership>>(all.begin(), all.end()), 0);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(
                 subs.begin(), subs.end(),
                 [&](const caf::actor& a) { return a.address() == dm.source; }),
               subs.end());
  });
  return {
    [self](rules_subscribe_atom, const caf::actor& subscriber) {
      if (subscriber) {
        self->monitor(subscriber);
        self->state.subscribers.push_back(subscriber);
      }
      return self->state.ctx->rules();
    },
    [self](rules_atom) { return self->state.ctx->rules(); },
    [self](control_atom,
           const control::request& req) -> caf::result<control::response> {
      using result = caf::result<control::response>;
      return std::visit(
        control::overload{
          [&](const control::add_cmd& c) -> result {
            return add_rule(self, c.rule);
          },
          [&](const control::add_rules_cmd& c) -> result {
            return add_rules(self, c.rules);
          },
          [&](const control::remove_cmd& c) -> result {
            return remove_rule(self, c.name);
          },
          [&](const control::reload_cmd&) -> result { return reload(self); },
          [&](const control::list_cmd&) -> result {
            return control::make_ok(
              control::list_reply(*self->state.ctx->rules().rules));
          },
          [&](const auto&) -> result {
            return control::make_error("the rule store does not handle '"
                                       + control::command_name(req) + "'");
          },
        },
        req.command);
    },
  };
}

} // namespace

child_spec rule_store_child(std::string id, relay_context_ptr ctx,
                            std::string state_directory) {
  return worker(std::move(id), rule_store_actor, std::move(ctx),
                std::move(state_directory));
}

} // namespace castor::relay
