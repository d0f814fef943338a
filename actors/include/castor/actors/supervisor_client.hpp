#pragma once

// A small blocking facade over the supervisor protocol, for main() and other
// non-actor code. Actors talk to supervisors with plain requests instead.

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "castor/actors/supervisor.hpp"

namespace castor {

class supervisor_client {
public:
  supervisor_client(
    caf::actor_system& sys, caf::actor supervisor,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

  caf::expected<caf::actor> start_child(child_spec spec);
  /// simple_one_for_one: starts the template with `extra` as arguments.
  caf::expected<caf::actor> start_child(caf::message extra);
  caf::error terminate_child(const std::string& id);
  caf::error terminate_child(const caf::actor& child);
  caf::expected<caf::actor> restart_child(const std::string& id);
  caf::error delete_child(const std::string& id);
  caf::expected<std::vector<child_info>> which_children();
  caf::expected<child_counts> count_children();
  caf::expected<tree_node> tree();
  caf::expected<std::string> tree_json(int indent = 2);

  const caf::actor& handle() const noexcept { return sup_; }

private:
  caf::actor_system& sys_;
  caf::actor sup_;
  std::chrono::milliseconds timeout_;
};

} // namespace castor
