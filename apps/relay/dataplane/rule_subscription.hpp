#pragma once

// The rule store subscription every data path worker holds (a forwarder,
// a datapath actor): subscribe, install the rule set the store answers
// with and every one it pushes later, and subscribe again to a store that
// did not answer or went away (its supervisor restarts it).
//
// The worker's state has `relay_context_ptr ctx` and `caf::actor_addr
// rule_store` (null while not subscribed); its behavior answers
// rules_resub_atom with
//   if (!self->state.rule_store) subscribe(self);
// and its down handler calls rule_store_down().

#include <chrono>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/atom.hpp>
#include <caf/system_messages.hpp>

#include "model/atoms.hpp"
#include "model/relay_context.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"

namespace castor::relay {

/// A worker's reminder to subscribe to the rule store again.
using rules_resub_atom = caf::atom_constant<caf::atom("rules_rsub")>;

/// How long a worker waits before asking a (restarted) rule store again.
inline constexpr auto rules_resubscribe_delay = std::chrono::milliseconds{20};

/// Subscribes `self` to the rule store; `install(self, rule_set)` takes
/// its answer. `who` names the worker in the log.
template <class Self, class Install>
void subscribe_rules(Self* self, std::string who, Install install) {
  auto store = self->state.ctx->get(relay_role::rule_store);
  if (!store) {
    self->delayed_send(self, rules_resubscribe_delay, rules_resub_atom::value);
    return;
  }
  self->state.rule_store = store.address();
  self->monitor(store);
  self
    ->request(store, std::chrono::seconds{5}, rules_subscribe_atom::value,
              caf::actor_cast<caf::actor>(self))
    .then([self, install](const rule_set& rs) { install(self, rs); },
          [self, store, who = std::move(who)](const caf::error& err) {
            spdlog::warn("{}: rule store did not answer ({}); retrying", who,
                         describe(err));
            // Forget it, or rules_resub would take it for subscribed and a
            // timed-out subscription would never be retried.
            self->demonitor(store);
            self->state.rule_store = nullptr;
            self->delayed_send(self, rules_resubscribe_delay,
                               rules_resub_atom::value);
          });
}

/// The down handler's part: true (and a resubscription scheduled) if `dm`
/// is the rule store's.
template <class Self>
bool rule_store_down(Self* self, const caf::down_msg& dm) {
  if (!self->state.rule_store || dm.source != self->state.rule_store)
    return false;
  // The store restarted: subscribe to its successor.
  self->state.rule_store = nullptr;
  self->delayed_send(self, rules_resubscribe_delay, rules_resub_atom::value);
  return true;
}

} // namespace castor::relay
