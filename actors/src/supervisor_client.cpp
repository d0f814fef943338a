#include "castor/actors/supervisor_client.hpp"

#include "blocking_request.hpp"

namespace castor {

using detail::ask;
using detail::ask_ok;

supervisor_client::supervisor_client(caf::actor_system& sys,
                                     caf::actor supervisor,
                                     std::chrono::milliseconds timeout)
    : sys_(sys), sup_(std::move(supervisor)), timeout_(timeout) {
  // nop
}

caf::expected<caf::actor> supervisor_client::start_child(child_spec spec) {
  return ask<caf::actor>(sys_, sup_, timeout_, start_child_atom::value,
                         std::move(spec));
}

caf::expected<caf::actor> supervisor_client::start_child(caf::message extra) {
  return ask<caf::actor>(sys_, sup_, timeout_, start_child_atom::value,
                         std::move(extra));
}

caf::error supervisor_client::terminate_child(const std::string& id) {
  return ask_ok(sys_, sup_, timeout_, terminate_child_atom::value, id);
}

caf::error supervisor_client::terminate_child(const caf::actor& child) {
  return ask_ok(sys_, sup_, timeout_, terminate_child_atom::value, child);
}

caf::expected<caf::actor>
supervisor_client::restart_child(const std::string& id) {
  return ask<caf::actor>(sys_, sup_, timeout_, restart_child_atom::value, id);
}

caf::error supervisor_client::delete_child(const std::string& id) {
  return ask_ok(sys_, sup_, timeout_, delete_child_atom::value, id);
}

caf::expected<std::vector<child_info>> supervisor_client::which_children() {
  return ask<std::vector<child_info>>(sys_, sup_, timeout_,
                                      which_children_atom::value);
}

caf::expected<child_counts> supervisor_client::count_children() {
  return ask<child_counts>(sys_, sup_, timeout_, count_children_atom::value);
}

caf::expected<tree_node> supervisor_client::tree() {
  return ask<tree_node>(sys_, sup_, timeout_, tree_atom::value);
}

caf::expected<std::string> supervisor_client::tree_json(int indent) {
  auto root = tree();
  if (!root)
    return std::move(root.error());
  return to_json(*root, indent);
}

} // namespace castor
