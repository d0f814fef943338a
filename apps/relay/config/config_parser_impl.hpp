#pragma once

// The config parser's insides, shared by config_parser.cpp (files,
// includes, [relay] and [metrics]) and config_rules.cpp ([[rule]] tables).
// Not for other users: config_parser.hpp is the interface.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_parser.hpp"
#include <toml++/toml.h>

namespace castor::relay::detail {

const char* type_name(toml::node_type t);
std::string join(const std::vector<std::string_view>& xs);
std::string quoted_list(const std::vector<std::string>& xs);

/// Where a rule came from, for "first defined at" in conflict messages.
struct rule_origin {
  std::string file;
  toml::source_position pos;
};

/// What one rule table decoded into, with the source positions of its fields
/// (keyed by the validator's field paths) and the fields that failed to
/// decode, whose validator findings would only repeat the decode error.
struct decoded_rule {
  rule value;
  std::map<std::string, toml::source_position> where;
  std::vector<std::string> failed;
  bool ok = true;

  void fail(const std::string& field) {
    failed.push_back(field);
    ok = false;
  }

  /// Whether `field` overlaps a field that already failed: the same, one
  /// inside the other ("outputs" and "outputs[0].port").
  bool masked(const std::string& field) const {
    auto inside = [](const std::string& x, const std::string& y) {
      return x.size() > y.size() && x.compare(0, y.size(), y) == 0
             && (x[y.size()] == '.' || x[y.size()] == '[');
    };
    for (auto& f : failed)
      if (f == field || inside(field, f) || inside(f, field))
        return true;
    return false;
  }

  /// The position of `field`, or of the nearest enclosing field known.
  toml::source_position position(std::string field) const {
    for (;;) {
      if (auto i = where.find(field); i != where.end())
        return i->second;
      auto cut = field.find_last_of(".[");
      if (cut == std::string::npos)
        return where.at("");
      field.erase(cut);
    }
  }
};

class parser {
public:
  config_result run_file(const std::string& path);

  config_result run(std::string_view text, const std::string& name);

private:
  struct indexed_error {
    size_t file_index;
    config_error error;
  };

  // -- errors ------------------------------------------------------------------

  void error(const toml::source_position& pos, std::string msg);

  void error(const toml::node& where, std::string msg);

  void error(const toml::key& where, std::string msg);

  // -- files ---------------------------------------------------------------------

  /// Reads a whole file. On failure records an error: positioned at
  /// `include_key` (the include that named the file) when given, else
  /// without a position.
  bool read_file(const std::string& path, std::string& out,
                 const toml::node* include_key);

  void parse_document(std::string_view text, const std::string& name,
                      bool main);

  void parse_main(toml::table& doc);

  void parse_included(toml::table& doc);

  void parse_includes(const toml::node& node);

  /// The files a pattern names, sorted bytewise so that the order does not
  /// depend on the locale.
  std::vector<std::string> expand(const std::string& pattern,
                                  const toml::node& where);

  // -- typed access ------------------------------------------------------------

  /// Reports keys of `table` that are not in `allowed`.
  void check_keys(const toml::table& table, const std::string& where,
                  const std::vector<std::string_view>& allowed);

  const toml::table* as_table(const toml::node& node, const std::string& field);

  /// The value of `node` if it is exactly of TOML type T; otherwise an
  /// error that names the field, the expected type and the one found.
  template <class T>
  std::optional<T> get_exact(const toml::node& node, const std::string& field,
                             const char* expected) {
    if (auto v = node.value_exact<T>())
      return v;
    error(node, field + ": expected " + expected + ", found "
                  + type_name(node.type()));
    return std::nullopt;
  }

  std::optional<std::string> get_string(const toml::node& node,
                                        const std::string& field);

  std::optional<int64_t> get_int(const toml::node& node,
                                 const std::string& field);

  std::optional<bool> get_bool(const toml::node& node,
                               const std::string& field);

