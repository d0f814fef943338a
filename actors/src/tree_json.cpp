#include <nlohmann/json.hpp>

#include "castor/actors/supervisor.hpp"

namespace castor {

namespace {

nlohmann::json to_json_value(const tree_node& node) {
  nlohmann::json out{
    {"id", node.id},
    {"kind", node.kind},
    {"state", node.state},
    {"restarts", node.restarts},
    {"actor_id", node.actor_id},
  };
  if (node.kind == "supervisor") {
    out["strategy"] = node.strategy;
    auto children = nlohmann::json::array();
    for (auto& child : node.children)
      children.push_back(to_json_value(child));
    out["children"] = std::move(children);
  }
  return out;
}

} // namespace

std::string to_json(const tree_node& root, int indent) {
  return to_json_value(root).dump(indent);
}

} // namespace castor
