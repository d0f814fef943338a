#include "forwarder.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "forwarder_loop.hpp"
#include "rule_store.hpp"
#include "rule_table.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"

namespace castor::relay {

namespace {

// The loop's answers come back as messages to the actor (from the loop's
// thread), never as callbacks into actor state.
using fwd_snapshot_atom = caf::atom_constant<caf::atom("fwd_snap")>;
using fwd_failed_atom = caf::atom_constant<caf::atom("fwd_fail")>;
using fwd_resub_atom = caf::atom_constant<caf::atom("fwd_resub")>;

/// How long a forwarder waits before asking a restarted rule store again.
constexpr auto resubscribe_delay = std::chrono::milliseconds{20};

struct forwarder_state {
  std::shared_ptr<forwarder_loop> loop;
  relay_context_ptr ctx;
  caf::actor_addr rule_store;
  uint64_t epoch = 0;
  uint64_t next_request = 0;
  std::map<uint64_t, caf::response_promise> pending;
  static inline const char* name = "forwarder";
};

using forwarder_self = caf::stateful_actor<forwarder_state>;

void install(forwarder_self* self, const rule_set& rs) {
  auto& st = self->state;
  if (rs.epoch <= st.epoch)
    return; // an older push overtaken by a newer one
  st.epoch = rs.epoch;
  const auto& opts = st.loop->options();
  st.loop->install(rule_table::build(*rs.rules, opts.interface, rs.epoch,
                                     resolve_interface_index));
}

void subscribe(forwarder_self* self) {
  auto store = self->state.ctx->get(relay_role::rule_store);
  if (!store) {
    self->delayed_send(self, resubscribe_delay, fwd_resub_atom::value);
    return;
  }
  self->state.rule_store = store.address();
  self->monitor(store);
  self
    ->request(store, std::chrono::seconds{5}, rules_subscribe_atom::value,
              caf::actor_cast<caf::actor>(self))
    .then([self](const rule_set& rs) { install(self, rs); },
          [self](const caf::error& err) {
            spdlog::warn("{}: rule store did not answer ({}); retrying",
                         self->state.loop->options().worker, describe(err));
            self->delayed_send(self, resubscribe_delay, fwd_resub_atom::value);
          });
}

caf::behavior forwarder_actor(forwarder_self* self,
                              std::shared_ptr<forwarder_loop> loop,
                              relay_context_ptr ctx,
                              std::shared_ptr<caf::actor_addr> failure_target) {
  auto& st = self->state;
  st.loop = loop;
  st.ctx = std::move(ctx);
  // The loop's thread reports failures to this actor; set before start(),
  // which orders it before any read on that thread.
  *failure_target = self->address();
  // Whatever ends the actor (kill included) stops the loop and closes its
  // sockets before the supervisor can start a replacement on the same
  // fanout group.
  self->attach_functor([loop] { loop->stop(); });
  loop->start();
  const auto& o = loop->options();
  spdlog::info("{}: forwarding from {} ({})", o.worker, o.interface,
               o.ingress == ingress_mode::socket ? "UDP sockets"
               : o.mode == packet::receive_mode::ring
                 ? "AF_PACKET, TPACKET_V3 ring"
                 : "AF_PACKET, recvmmsg");
  self->set_down_handler([self](const caf::down_msg& dm) {
    if (dm.source == self->state.rule_store) {
      // The store restarted: subscribe to its successor.
      self->state.rule_store = nullptr;
      self->delayed_send(self, resubscribe_delay, fwd_resub_atom::value);
    }
  });
  subscribe(self);
  return {
    [self](rules_atom, const rule_set& rs) { install(self, rs); },
    [self](fwd_resub_atom) {
      if (!self->state.rule_store)
        subscribe(self);
    },
    [self](forwarder_stats_atom) {
      auto& st = self->state;
      auto rp = self->make_response_promise<worker_snapshot>();
      const auto id = st.next_request++;
      st.pending.emplace(id, rp);
      auto addr = self->address();
      st.loop->snapshot([addr, id](worker_snapshot snap) {
        caf::anon_send(caf::actor_cast<caf::actor>(addr),
                       fwd_snapshot_atom::value, id, std::move(snap));
      });
      return rp;
    },
    [self](fwd_snapshot_atom, uint64_t id, worker_snapshot& snap) {
      auto& pending = self->state.pending;
      auto i = pending.find(id);
      if (i == pending.end())
        return;
      i->second.deliver(std::move(snap));
      pending.erase(i);
    },
    [self](fwd_failed_atom, const std::string& reason) {
      self->quit(caf::make_error(caf::sec::runtime_error, reason));
    },
  };
}

} // namespace

child_spec forwarder_child(std::string id, std::string interface,
                           relay_context_ptr ctx) {
  auto start = [id, interface, ctx](caf::event_based_actor* sup,
                                    const caf::message&) -> start_result {
    forwarder_options opts;
    opts.worker = id;
    opts.interface = interface;
    opts.ifindex = resolve_interface_index(interface);
    opts.mode = ctx->receive_mode();
    opts.ingress = ctx->config().relay.relay.ingress;
    if (opts.ifindex == 0)
      return caf::make_error(caf::sec::runtime_error,
                             "no input interface " + interface);
    auto failure_target = std::make_shared<caf::actor_addr>();
    std::shared_ptr<forwarder_loop> loop;
    try {
      loop = std::make_shared<forwarder_loop>(
        opts, [failure_target](const std::string& reason) {
          caf::anon_send(caf::actor_cast<caf::actor>(*failure_target),
                         fwd_failed_atom::value, reason);
        });
    } catch (const std::exception& ex) {
      return caf::make_error(caf::sec::runtime_error, id + ": " + ex.what());
    }
    return sup->spawn(forwarder_actor, loop, ctx, failure_target);
  };
  auto spec = worker_with(std::move(id), std::move(start));
  spec.shutdown = shutdown_spec::after(std::chrono::milliseconds{2000});
  return spec;
}

} // namespace castor::relay