  // -- sections ----------------------------------------------------------------

  void parse_relay(const toml::node& node);

  void parse_metrics(const toml::node& node);

  void parse_rules(const toml::node& node);

  // -- rules -------------------------------------------------------------------

  void parse_rule(const toml::table& t);

  /// Decodes an address field; `required` absent keys are reported.
  /// `Address` is ipv4 (IPv4 only) or ip_addr (either family); defined
  /// in config_rules.cpp for those two.
  template <class Address>
  void decode_address(const toml::table& t, std::string_view key,
                      const std::string& field, const std::string& part,
                      Address& out, decoded_rule& d);

  void decode_string(const toml::table& t, std::string_view key,
                     const std::string& field, const std::string& part,
                     std::string& out, decoded_rule& d);

  /// Decodes an integer field through its range check; absent optional keys
  /// keep `out` as it is.
  template <class T, class Check>
  void decode_int(const toml::table& t, std::string_view key,
                  const std::string& field, const std::string& part,
                  bool required, Check check, T& out, decoded_rule& d) {
    auto* n = t.get(key);
    if (!n) {
      if (required) {
        error(t, part + ": missing required key '" + std::string{key} + "'");
        d.fail(field);
      }
      return;
    }
    d.where[field] = n->source().begin;
    auto v = get_int(*n, field);
    if (!v) {
      d.fail(field);
      return;
    }
    if (auto err = check(*v)) {
      error(*n, field + ": " + *err);
      d.fail(field);
      return;
    }
    out = static_cast<T>(*v);
  }

  /// An integer field that may also be the word `word` (ttl =
  /// "decrement", tos = "preserve"): the word sets `flag` instead.
  template <class T, class Check>
  void decode_int_or_word(const toml::table& t, std::string_view key,
                          const std::string& field, const std::string& part,
                          Check check, T& out, std::string_view word,
                          bool& flag, decoded_rule& d) {
    auto* n = t.get(key);
    if (n == nullptr || !n->is_string()) {
      decode_int(t, key, field, part, false, check, out, d);
      return;
    }
    d.where[field] = n->source().begin;
    if (n->value_or(std::string_view{}) == word) {
      flag = true;
      return;
    }
    error(*n, field + ": '" + n->value_or(std::string{})
                + "' is neither an integer nor \"" + std::string{word} + "\"");
    d.fail(field);
  }

  void decode_input(const toml::node& node, decoded_rule& d);

  void decode_outputs(const toml::node& node, decoded_rule& d);

  // -- sites (sites/config_sites.cpp) ------------------------------------------

  void parse_node(const toml::node& node);

  void parse_peers(const toml::node& node);

  /// A required, non-empty string key of `part` ("node", "peer").
  std::optional<std::string> site_string(const toml::table& t, const char* key,
                                         const std::string& part);

  /// A required IPv4:PORT or [IPv6]:PORT key of `part`.
  std::optional<site_endpoint>
  site_address(const toml::table& t, const char* key, const std::string& part);

  /// A [[rule]] whose input or outputs name peers: decoded into an export
  /// or an import; false (and nothing done) for an ordinary rule.
  bool parse_site_rule(const toml::table& t);

  /// After every file: each peer a rule names is a [[peer]], and rules
  /// naming peers need a [node].
  void check_site_references();

  struct peer_reference {
    size_t file_index;
    std::string file;
    toml::source_position pos;
    std::string field; ///< "rule 'x': outputs[0].peer"
    std::string peer;
  };
  std::vector<peer_reference> peer_refs_;
  std::vector<std::string> site_rule_names_;

  config_result result_;
  std::vector<indexed_error> errors_;
  std::string file_;
  size_t file_index_ = 0;
  // Rules whose name and input decoded, for duplicate checks, and where
  // each came from.
  std::vector<rule> checked_;
  std::vector<rule_origin> origins_;
};

} // namespace castor::relay::detail
