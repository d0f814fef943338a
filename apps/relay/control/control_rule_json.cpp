#include "control/control_json_reader.hpp"
#include "control/control_protocol.hpp"
#include "model/rule_validator.hpp"

namespace castor::relay::control {

using namespace detail;

// -- rules as JSON ------------------------------------------------------------

decoded<rule> rule_from_json(const json& j) {
  decoded<rule> result;
  if (!j.is_object()) {
    result.error = std::string{"expected an object, found "} + type_name(j);
    return result;
  }
  reader rd;
  rule r;
  rd.check_members(j, "", {"name", "input", "outputs"});
  if (auto name = rd.string(j, "name", "", true))
    r.name = *name;
  if (auto* in = rd.member(j, "input", "", true)) {
    if (!in->is_object()) {
      rd.problem("input",
                 std::string{"expected an object, found "} + type_name(*in));
    } else {
      rd.check_members(*in, "input", {"interface", "group", "port", "source"});
      if (auto itf = rd.string(*in, "interface", "input", true))
        r.input.interface = *itf;
      std::optional<ip_addr> group;
      rd.address(*in, "group", "input", true, group);
      if (group)
        r.input.group = *group;
      rd.integer(*in, "port", "input", true, check_port, r.input.port);
      rd.address(*in, "source", "input", false, r.input.source);
    }
  }
  if (auto* outs = rd.member(j, "outputs", "", true)) {
    if (!outs->is_array()) {
      rd.problem("outputs",
                 std::string{"expected an array, found "} + type_name(*outs));
    } else {
      for (size_t i = 0; i < outs->size(); ++i) {
        auto field = "outputs[" + std::to_string(i) + "]";
        auto& o = (*outs)[i];
        rule_output out;
        out.ttl = default_ttl;
        out.tos = default_tos;
        if (!o.is_object()) {
          rd.problem(field,
                     std::string{"expected an object, found "} + type_name(o));
          continue;
        }
        rd.check_members(
          o, field,
          {"interface", "address", "port", "ttl", "tos", "source_port"});
        if (auto itf = rd.string(o, "interface", field, true))
          out.interface = *itf;
        std::optional<ip_addr> addr;
        rd.address(o, "address", field, true, addr);
        if (addr)
          out.address = *addr;
        rd.integer(o, "port", field, true, check_port, out.port);
        rd.integer_or_word(o, "ttl", field, check_ttl, out.ttl,
                           ttl_decrement_word, out.ttl_decrement);
        rd.integer_or_word(o, "tos", field, check_tos, out.tos,
                           tos_preserve_word, out.tos_preserve);
        rd.integer(o, "source_port", field, false, check_port, out.source_port);
        r.outputs.push_back(out);
      }
    }
  }
  // Semantic checks only on a fully decoded rule: on a partial one they
  // would repeat the decode problems in other words.
  if (rd.problems.empty())
    for (auto& issue : validate_rule(r))
      rd.problems.push_back(to_string(issue));
  if (!rd.problems.empty()) {
    result.error = join(rd.problems, "; ");
    return result;
  }
  result.value = std::move(r);
  return result;
}

} // namespace castor::relay::control
