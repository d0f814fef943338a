#include "config/config_parser_impl.hpp"

// The [[rule]] tables: decoded field by field with their positions, then
// checked by the rule validator against the rules before them.

#include "model/rule_validator.hpp"

namespace castor::relay::detail {

void parser::parse_rule(const toml::table& t) {
  if (parse_site_rule(t))
    return;
  decoded_rule d;
  d.where[""] = t.source().begin;
  check_keys(t, "rule", {"name", "input", "outputs"});
  if (auto* n = t.get("name")) {
    d.where["name"] = n->source().begin;
    if (auto v = get_string(*n, "name"))
      d.value.name = *v;
    else
      d.fail("name");
  } else {
    error(t, "rule: missing required key 'name'");
    d.fail("name");
  }
  if (auto* n = t.get("input"))
    decode_input(*n, d);
  else {
    error(t, "rule: missing required key 'input'");
    d.fail("input");
  }
  if (auto* n = t.get("outputs"))
    decode_outputs(*n, d);
  else {
    error(t, "rule: missing required key 'outputs'");
    d.fail("outputs");
  }
  for (auto& issue : validate_rule(d.value))
    if (!d.masked(issue.field)) {
      error(d.position(issue.field), to_string(issue));
      d.ok = false;
    }
  for (auto& issue : find_conflicts(d.value, checked_)) {
    if (d.masked(issue.field))
      continue;
    auto& origin = origins_.at(*issue.other);
    error(d.position(issue.field), to_string(issue) + " (first defined at "
                                     + origin.file + ":"
                                     + std::to_string(origin.pos.line) + ":"
                                     + std::to_string(origin.pos.column) + ")");
    d.ok = false;
  }
  // A rule whose name and input are sound takes part in later conflict
  // checks even if an output is broken, so that every duplicate shows up.
  if (!d.masked("name") && !d.masked("input")) {
    checked_.push_back(d.value);
    origins_.push_back(rule_origin{file_, t.source().begin});
  }
  if (d.ok)
    result_.config.rules.push_back(std::move(d.value));
}

/// Decodes an address field; `required` absent keys are reported.
template <class Address>
void parser::decode_address(const toml::table& t, std::string_view key,
                            const std::string& field, const std::string& part,
                            Address& out, decoded_rule& d) {
  auto* n = t.get(key);
  if (!n) {
    error(t, part + ": missing required key '" + std::string{key} + "'");
    d.fail(field);
    return;
  }
  d.where[field] = n->source().begin;
  auto text = get_string(*n, field);
  if (!text) {
    d.fail(field);
    return;
  }
  if (auto err = parse_address(*text, out)) {
    error(*n, field + ": " + *err);
    d.fail(field);
  }
}

template void parser::decode_address(const toml::table&, std::string_view,
                                     const std::string&, const std::string&,
                                     ipv4&, decoded_rule&);
template void parser::decode_address(const toml::table&, std::string_view,
                                     const std::string&, const std::string&,
                                     ip_addr&, decoded_rule&);

void parser::decode_string(const toml::table& t, std::string_view key,
                           const std::string& field, const std::string& part,
                           std::string& out, decoded_rule& d) {
  auto* n = t.get(key);
  if (!n) {
    error(t, part + ": missing required key '" + std::string{key} + "'");
    d.fail(field);
    return;
  }
  d.where[field] = n->source().begin;
  if (auto v = get_string(*n, field))
    out = *v;
  else
    d.fail(field);
}

void parser::decode_input(const toml::node& node, decoded_rule& d) {
  d.where["input"] = node.source().begin;
  auto* t = as_table(node, "input");
  if (!t) {
    d.fail("input");
    return;
  }
  auto& in = d.value.input;
  check_keys(*t, "input", {"interface", "group", "port", "source"});
  decode_string(*t, "interface", "input.interface", "input", in.interface, d);
  decode_address(*t, "group", "input.group", "input", in.group, d);
  decode_int(*t, "port", "input.port", "input", true, check_port, in.port, d);
  if (t->get("source")) {
    ip_addr src;
    decode_address(*t, "source", "input.source", "input", src, d);
    if (!d.masked("input.source"))
      in.source = src;
  }
}

void parser::decode_outputs(const toml::node& node, decoded_rule& d) {
  d.where["outputs"] = node.source().begin;
  auto* arr = node.as_array();
  if (!arr) {
    error(node, std::string{"outputs: expected an array of tables, found "}
                  + type_name(node.type()));
    d.fail("outputs");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    auto part = "outputs[" + std::to_string(i) + "]";
    auto& elem = *arr->get(i);
    d.where[part] = elem.source().begin;
    d.value.outputs.emplace_back();
    auto& out = d.value.outputs.back();
    out.ttl = default_ttl;
    out.tos = default_tos;
    auto* t = as_table(elem, part);
    if (!t) {
      d.fail(part);
      continue;
    }
    check_keys(*t, part,
               {"interface", "address", "port", "ttl", "tos", "source_port"});
    decode_string(*t, "interface", part + ".interface", part, out.interface, d);
    decode_address(*t, "address", part + ".address", part, out.address, d);
    decode_int(*t, "port", part + ".port", part, true, check_port, out.port, d);
    decode_int_or_word(*t, "ttl", part + ".ttl", part, check_ttl, out.ttl,
                       ttl_decrement_word, out.ttl_decrement, d);
    decode_int_or_word(*t, "tos", part + ".tos", part, check_tos, out.tos,
                       tos_preserve_word, out.tos_preserve, d);
    decode_int(*t, "source_port", part + ".source_port", part, false,
               check_port, out.source_port, d);
  }
}

} // namespace castor::relay::detail
