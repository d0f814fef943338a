#include "dataplane/worker_supervisor.hpp"

#include <chrono>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "dataplane/datapath_actor.hpp"
#include "dataplane/forwarder.hpp"
#include "model/datapath.hpp"

#include "castor/actors/atoms.hpp"
#include "castor/actors/supervisor.hpp"

namespace castor::relay {

namespace {

constexpr auto supervisor_timeout = std::chrono::seconds{10};

/// The forwarders, and under datapath = "kernel" a datapath actor for
/// each input interface, whether the kernel serves a rule there yet or
/// not (model/datapath.hpp, kernel_attaches()).
std::vector<std::pair<std::string, std::string>>
wanted_forwarders(const relay_context& ctx) {
  std::vector<std::pair<std::string, std::string>> out; // id, interface
  const bool kernel = kernel_attaches(ctx.settings());
  for (const auto& itf : ctx.input_interfaces()) {
    if (kernel)
      out.emplace_back(datapath_id(itf), itf);
    for (unsigned n = 1; n <= ctx.workers_per_interface(); ++n)
      out.emplace_back(forwarder_id(itf, n), itf);
  }
  return out;
}

child_spec worker_child(const std::string& id, const std::string& itf,
                        const relay_context_ptr& ctx) {
  if (id == datapath_id(itf))
    return datapath_child(itf, ctx);
  return forwarder_child(id, itf, ctx);
}

supervisor_flags worker_flags() {
  supervisor_flags flags;
  flags.strategy = strategy::one_for_one;
  flags.name = "workers";
  // Operators kill forwarders on purpose (castorctl kill), and an interface
  // flapping may fail several at once: allow a burst before escalating.
  flags.intensity = 20;
  flags.period = std::chrono::milliseconds{10000};
  return flags;
}

// Steps of a reconciliation, run one after another with awaited requests.
struct reconcile_job : std::enable_shared_from_this<reconcile_job> {
  caf::event_based_actor* self;
  relay_context_ptr ctx;
  caf::actor workers;
  std::function<void(caf::error)> done;
  std::vector<std::pair<std::string, std::string>> to_start;
  std::vector<std::string> to_stop;
  caf::error first_error;

  void next() {
    auto keep = shared_from_this();
    if (!to_start.empty()) {
      auto [id, itf] = to_start.back();
      to_start.pop_back();
      self
        ->request(workers, supervisor_timeout, start_child_atom::value,
                  worker_child(id, itf, ctx))
        .await([keep](const caf::actor&) { keep->next(); },
               [keep](caf::error& err) {
                 if (!keep->first_error)
                   keep->first_error = std::move(err);
                 keep->next();
               });
      return;
    }
    if (!to_stop.empty()) {
      auto id = to_stop.back();
      to_stop.pop_back();
      self
        ->request(workers, supervisor_timeout, terminate_child_atom::value, id)
        .await(
          [keep, id](caf::ok_atom) {
            keep->self
              ->request(keep->workers, supervisor_timeout,
                        delete_child_atom::value, id)
              .await([keep](caf::ok_atom) { keep->next(); },
                     [keep](caf::error&) { keep->next(); });
          },
          [keep](caf::error&) { keep->next(); });
      return;
    }
    done(std::move(first_error));
  }
};

} // namespace

std::string forwarder_id(const std::string& interface, unsigned n) {
  return "fwd-" + interface + "-" + std::to_string(n);
}

std::string forwarder_interface(const std::string& id) {
  if (id.rfind("kdp-", 0) == 0)
    return id.substr(4);
  if (id.rfind("fwd-", 0) != 0)
    return {};
  const auto dash = id.rfind('-');
  if (dash <= 4)
    return {};
  return id.substr(4, dash - 4);
}

child_spec worker_supervisor_child(relay_context_ptr ctx) {
  auto spec = supervisor_child("workers", worker_flags(), {});
  // The children are those the rules need at the moment of the start.
  spec.start = [ctx](caf::event_based_actor* sup,
                     const caf::message& extra) -> start_result {
    std::vector<child_spec> children;
    for (auto& [id, itf] : wanted_forwarders(*ctx))
      children.push_back(worker_child(id, itf, ctx));
    auto inner =
      supervisor_child("workers", worker_flags(), std::move(children));
    return inner.start(sup, extra);
  };
  return spec;
}

void reconcile_workers(caf::event_based_actor* self,
                       const relay_context_ptr& ctx,
                       std::function<void(caf::error)> done) {
  auto workers = ctx->get(relay_role::workers);
  if (!workers) {
    // Not running (restarting): its next start reads the current rules.
    done(caf::none);
    return;
  }
  self->request(workers, supervisor_timeout, which_children_atom::value)
    .await(
      [self, ctx, workers, done](const std::vector<child_info>& children) {
        auto job = std::make_shared<reconcile_job>();
        job->self = self;
        job->ctx = ctx;
        job->workers = workers;
        job->done = done;
        const auto wanted = wanted_forwarders(*ctx);
        std::set<std::string> have;
        for (const auto& c : children)
          have.insert(c.id);
        for (const auto& w : wanted)
          if (have.count(w.first) == 0)
            job->to_start.push_back(w);
        // Started in order fwd-X-1, fwd-X-2, ... (popped from the back).
        std::reverse(job->to_start.begin(), job->to_start.end());
        for (const auto& c : children) {
          bool needed = false;
          for (const auto& w : wanted)
            needed |= w.first == c.id;
          if (!needed)
            job->to_stop.push_back(c.id);
        }
        job->next();
      },
      [done](caf::error& err) { done(std::move(err)); });
}

} // namespace castor::relay
