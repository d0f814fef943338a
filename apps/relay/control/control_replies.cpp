#include <type_traits>

#include "control/control_protocol.hpp"

// The protocol's reply side: responses, rules as JSON, and the data of
// successful replies (control_requests.cpp and control_responses.cpp have
// the line codec).

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
  for (auto& o : x.outputs) {
    json out = {
      {"interface", o.interface},
      {"address", o.address.to_string()},
      {"port", o.port},
      {"ttl", o.ttl_decrement ? json(ttl_decrement_word) : json(o.ttl)},
      {"tos", o.tos_preserve ? json(tos_preserve_word) : json(o.tos)}};
    if (o.source_port != 0)
      out["source_port"] = o.source_port;
    outs.push_back(std::move(out));
  }
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

// Each reply type lists its fields once, as (key, member); to_json writes
// them all and from_json reads each one leniently. `Self` is the type, const
// or not, so that one list serves both directions.
template <class Self, class F>
auto fields(Self& x, F&& f)
  -> std::enable_if_t<std::is_same_v<std::remove_const_t<Self>, output_stats>> {
  f("interface", x.interface);
  f("address", x.address);
  f("port", x.port);
  f("packets", x.packets);
  f("bytes", x.bytes);
  f("drops", x.drops);
  f("state", x.state);
  f("kernel_tx_dropped", x.kernel_tx_dropped);
}

template <class Self, class F>
auto fields(Self& x, F&& f)
  -> std::enable_if_t<std::is_same_v<std::remove_const_t<Self>, rule_stats>> {
  f("name", x.name);
  f("packets", x.packets);
  f("bytes", x.bytes);
  f("drops", x.drops);
  f("outputs", x.outputs);
  f("rate", x.rate);
  f("last_packet_s", x.last_packet_s);
}

template <class Self, class F>
auto fields(Self& x, F&& f)
  -> std::enable_if_t<std::is_same_v<std::remove_const_t<Self>, worker_info>> {
  f("id", x.id);
  f("interface", x.interface);
  f("state", x.state);
  f("restarts", x.restarts);
  f("queue_depth", x.queue_depth);
  f("frames", x.frames);
  f("kernel_drops", x.kernel_drops);
  f("filter", x.filter);
  f("filter_error", x.filter_error);
  f("filter_failures", x.filter_failures);
  f("outputs", x.outputs);
}

template <class Self, class F>
auto fields(Self& x, F&& f) -> std::enable_if_t<
  std::is_same_v<std::remove_const_t<Self>, reload_summary>> {
  f("added", x.added);
  f("removed", x.removed);
  f("changed", x.changed);
  f("unchanged", x.unchanged);
  f("restart_needed", x.restart_needed);
}

template <class T>
void write_fields(json& j, const T& x) {
  j = json::object();
  fields(x, [&j](const char* key, const auto& value) { j[key] = value; });
}

template <class T>
void read_fields(const json& j, T& x) {
  if (!j.is_object())
    return;
  fields(x, [&j](const char* key, auto& value) { lenient(j, key, value); });
}

} // namespace

void to_json(json& j, const output_stats& x) {
  write_fields(j, x);
}

void from_json(const json& j, output_stats& x) {
  read_fields(j, x);
}

void to_json(json& j, const rule_stats& x) {
  write_fields(j, x);
}

void from_json(const json& j, rule_stats& x) {
  read_fields(j, x);
}

void to_json(json& j, const worker_info& x) {
  write_fields(j, x);
}

void from_json(const json& j, worker_info& x) {
  read_fields(j, x);
}

void to_json(json& j, const reload_summary& x) {
  write_fields(j, x);
}

void from_json(const json& j, reload_summary& x) {
  read_fields(j, x);
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
