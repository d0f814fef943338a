#pragma once

// A named-actor registry with OTP's semantics, which CAF's own registry lacks:
// a name maps to one live actor, a second registration of a taken name is
// refused, and the entry disappears when its actor terminates. Registering
// an actor keeps it reachable while it holds a name. Under a supervisor
// (registry_child), a restarted registry serves the names its predecessor
// had, less those whose actors died meanwhile.
//
// Protocol (register with an empty name or no actor: errc::invalid_argument):
//   (register_atom, std::string name, caf::actor) -> ok_atom | errc::name_taken
//   (unregister_atom, std::string name)           -> ok_atom | errc::not_found
//   (whereis_atom, std::string name)              -> caf::actor | errc::not_found
//   (registered_atom)                             -> std::vector<std::string>

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>

#include "castor/actors/atoms.hpp"
#include "castor/actors/child_spec.hpp"

namespace castor {

/// The registry's behaviour; spawn it directly or via registry_child().
caf::behavior registry_actor(caf::event_based_actor* self);

/// A child spec for the registry, to put first in a supervision tree. Its
/// names survive a restart of the registry.
child_spec registry_child(std::string id = "registry");

/// Blocking helpers for non-actor code.
class registry_client {
public:
  registry_client(caf::actor_system& sys, caf::actor registry,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

  caf::error register_name(const std::string& name, const caf::actor& whom);
  caf::error unregister_name(const std::string& name);
  caf::expected<caf::actor> whereis(const std::string& name);
  caf::expected<std::vector<std::string>> registered();

private:
  caf::actor_system& sys_;
  caf::actor registry_;
  std::chrono::milliseconds timeout_;
};

} // namespace castor
