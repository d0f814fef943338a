#pragma once

// castor's error codes, as a CAF error category ("castor"), helpers that
// classify exit reasons the way OTP does, and the one registry through which
// every castor error category (this one, net's "net", "net_tcp" and "mcast")
// is rendered: by describe(), and by `sys.render()` of any actor system
// configured with castor::configure() or install_error_renderers().

#include <cstdint>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace castor {

enum class errc : uint8_t {
  none = 0,
  /// No child (or registered name) with that id.
  not_found,
  /// The operation needs the child stopped, but it runs.
  running,
  /// The child is between a crash and its restart (backoff or retry).
  restarting,
  /// Not allowed on a simple_one_for_one supervisor (OTP's answer too).
  simple_one_for_one,
  /// start_child with an id whose spec exists but is not running.
  already_present,
  /// start_child with an id whose child runs.
  already_started,
  /// A child spec or supervisor flags are inconsistent; context says why.
  invalid_spec,
  /// A child's start function failed; context: child id, reason.
  start_failed,
  /// The supervisor exceeded its restart intensity and gave up. This is the
  /// exit reason a parent sees. Like OTP's `shutdown` (castor's form is
  /// OTP's {shutdown, reached_max_restart_intensity}), it counts as a
  /// shutdown: a parent restarts a permanent child supervisor that gave up
  /// (escalation, its own intensity decides), but not a transient one.
  reached_max_restart_intensity,
  /// The supervisor is shutting down and refuses new work.
  shutting_down,
  /// A registry name is already taken by a live actor.
  name_taken,
  /// An argument is malformed (empty name, invalid handle, ...).
  invalid_argument,
  /// A supervisor stopped itself because significant children ended
  /// (auto_shutdown). Counts as a shutdown, i.e. a normal exit.
  auto_shutdown,
  /// A blocking facade (supervisor_client, registry_client,
  /// start_supervisor) was called where blocking would deadlock: from a
  /// thread of an actor system (an actor's handler), or under CAF's test
  /// coordinator. Send a request instead.
  would_deadlock,
};

std::string to_string(errc x);

// -- rendering ----------------------------------------------------------------

/// Names the codes of one error category (code -> "not_found").
using error_code_namer = std::string (*)(uint8_t code);

/// Registers an error category for the whole process, once: describe() and
/// every actor system given install_error_renderers() then render its errors
/// as `<prefix><code name>[: <context>...]`. castor's own category has the
/// prefix "", net's have "net::", "net_tcp::" and "mcast::". Thread-safe; a
/// second registration of a category replaces the first. Returns true, so
/// that a namespace-scope constant can register at start-up.
bool register_error_category(caf::atom_value category, std::string prefix,
                             error_code_namer name);

/// Gives `cfg` a renderer for every registered category (castor::configure
/// calls this), so that `sys.render(err)` prints what describe() prints. CAF's
/// own categories keep CAF's renderers.
void install_error_renderers(caf::actor_system_config& cfg);

/// Renders any error for humans, including its context: a registered
/// category's and CAF's `sec` and `exit_reason` by name, anything else as CAF
/// prints it.
std::string describe(const caf::error& x);

/// An error's context alone, its elements joined with ": " (strings as they
/// are, anything else as CAF prints it); "" without context.
std::string context_text(const caf::error& x);

/// Like describe(), for exit reasons: no error reads "normal".
std::string describe_exit(const caf::error& reason);

/// OTP's `normal`: CAF's none or exit_reason::normal.
bool is_normal_exit(const caf::error& reason);

/// OTP's `shutdown` and `{shutdown, Term}`: exit_reason::user_shutdown, or
/// castor's auto_shutdown and reached_max_restart_intensity.
bool is_shutdown_exit(const caf::error& reason);

/// Normal or shutdown: what a transient child may exit with without being
/// restarted.
inline bool is_clean_exit(const caf::error& reason) {
  return is_normal_exit(reason) || is_shutdown_exit(reason);
}

} // namespace castor

CAF_ERROR_CODE_ENUM(castor::errc, "castor")
