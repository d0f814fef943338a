#pragma once

// What the relay's actors share, and why it lives outside them: a restarted
// actor must find the state its predecessor had (the current rules) and its
// peers' *current* handles (a peer may have been restarted meanwhile under
// a new handle). Child specs and actors hold the context by shared_ptr.
//
// Handles are kept as weak addresses: the context is referenced from child
// specs held by supervisors, and strong handles there would form cycles that
// keep the actors alive forever, so ~actor_system would wait for them.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include "model/counters.hpp"
#include "model/daemon_config.hpp"
#include "model/rule.hpp"

#include "castor/actors/child_spec.hpp"

namespace castor::relay {

/// A version of the rule set. Immutable; shared by every reader.
struct rule_set {
  uint64_t epoch = 0;
  std::shared_ptr<const std::vector<rule>> rules =
    std::make_shared<const std::vector<rule>>();
};

/// The actors a peer may need to reach.
enum class relay_role : uint8_t {
  root,
  group_manager,
  rule_store,
  workers,
  handler,
  sites, ///< sites/sites_actor.hpp, when there is a [node]
  count_
};

class relay_context {
public:
  relay_context(daemon_config config, std::string config_file,
                unsigned workers_per_interface)
      : config_(std::move(config)), config_file_(std::move(config_file)),
        workers_per_interface_(workers_per_interface) {
    auto rules = std::make_shared<const std::vector<rule>>(config_.rules);
    rules_ = rule_set{1, std::move(rules)};
  }

  /// The running config: the settings in effect, and the rules as the last
  /// load (start or reload) read them; `rules()` has the current rules.
  daemon_config config() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return config_;
  }

  /// The [relay] settings in effect, without copying the rules.
  relay_settings settings() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return config_.relay;
  }

  /// After a reload: the config now in effect. Written by the rule store.
  void config(daemon_config next) {
    std::lock_guard<std::mutex> guard{mtx_};
    config_ = std::move(next);
  }
  const std::string& config_file() const noexcept { return config_file_; }
  unsigned workers_per_interface() const noexcept {
    return workers_per_interface_;
  }

  /// The current rules: the source of truth a restarted forwarder or rule
  /// store reads. Written by the rule store only.
  rule_set rules() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return rules_;
  }

  /// Replaces the rules under a new epoch and returns it.
  rule_set commit(std::vector<rule> rules) {
    std::lock_guard<std::mutex> guard{mtx_};
    rules_ =
      rule_set{rules_.epoch + 1,
               std::make_shared<const std::vector<rule>>(std::move(rules))};
    std::vector<std::string> names;
    for (const auto& r : *rules_.rules)
      names.push_back(r.name);
    for (auto& [id, r] : retired_by_worker_)
      keep_rules(r.sum, names);
    return rules_;
  }

  /// The last counters of a forwarder that stopped (killed, failed or
  /// restarted). They stay part of every total, so counters never go back
  /// when a worker is replaced (Prometheus reads a decrease as a reset).
  /// `incarnation` is the forwarder actor's id.
  void retire(uint64_t incarnation, const worker_snapshot& last) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& r = retired_by_worker_[last.worker];
    // Counts stay; what the worker saw of its output links is stale now.
    auto counts = last;
    counts.output_links.clear();
    for (auto& rule : counts.rules)
      for (auto& out : rule.outputs)
        out.state.clear();
    accumulate(r.sum, counts);
    r.up_to = std::max(r.up_to, incarnation);
  }

  /// The sum of all retired forwarders' counters, of current rules only.
  worker_snapshot retired() const {
    std::lock_guard<std::mutex> guard{mtx_};
    worker_snapshot total;
    for (const auto& [id, r] : retired_by_worker_)
      accumulate(total, r.sum);
    return total;
  }

  /// Per worker id, with the newest retired incarnation of each: what the
  /// metrics ledger adds to the running incarnations' counts.
  retired_by_worker retired_per_worker() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return retired_by_worker_;
  }

  /// Input interfaces in order of first appearance in the current rules.
  std::vector<std::string> input_interfaces() const {
    auto current = rules();
    std::vector<std::string> out;
    for (const auto& r : *current.rules)
      if (std::find(out.begin(), out.end(), r.input.interface) == out.end())
        out.push_back(r.input.interface);
    return out;
  }

  void set(relay_role role, const caf::actor& handle) {
    std::lock_guard<std::mutex> guard{mtx_};
    actors_[static_cast<size_t>(role)] = handle.address();
  }

  /// The running actor in `role`, or an invalid handle.
  caf::actor get(relay_role role) const {
    std::lock_guard<std::mutex> guard{mtx_};
    return caf::actor_cast<caf::actor>(actors_[static_cast<size_t>(role)]);
  }

private:
  daemon_config config_;
  std::string config_file_;
  unsigned workers_per_interface_;
  mutable std::mutex mtx_;
  rule_set rules_;
  retired_by_worker retired_by_worker_;
  caf::actor_addr actors_[static_cast<size_t>(relay_role::count_)];
};

using relay_context_ptr = std::shared_ptr<relay_context>;

/// The one way an actor enters the context: the same spec, but each
/// successful start also records the new handle under `role`, so peers
/// reach the current instance after a restart. The composition root
/// (relay_app.cpp) applies it; the actors never register themselves.
inline child_spec registered(child_spec spec, relay_context_ptr ctx,
                             relay_role role) {
  spec.start = [start = std::move(spec.start), ctx = std::move(ctx),
                role](caf::event_based_actor* sup,
                      const caf::message& extra) -> start_result {
    auto result = start(sup, extra);
    if (result && *result)
      ctx->set(role, *result);
    return result;
  };
  return spec;
}

} // namespace castor::relay

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::relay::rule_set)
