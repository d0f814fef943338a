#include "dataplane/forwarder.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "dataplane/forwarder_loop.hpp"
#include "dataplane/rule_subscription.hpp"
#include "dataplane/rule_table.hpp"
#include "model/datapath.hpp"
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/errors.hpp"

namespace castor::relay {

namespace {

// The loop's answers come back as messages to the actor (from the loop's
// thread), never as callbacks into actor state.
using fwd_snapshot_atom = caf::atom_constant<caf::atom("fwd_snap")>;
using fwd_failed_atom = caf::atom_constant<caf::atom("fwd_fail")>;
using fwd_wait_atom = caf::atom_constant<caf::atom("fwd_wait")>;

/// How often a forwarder whose input interface is gone looks for it again.
constexpr auto interface_poll = std::chrono::milliseconds{100};

struct forwarder_state {
  /// Null while the input interface is gone (waiting for it to return).
  std::shared_ptr<forwarder_loop> loop;
  forwarder_options opts;
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
  // Rules the kernel data path serves are its alone (model/datapath.hpp).
  const auto settings = st.ctx->settings();
  if (settings.datapath != datapath_mode::kernel) {
    st.loop->install(rule_table::build(*rs.rules, opts.interface, rs.epoch,
                                       resolve_interface_index));
    return;
  }
  const auto mine = rules_on_path(*rs.rules, settings, false);
  st.loop->install(
    rule_table::build(mine, opts.interface, rs.epoch, resolve_interface_index));
}

void subscribe(forwarder_self* self) {
  subscribe_rules(
    self, self->state.loop->options().worker,
    [](forwarder_self* s, const rule_set& rs) { install(s, rs); });
}

/// Whether `name` exists and is administratively up. An AF_PACKET socket
/// bound to a down interface fails at once (ENETDOWN), so a restarted
/// forwarder waits for both.
bool interface_up(const std::string& name) {
  ifreq ifr{};
  if (name.size() >= sizeof ifr.ifr_name)
    return false;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return true; // cannot tell: let the ingress socket find out
  const bool up =
    ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) != 0;
  ::close(fd);
  return up;
}

/// Opens the loop's sockets (throws on failure). The loop's thread reports
/// failures to whatever actor `failure_target` names by then.
std::shared_ptr<forwarder_loop>
make_loop(const forwarder_options& opts,
          std::shared_ptr<caf::actor_addr> failure_target) {
  return std::make_shared<forwarder_loop>(
    opts, [failure_target](const std::string& reason) {
      caf::anon_send(caf::actor_cast<caf::actor>(*failure_target),
                     fwd_failed_atom::value, reason);
    });
}

void start_forwarding(forwarder_self* self,
                      std::shared_ptr<forwarder_loop> loop,
                      const std::shared_ptr<caf::actor_addr>& failure_target) {
  auto& st = self->state;
  st.loop = loop;
  // The loop's thread reports failures to this actor; set before start(),
  // which orders it before any read on that thread.
  *failure_target = self->address();
  // Whatever ends the actor (kill included) stops the loop and closes its
  // sockets before the supervisor can start a replacement on the same
  // fanout group.
  // Its last counters stay in the totals (relay_context::retire).
  self->attach_functor([loop, ctx = st.ctx, incarnation = self->id()] {
    ctx->retire(incarnation, loop->final_snapshot());
  });
  loop->start();
  const auto& o = loop->options();
  spdlog::info("{}: forwarding from {} ({})", o.worker, o.interface,
               o.ingress == ingress_mode::socket ? "UDP sockets"
               : o.mode == packet::receive_mode::ring
                 ? "AF_PACKET, TPACKET_V3 ring"
                 : "AF_PACKET, recvmmsg");
  subscribe(self);
}

/// While the input interface is gone: looks for it every interface_poll
/// and starts forwarding once it is back (under a new ifindex, the only
/// one a new ingress socket can bind to).
void wait_for_interface(forwarder_self* self,
                        std::shared_ptr<caf::actor_addr> failure_target) {
  auto& opts = self->state.opts;
  opts.ifindex = resolve_interface_index(opts.interface);
  if (opts.ifindex == 0 || !interface_up(opts.interface)) {
    self->delayed_send(self, interface_poll, fwd_wait_atom::value);
    return;
  }
  std::shared_ptr<forwarder_loop> loop;
  try {
    loop = make_loop(opts, failure_target);
  } catch (const std::exception& ex) {
    // Back, but not usable yet (e.g. still being set up): the supervisor
    // restarts us, and the restart counts toward its intensity.
    self->quit(
      caf::make_error(caf::sec::runtime_error, opts.worker + ": " + ex.what()));
    return;
  }
  spdlog::info("{}: interface {} is back (ifindex {})", opts.worker,
               opts.interface, opts.ifindex);
  start_forwarding(self, std::move(loop), failure_target);
}

caf::behavior forwarder_actor(forwarder_self* self,
                              std::shared_ptr<forwarder_loop> loop,
                              forwarder_options opts, relay_context_ptr ctx,
                              std::shared_ptr<caf::actor_addr> failure_target) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.ctx = std::move(ctx);
  self->set_down_handler(
    [self](const caf::down_msg& dm) { rule_store_down(self, dm); });
  if (loop) {
    start_forwarding(self, std::move(loop), failure_target);
  } else {
    spdlog::warn("{}: input interface {} is gone or down; waiting for it",
                 st.opts.worker, st.opts.interface);
    self->delayed_send(self, interface_poll, fwd_wait_atom::value);
  }
  return {
    [self](rules_atom, const rule_set& rs) { install(self, rs); },
    [self](rules_resub_atom) {
      if (!self->state.rule_store)
        subscribe(self);
    },
    [self, failure_target](fwd_wait_atom) {
      if (!self->state.loop)
        wait_for_interface(self, failure_target);
    },
    [self](forwarder_stats_atom) -> caf::result<worker_snapshot> {
      auto& st = self->state;
      if (!st.loop) {
        worker_snapshot idle;
        idle.worker = st.opts.worker;
        idle.interface = st.opts.interface;
        return idle;
      }
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
  // Whether this child ever had its interface. A first start without it is
  // a typo or a missing link: a clean start error. A restart without it is
  // an interface that went away under traffic (deleted, or a driver
  // reload): the forwarder waits for it instead of failing every restart,
  // which would exhaust the supervisors' intensity and end the process.
  auto had_interface = std::make_shared<bool>(false);
  auto start = [id, interface, ctx,
                had_interface](caf::event_based_actor* sup,
                               const caf::message&) -> start_result {
    forwarder_options opts;
    opts.worker = id;
    opts.interface = interface;
    opts.ifindex = resolve_interface_index(interface);
    opts.ingress = ctx->config().relay.ingress;
    opts.max_frame = ctx->config().relay.max_frame;
    auto failure_target = std::make_shared<caf::actor_addr>();
    if (opts.ifindex == 0 && !*had_interface)
      return caf::make_error(caf::sec::runtime_error,
                             "no input interface " + interface);
    if (opts.ifindex == 0 || (*had_interface && !interface_up(interface))) {
      return sup->spawn(forwarder_actor, std::shared_ptr<forwarder_loop>{},
                        opts, ctx, failure_target);
    }
    *had_interface = true;
    std::shared_ptr<forwarder_loop> loop;
    try {
      loop = make_loop(opts, failure_target);
    } catch (const std::exception& ex) {
      return caf::make_error(caf::sec::runtime_error, id + ": " + ex.what());
    }
    return sup->spawn(forwarder_actor, loop, opts, ctx, failure_target);
  };
  auto spec = worker_with(std::move(id), std::move(start));
  spec.shutdown = shutdown_spec::after(std::chrono::milliseconds{2000});
  return spec;
}

} // namespace castor::relay
