#include "control/control_protocol.hpp"

// The protocol's reply side: responses, rules as JSON, and the data of
// successful replies (control_protocol.cpp has the line codec).

namespace castor::relay::control {

using nlohmann::json;

// -- responses ----------------------------------------------------------------

response make_ok(json data) {
  return response{true, {}, std::move(data)};
}

response make_error(std::string message, json data) {
  return response{false, std::move(message), std::move(data)};
}

// -- rules as JSON ------------------------------------------------------------

json to_json(const rule& x) {
  json in = {{"interface", x.input.interface},
             {"group", x.input.group.to_string()},
             {"port", x.input.port}};
  if (x.input.source)
    in["source"] = x.input.source->to_string();
  json outs = json::array();
  for (auto& o : x.outputs)
    outs.push_back({{"interface", o.interface},
                    {"address", o.address.to_string()},
                    {"port", o.port},
                    {"ttl", o.ttl},
                    {"tos", o.tos}});
  return {
    {"name", x.name}, {"input", std::move(in)}, {"outputs", std::move(outs)}};
}

// -- reply data -----------------------------------------------------------------

namespace {

/// Reads member `key` into `out` if present and convertible; otherwise
/// leaves `out` alone (replies are read leniently, see the header).
template <class T>
void lenient(const json& j, const char* key, T& out) {
  auto i = j.find(key);
  if (i == j.end())
    return;
  try {
    out = i->get<T>();
  } catch (const json::exception&) {
    // keep the default: castorctl shows what it can
  }
}

} // namespace

void to_json(json& j, const output_stats& x) {
  j = {{"interface", x.interface}, {"address", x.address}, {"port", x.port},
       {"packets", x.packets},     {"bytes", x.bytes},     {"drops", x.drops}};
}

void from_json(const json& j, output_stats& x) {
  if (!j.is_object())
    return;
  lenient(j, "interface", x.interface);
  lenient(j, "address", x.address);
  lenient(j, "port", x.port);
  lenient(j, "packets", x.packets);
  lenient(j, "bytes", x.bytes);
  lenient(j, "drops", x.drops);
}

void to_json(json& j, const rule_stats& x) {
  j = {{"name", x.name},
       {"packets", x.packets},
       {"bytes", x.bytes},
       {"drops", x.drops},
       {"outputs", x.outputs}};
}

void from_json(const json& j, rule_stats& x) {
  if (!j.is_object())
    return;
  lenient(j, "name", x.name);
  lenient(j, "packets", x.packets);
  lenient(j, "bytes", x.bytes);
  lenient(j, "drops", x.drops);
  lenient(j, "outputs", x.outputs);
}

void to_json(json& j, const worker_info& x) {
  j = {{"id", x.id},
       {"interface", x.interface},
       {"state", x.state},
       {"restarts", x.restarts},
       {"queue_depth", x.queue_depth},
       {"frames", x.frames},
       {"kernel_drops", x.kernel_drops}};
}

void from_json(const json& j, worker_info& x) {
  if (!j.is_object())
    return;
  lenient(j, "id", x.id);
  lenient(j, "interface", x.interface);
  lenient(j, "state", x.state);
  lenient(j, "restarts", x.restarts);
  lenient(j, "queue_depth", x.queue_depth);
  lenient(j, "frames", x.frames);
  lenient(j, "kernel_drops", x.kernel_drops);
}

void to_json(json& j, const reload_summary& x) {
  j = {{"added", x.added},
       {"removed", x.removed},
       {"changed", x.changed},
       {"unchanged", x.unchanged},
       {"restart_needed", x.restart_needed}};
}

void from_json(const json& j, reload_summary& x) {
  if (!j.is_object())
    return;
  lenient(j, "added", x.added);
  lenient(j, "removed", x.removed);
  lenient(j, "changed", x.changed);
  lenient(j, "unchanged", x.unchanged);
  lenient(j, "restart_needed", x.restart_needed);
}

json list_reply(const std::vector<rule>& rules) {
  json xs = json::array();
  for (auto& r : rules)
    xs.push_back(to_json(r));
  return {{"rules", std::move(xs)}};
}

json stats_reply(const std::vector<rule_stats>& stats) {
  return {{"rules", stats}};
}

json workers_reply(const std::vector<worker_info>& workers) {
  return {{"workers", workers}};
}

json version_reply(const std::string& version, const std::string& commit) {
  return {{"version", version}, {"commit", commit}};
}

json reload_reply(const reload_summary& summary) {
  return {{"reload", summary}};
}

response reload_failed(const std::vector<std::string>& errors) {
  return make_error(
    "the new config is invalid (" + std::to_string(errors.size()) + " error"
      + (errors.size() == 1 ? "" : "s") + "); the running config is unchanged",
    {{"errors", errors}});
}

} // namespace castor::relay::control
