#pragma once

// A supervisor with Erlang/OTP semantics; it monitors its children.
//
// Protocol (every request is answered; errors are castor::errc):
//   (start_child_atom, child_spec)        -> caf::actor      add + start a child
//   (start_child_atom, caf::message args) -> caf::actor      simple_one_for_one
//   (terminate_child_atom, std::string id)-> ok_atom         stop, keep the spec
//   (terminate_child_atom, caf::actor)    -> ok_atom         by handle
//   (restart_child_atom, std::string id)  -> caf::actor      start a stopped spec
//   (delete_child_atom, std::string id)   -> ok_atom         drop a stopped spec
//   (which_children_atom)                 -> std::vector<child_info>
//   (count_children_atom)                 -> child_counts
//   (tree_atom)                           -> tree_node       nested dump
//   (ready_atom)                          -> ok_atom         once started
// Sending the supervisor an exit with a non-normal reason stops its children
// in reverse start order, each per its shutdown spec, and then the supervisor
// with that reason. The exit of another actor linked to it is ignored, as in
// OTP, unless it is the parent supervisor's. Differences from OTP:
// docs/otp-deviations.md.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "castor/actors/atoms.hpp"
#include "castor/actors/backoff_spec.hpp"
#include "castor/actors/child_spec.hpp"
#include "castor/actors/errors.hpp"

namespace castor {

enum class strategy : uint8_t {
  one_for_one,
  one_for_all,
  rest_for_one,
  simple_one_for_one,
};

enum class auto_shutdown : uint8_t { never, any_significant, all_significant };

struct supervisor_flags {
  castor::strategy strategy = castor::strategy::one_for_one;
  /// At most `intensity` restarts within `period`; one more and the
  /// supervisor stops its children and exits with
  /// errc::reached_max_restart_intensity, a shutdown reason like OTP's
  /// `shutdown` (see is_shutdown_exit). A restart counts from when it takes
  /// effect, after its backoff delay. OTP defaults: 1 in 5 s.
  int intensity = 1;
  std::chrono::milliseconds period{5000};
  castor::auto_shutdown auto_shutdown = castor::auto_shutdown::never;
  backoff_spec backoff;
  /// Shown in trees and logs.
  std::string name = "supervisor";
};

/// One row of which_children, in start order.
struct child_info {
  std::string id;
  /// Invalid when the child is not running (OTP's `undefined`/`restarting`).
  caf::actor handle;
  /// "starting", "running", "restarting", "stopped" or "stopping".
  std::string state;
  child_type type = child_type::worker;
  uint64_t restarts = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_info& x) {
  return f(caf::meta::type_name("child_info"), x.id, x.handle, x.state, x.type,
           x.restarts);
}

/// count_children: OTP's [{specs,N},{active,N},{supervisors,N},{workers,N}].
struct child_counts {
  uint64_t specs = 0;
  uint64_t active = 0;
  uint64_t supervisors = 0;
  uint64_t workers = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_counts& x) {
  return f(caf::meta::type_name("child_counts"), x.specs, x.active,
           x.supervisors, x.workers);
}

inline bool operator==(const child_counts& x, const child_counts& y) {
  return x.specs == y.specs && x.active == y.active
         && x.supervisors == y.supervisors && x.workers == y.workers;
}

/// One node of the supervision tree dump.
struct tree_node {
  std::string id;
  /// "supervisor" or "worker".
  std::string kind;
  /// For supervisors: the strategy; empty for workers.
  std::string strategy;
  std::string state;
  uint64_t restarts = 0;
  /// CAF actor id of the running instance, 0 when not running.
  uint64_t actor_id = 0;
  std::vector<tree_node> children;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tree_node& x) {
  return f(caf::meta::type_name("tree_node"), x.id, x.kind, x.strategy, x.state,
           x.restarts, x.actor_id, x.children);
}

/// The tree as JSON: {"id":..,"kind":..,"strategy":..,"state":..,
/// "restarts":..,"actor_id":..,"children":[...]}.
std::string to_json(const tree_node& root, int indent = -1);

std::string to_string(castor::strategy x);
std::string to_string(restart_type x);
std::string to_string(child_type x);

/// Checks flags and specs the way OTP's supervisor:check_childspecs does.
caf::error validate(const supervisor_flags& flags,
                    const std::vector<child_spec>& specs);

/// Spawns a supervisor. Its children start in order right away; ask it
/// `ready_atom` to learn when (or whether) the start finished. Errors in flags
/// or specs end it with errc::invalid_spec.
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                            std::vector<child_spec> specs);

/// Spawns a supervisor and blocks until all its children have started. On a
/// start failure the started children are stopped again (reverse order) and
/// the error is returned: errc::start_failed with the child id and reason.
/// When `timeout` passes first, the supervisor is killed (its children with
/// it, with no ordered stop: the start may be stuck on one of them) and the
/// error is sec::request_timeout.
caf::expected<caf::actor>
start_supervisor(caf::actor_system& sys, supervisor_flags flags,
                 std::vector<child_spec> specs,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// A child spec for a nested supervisor: type supervisor, shutdown infinity,
/// await_ready, restart permanent.
child_spec supervisor_child(std::string id, supervisor_flags flags,
                            std::vector<child_spec> specs);

} // namespace castor

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::supervisor_flags)
