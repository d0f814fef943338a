#include "dataplane/datapath_actor.hpp"

#include <chrono>
#include <memory>
#include <utility>

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>

#include "dataplane/kernel_datapath.hpp"
#include "dataplane/rule_subscription.hpp"
#include "model/atoms.hpp"
#include "model/datapath.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"

namespace castor::relay {

namespace {

using kdp_tick_atom = caf::atom_constant<caf::atom("kdp_tick")>;

constexpr auto link_refresh = std::chrono::seconds{1};

struct datapath_state {
  std::shared_ptr<kernel_datapath> path;
  relay_context_ptr ctx;
  std::string id;
  caf::actor_addr rule_store;
  rule_set current;
  static inline const char* name = "datapath";
};

using datapath_self = caf::stateful_actor<datapath_state>;

/// Writes the kernel rules of `rs` into the maps; a map the kernel
/// refuses to take them fails the actor (its supervisor restarts it).
void install(datapath_self* self, const rule_set& rs) {
  auto& st = self->state;
  if (rs.epoch < st.current.epoch)
    return; // an older push overtaken by a newer one
  st.current = rs;
  try {
    st.path->apply(
      kernel_rules(*rs.rules, st.path->interface(), st.ctx->settings()),
      rs.epoch);
  } catch (const std::exception& ex) {
    self->quit(caf::make_error(caf::sec::runtime_error, ex.what()));
  }
}

void subscribe(datapath_self* self) {
  subscribe_rules(self, self->state.id,
                  [](datapath_self* s, const rule_set& rs) { install(s, rs); });
}

caf::behavior datapath_actor(datapath_self* self,
                             std::shared_ptr<kernel_datapath> path,
                             relay_context_ptr ctx) {
  auto& st = self->state;
  st.path = std::move(path);
  st.ctx = std::move(ctx);
  st.id = datapath_id(st.path->interface());
  // What a forwarder's restart keeps in relay_context::retire, the maps
  // keep here: retiring this incarnation with no counts tells the metrics
  // ledger that its successor's snapshot already includes them.
  self->attach_functor([ctx = st.ctx, id = st.id, itf = st.path->interface(),
                        incarnation = self->id()](const caf::error& reason) {
    worker_snapshot none;
    none.worker = id;
    ctx->retire(incarnation, none);
    if (reason == caf::exit_reason::user_shutdown
        || reason == caf::exit_reason::normal) {
      kernel_datapaths().release(itf);
      spdlog::info("{}: tc program detached from {}", id, itf);
    }
  });
  // Forward with the rules of now at once, before the store answers.
  install(self, st.ctx->rules());
  subscribe(self);
  self->delayed_send(self, link_refresh, kdp_tick_atom::value);
  self->set_down_handler(
    [self](const caf::down_msg& dm) { rule_store_down(self, dm); });
  return {
    [self](rules_atom, const rule_set& rs) { install(self, rs); },
    [self](rules_resub_atom) {
      if (!self->state.rule_store)
        subscribe(self);
    },
    [self](kdp_tick_atom) {
      // A re-created, re-addressed or flapped output interface: the
      // entries are rewritten with its new index, address or state.
      if (self->state.path->links_changed())
        install(self, self->state.current);
      self->delayed_send(self, link_refresh, kdp_tick_atom::value);
    },
    [self](forwarder_stats_atom) {
      return self->state.path->snapshot(self->state.id);
    },
  };
}

} // namespace

std::vector<rule> kernel_rules(const std::vector<rule>& rules,
                               const std::string& interface,
                               const relay_settings& settings) {
  std::vector<rule> out;
  for (auto& r : rules_on_path(rules, settings, true))
    if (r.input.interface == interface)
      out.push_back(std::move(r));
  return out;
}

child_spec datapath_child(std::string interface, relay_context_ptr ctx) {
  auto id = datapath_id(interface);
  auto start = [interface, ctx](caf::event_based_actor* sup,
                                const caf::message&) -> start_result {
    std::shared_ptr<kernel_datapath> path;
    try {
      path = kernel_datapaths().adopt(interface, ctx->settings().max_frame);
    } catch (const std::exception& ex) {
      return caf::make_error(caf::sec::runtime_error,
                             datapath_id(interface) + ": " + ex.what());
    }
    return sup->spawn(datapath_actor, std::move(path), ctx);
  };
  return worker_with(std::move(id), std::move(start));
}

} // namespace castor::relay
