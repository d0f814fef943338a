#include "control/control_json_reader.hpp"
#include "control/control_protocol.hpp"

namespace castor::relay::control {

using namespace detail;

// -- responses ----------------------------------------------------------------

std::string encode_response(const response& x) {
  json j = json::object();
  j["ok"] = x.ok;
  if (!x.ok)
    j["error"] = x.error;
  if (x.data.is_object()) {
    for (auto& [key, value] : x.data.items())
      if (key != "ok" && key != "error")
        j[key] = value;
  } else if (!x.data.is_null()) {
    j["data"] = x.data;
  }
  return dump(j);
}

response decode_response(std::string_view line) {
  std::string parse_error;
  auto j = parse_json(line, max_response_depth, parse_error);
  if (!j)
    return make_error("malformed response from the daemon: " + parse_error);
  if (!j->is_object())
    return make_error("malformed response from the daemon: not a JSON object");
  auto ok = j->find("ok");
  if (ok == j->end() || !ok->is_boolean())
    return make_error(
      "malformed response from the daemon: no boolean member 'ok'");
  response r;
  r.ok = ok->get<bool>();
  if (!r.ok) {
    auto err = j->find("error");
    r.error = err != j->end() && err->is_string()
                ? err->get<std::string>()
                : "the daemon reported a failure without a message";
  }
  j->erase("ok");
  j->erase("error");
  r.data = std::move(*j);
  return r;
}

} // namespace castor::relay::control
