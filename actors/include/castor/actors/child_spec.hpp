#pragma once

// What a supervisor needs to know about one child: OTP's child_spec map.

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>

namespace castor {

/// When a terminated child is restarted (OTP's `restart`).
enum class restart_type : uint8_t {
  permanent, ///< always
  transient, ///< only after an abnormal exit
  temporary, ///< never; the spec is dropped when the child ends
};

/// Worker or supervisor. supervisor_child() specs have an infinite shutdown
/// and await readiness, so a failed subtree start fails its parent's start.
enum class child_type : uint8_t { worker, supervisor };

/// How a child is stopped (OTP's `shutdown`).
struct shutdown_spec {
  enum class mode : uint8_t { brutal_kill, timeout, infinity };
  mode how = mode::timeout;
  std::chrono::milliseconds timeout{5000};

  /// Killed at once with exit_reason::kill.
  static shutdown_spec brutal_kill() {
    return {mode::brutal_kill, std::chrono::milliseconds{0}};
  }
  /// Sent exit_reason::user_shutdown, killed if still alive after `t`.
  static shutdown_spec after(std::chrono::milliseconds t) {
    return {mode::timeout, t};
  }
  /// Sent exit_reason::user_shutdown and waited for without limit.
  static shutdown_spec infinity() {
    return {mode::infinity, std::chrono::milliseconds{0}};
  }
};

/// The result of a start function: the new child (the supervisor monitors it
/// and does not link it), an invalid handle meaning OTP's `ignore`, or an
/// error that fails the start.
using start_result = caf::expected<caf::actor>;

/// Starts one child. Runs inside the supervisor, on its thread: do the work
/// that may fail here (bind a socket, open a file) so that a failure becomes a
/// clean start error. `extra` carries the arguments given to start_child on a
/// simple_one_for_one supervisor, and is empty otherwise.
using start_function = std::function<start_result(
  caf::event_based_actor* supervisor, const caf::message& extra)>;

struct child_spec {
  /// Unique among its siblings. Used by terminate/restart/delete_child and
  /// shown in the tree.
  std::string id;
  start_function start;
  restart_type restart = restart_type::permanent;
  shutdown_spec shutdown =
    shutdown_spec::after(std::chrono::milliseconds{5000});
  child_type type = child_type::worker;
  /// With the supervisor's auto_shutdown: this child's own end may end the
  /// supervisor. Not allowed for permanent children.
  bool significant = false;
  /// Ask the child `ready_atom` after spawning it and count it started only
  /// when it answers ok. Set for supervisors; workers with asynchronous
  /// initialisation may set it too.
  bool await_ready = false;
};

// -- builders ----------------------------------------------------------------

/// A worker spawned with `sup->spawn(fun, args...)`, monitored by `sup`.
template <class F, class... Ts>
child_spec worker(std::string id, F fun, Ts... args) {
  child_spec spec;
  spec.id = std::move(id);
  spec.start = [fun, args...](caf::event_based_actor* sup,
                              const caf::message&) -> start_result {
    return sup->spawn(fun, args...);
  };
  return spec;
}

/// A worker with a hand-written start function.
inline child_spec worker_with(std::string id, start_function start) {
  child_spec spec;
  spec.id = std::move(id);
  spec.start = std::move(start);
  return spec;
}

} // namespace castor

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::child_spec)
