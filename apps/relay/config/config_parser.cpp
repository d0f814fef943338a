#include "config/config_parser.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "model/rule_validator.hpp"
#include "service/logging.hpp"
#include <arpa/inet.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <toml++/toml.h>

namespace castor::relay {

// -- small public helpers -----------------------------------------------------

bool operator==(const metrics_settings& x, const metrics_settings& y) {
  return x.enabled == y.enabled && x.listen == y.listen;
}

bool operator==(const daemon_config& x, const daemon_config& y) {
  auto& a = x.relay.relay;
  auto& b = y.relay.relay;
  return a.workers == b.workers && a.ingress == b.ingress
         && a.control_socket == b.control_socket && a.log_level == b.log_level
         && a.log_target == b.log_target && x.relay.rules == y.relay.rules
         && x.metrics == y.metrics && x.include == y.include;
}

std::string to_string(const config_error& x) {
  if (x.line == 0)
    return x.file + ": " + x.message;
  return x.file + ":" + std::to_string(x.line) + ":" + std::to_string(x.column)
         + ": " + x.message;
}

const std::vector<std::string>& log_levels() {
  static const std::vector<std::string> levels{"none",   "err",  "warn",
                                               "notice", "info", "debug"};
  return levels;
}

bool is_log_level(const std::string& level) {
  auto& xs = log_levels();
  return std::find(xs.begin(), xs.end(), level) != xs.end();
}

std::string to_string(ingress_mode x) {
  switch (x) {
  case ingress_mode::packet:
    return "packet";
  case ingress_mode::socket:
    return "socket";
  case ingress_mode::automatic:
    return "auto";
  }
  return "packet";
}

namespace {

// -- limits that the format documents ----------------------------------------

constexpr int64_t max_workers = 256;
// sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
constexpr size_t max_socket_path = sizeof(sockaddr_un::sun_path) - 1;

const char* type_name(toml::node_type t) {
  switch (t) {
  case toml::node_type::table:
    return "a table";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a float";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::date:
    return "a date";
  case toml::node_type::time:
    return "a time";
  case toml::node_type::date_time:
    return "a date-time";
  default:
    return "nothing";
  }
}

std::string join(const std::vector<std::string_view>& xs) {
  std::string out;
  for (auto x : xs) {
    if (!out.empty())
      out += ", ";
    out += x;
  }
  return out;
}

std::string quoted_list(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += ", ";
    out += "\"" + x + "\"";
  }
  return out;
}

bool has_wildcard(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

std::string dir_of(const std::string& path) {
  auto pos = path.rfind('/');
  if (pos == std::string::npos)
    return ".";
  return pos == 0 ? "/" : path.substr(0, pos);
}

/// HOST:PORT with an IPv4 literal or a bracketed IPv6 literal.
std::optional<std::string> check_listen(const std::string& text) {
  auto bad = "'" + text
             + "' is not HOST:PORT with an IP address, such as "
               "127.0.0.1:9108 or [::1]:9108";
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size())
    return bad;
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos
      || port_text.size() > 5)
    return bad;
  unsigned char buf[sizeof(in6_addr)];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1)
      return bad;
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    return bad;
  }
  return check_port(std::stoll(port_text));
}

// -- include globbing ----------------------------------------------------------

/// What made glob() give up. glob(3) reports directory errors only through a
/// plain function pointer, so the details travel through this (per thread:
/// parsers on different threads do not share it).
struct glob_error_info {
  std::string dir;
  int err = 0;
};
thread_local glob_error_info glob_failure;

/// A directory that does not exist (or a path component that is a file)
/// simply contributes no matches: `/etc/castor/relay.d/*.toml` on a host
/// without relay.d is the same as an empty relay.d. Anything else (EACCES,
/// EIO, ...) would silently drop rules, so it aborts the expansion.
int on_glob_error(const char* dir, int err) {
  if (err == ENOENT || err == ENOTDIR)
    return 0;
  glob_failure = glob_error_info{dir, err};
  return 1;
}

// -- the parser ----------------------------------------------------------------

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
  config_result run_file(const std::string& path) {
    std::string text;
    if (!read_file(path, text, nullptr))
      return std::move(result_);
    return run(text, path);
  }

  config_result run(std::string_view text, const std::string& name) {
    parse_document(text, name, /*main=*/true);
    // Stable: errors of one file keep their order among equal positions.
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const indexed_error& x, const indexed_error& y) {
                       if (x.file_index != y.file_index)
                         return x.file_index < y.file_index;
                       if (x.error.line != y.error.line)
                         return x.error.line < y.error.line;
                       return x.error.column < y.error.column;
                     });
    for (auto& x : errors_)
      result_.errors.push_back(std::move(x.error));
    return std::move(result_);
  }

private:
  struct indexed_error {
    size_t file_index;
    config_error error;
  };

  // -- errors ------------------------------------------------------------------

  void error(const toml::source_position& pos, std::string msg) {
    errors_.push_back(indexed_error{
      file_index_, config_error{file_, pos.line, pos.column, std::move(msg)}});
  }

  void error(const toml::node& where, std::string msg) {
    error(where.source().begin, std::move(msg));
  }

  void error(const toml::key& where, std::string msg) {
    error(where.source().begin, std::move(msg));
  }

  // -- files ---------------------------------------------------------------------

  /// Reads a whole file. On failure records an error: positioned at
  /// `include_key` (the include that named the file) when given, else
  /// without a position.
  bool read_file(const std::string& path, std::string& out,
                 const toml::node* include_key) {
    std::ifstream in{path, std::ios::binary};
    if (in) {
      std::ostringstream buf;
      buf << in.rdbuf();
      if (!in.bad()) {
        out = buf.str();
        return true;
      }
    }
    auto why = std::string{std::strerror(errno)};
    if (include_key)
      error(*include_key, "include: cannot read '" + path + "': " + why);
    else
      result_.errors.push_back(
        config_error{path, 0, 0, "cannot read config file: " + why});
    return false;
  }

  void parse_document(std::string_view text, const std::string& name,
                      bool main) {
    auto saved_file = file_;
    auto saved_index = file_index_;
    file_ = name;
    file_index_ = result_.files.size();
    result_.files.push_back(name);
    try {
      auto doc = toml::parse(text, std::string{name});
      if (main)
        parse_main(doc);
      else
        parse_included(doc);
    } catch (const toml::parse_error& e) {
      error(e.source().begin, std::string{e.description()});
    }
    file_ = saved_file;
    file_index_ = saved_index;
  }

  void parse_main(toml::table& doc) {
    const toml::node* include = nullptr;
    for (auto&& [key, value] : doc) {
      auto k = key.str();
      if (k == "relay")
        parse_relay(value);
      else if (k == "metrics")
        parse_metrics(value);
      else if (k == "rule")
        parse_rules(value);
      else if (k == "include")
        include = &value;
      else
        error(key, "unknown key '" + std::string{k}
                     + "' (expected include, relay, metrics or rule)");
    }
    // Included rules come after the main file's, whatever the key order.
    if (include)
      parse_includes(*include);
  }

  void parse_included(toml::table& doc) {
    for (auto&& [key, value] : doc) {
      auto k = key.str();
      if (k == "rule")
        parse_rules(value);
      else if (k == "relay" || k == "metrics" || k == "include")
        error(key, "'" + std::string{k}
                     + "' is only allowed in the main config file; an "
                       "included file may hold only [[rule]] tables");
      else
        error(key, "unknown key '" + std::string{k}
                     + "' (an included file may hold only [[rule]] tables)");
    }
  }

  void parse_includes(const toml::node& node) {
    auto* patterns = node.as_array();
    if (!patterns) {
      error(node, std::string{"include: expected an array of strings, found "}
                    + type_name(node.type()));
      return;
    }
    auto base = dir_of(file_);
    std::set<std::string> seen{file_};
    for (auto& elem : *patterns) {
      auto* pattern = elem.as_string();
      if (!pattern) {
        error(elem, std::string{"include: expected a string, found "}
                      + type_name(elem.type()));
        continue;
      }
      auto text = pattern->get();
      result_.config.include.push_back(text);
      if (text.empty()) {
        error(elem, "include: empty pattern");
        continue;
      }
      auto full = text.front() == '/' ? text : base + "/" + text;
      for (auto& path : expand(full, elem)) {
        if (!seen.insert(path).second) {
          error(elem, "include: '" + path
                        + "' is already read (the main file or an "
                          "earlier pattern); not reading it twice");
          continue;
        }
        std::string contents;
        if (read_file(path, contents, &elem))
          parse_document(contents, path, /*main=*/false);
      }
    }
  }

  /// The files a pattern names, sorted bytewise so that the order does not
  /// depend on the locale.
  std::vector<std::string> expand(const std::string& pattern,
                                  const toml::node& where) {
    std::vector<std::string> out;
    if (!has_wildcard(pattern)) {
      struct stat st {};
      if (::stat(pattern.c_str(), &st) != 0)
        error(where, "include: '" + pattern + "': " + std::strerror(errno));
      else
        out.push_back(pattern);
      return out;
    }
    glob_t g{};
    glob_failure = {};
    auto rc = ::glob(pattern.c_str(), 0, on_glob_error, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i)
        out.emplace_back(g.gl_pathv[i]);
    } else if (rc == GLOB_ABORTED) {
      error(where, "include: cannot read directory '" + glob_failure.dir
                     + "' for '" + pattern
                     + "': " + std::strerror(glob_failure.err));
    } else if (rc == GLOB_NOSPACE) {
      error(where, "include: out of memory expanding '" + pattern + "'");
    }
    ::globfree(&g);
    std::sort(out.begin(), out.end());
    return out;
  }

  // -- typed access ------------------------------------------------------------

  /// Reports keys of `table` that are not in `allowed`.
  void check_keys(const toml::table& table, const std::string& where,
                  const std::vector<std::string_view>& allowed) {
    for (auto&& [key, value] : table) {
      (void)value;
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end())
        error(key, where + ": unknown key '" + std::string{key.str()}
                     + "' (expected " + join(allowed) + ")");
    }
  }

  const toml::table* as_table(const toml::node& node,
                              const std::string& field) {
    if (auto* t = node.as_table())
      return t;
    error(node, field + ": expected a table, found " + type_name(node.type()));
    return nullptr;
  }

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
                                        const std::string& field) {
    return get_exact<std::string>(node, field, "a string");
  }

  std::optional<int64_t> get_int(const toml::node& node,
                                 const std::string& field) {
    return get_exact<int64_t>(node, field, "an integer");
  }

  std::optional<bool> get_bool(const toml::node& node,
                               const std::string& field) {
    return get_exact<bool>(node, field, "a boolean");
  }

  // -- sections ----------------------------------------------------------------

  void parse_relay(const toml::node& node) {
    auto* t = as_table(node, "relay");
    if (!t)
      return;
    check_keys(
      *t, "relay",
      {"workers", "ingress", "control_socket", "log_level", "log_target"});
    auto& s = result_.config.relay.relay;
    if (auto* n = t->get("workers")) {
      if (auto v = get_int(*n, "relay.workers")) {
        if (*v < 0 || *v > max_workers)
          error(*n, "relay.workers: " + std::to_string(*v)
                      + " is out of range 0..256 (0 means one per core)");
        else
          s.workers = static_cast<unsigned>(*v);
      }
    }
    if (auto* n = t->get("ingress")) {
      if (auto v = get_string(*n, "relay.ingress")) {
        if (*v == "packet")
          s.ingress = ingress_mode::packet;
        else if (*v == "socket")
          s.ingress = ingress_mode::socket;
        else if (*v == "auto")
          s.ingress = ingress_mode::automatic;
        else
          error(*n, "relay.ingress: '" + *v
                      + "' is not one of \"packet\", \"socket\", "
                        "\"auto\"");
      }
    }
    if (auto* n = t->get("control_socket")) {
      if (auto v = get_string(*n, "relay.control_socket")) {
        if (v->empty() || v->front() != '/')
          error(*n,
                "relay.control_socket: '" + *v + "' is not an absolute path");
        else if (v->size() > max_socket_path)
          error(*n, "relay.control_socket: the path is "
                      + std::to_string(v->size())
                      + " bytes long; a unix socket path holds at most "
                      + std::to_string(max_socket_path));
        else
          s.control_socket = *v;
      }
    }
    if (auto* n = t->get("log_level")) {
      if (auto v = get_string(*n, "relay.log_level")) {
        if (is_log_level(*v))
          s.log_level = *v;
        else
          error(*n, "relay.log_level: '" + *v + "' is not one of "
                      + quoted_list(log_levels()));
      }
    }
    if (auto* n = t->get("log_target")) {
      if (auto v = get_string(*n, "relay.log_target")) {
        if (parse_log_target(*v))
          s.log_target = *v;
        else
          error(*n, "relay.log_target: '" + *v
                      + "' is not \"stderr\", \"syslog\" or \"file:PATH\"");
      }
    }
  }

  void parse_metrics(const toml::node& node) {
    auto* t = as_table(node, "metrics");
    if (!t)
      return;
    check_keys(*t, "metrics", {"enabled", "listen"});
    auto& m = result_.config.metrics;
    if (auto* n = t->get("enabled"))
      if (auto v = get_bool(*n, "metrics.enabled"))
        m.enabled = *v;
    if (auto* n = t->get("listen")) {
      if (auto v = get_string(*n, "metrics.listen")) {
        if (auto err = check_listen(*v))
          error(*n, "metrics.listen: " + *err);
        else
          m.listen = *v;
      }
    }
  }

  void parse_rules(const toml::node& node) {
    auto* arr = node.as_array();
    if (!arr) {
      error(node, std::string{"rule: expected an array of tables ([[rule]]), "
                              "found "}
                    + type_name(node.type()));
      return;
    }
    for (auto& elem : *arr) {
      auto* t = elem.as_table();
      if (!t) {
        error(elem, std::string{"rule: expected a table, found "}
                      + type_name(elem.type()));
        continue;
      }
      parse_rule(*t);
    }
  }

  // -- rules -------------------------------------------------------------------

  void parse_rule(const toml::table& t) {
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
      error(d.position(issue.field),
            to_string(issue) + " (first defined at " + origin.file + ":"
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
      result_.config.relay.rules.push_back(std::move(d.value));
  }

  /// Decodes an address field; `required` absent keys are reported.
  void decode_address(const toml::table& t, std::string_view key,
                      const std::string& field, const std::string& part,
                      ipv4& out, decoded_rule& d) {
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

  void decode_string(const toml::table& t, std::string_view key,
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

  void decode_input(const toml::node& node, decoded_rule& d) {
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
      ipv4 src;
      decode_address(*t, "source", "input.source", "input", src, d);
      if (!d.masked("input.source"))
        in.source = src;
    }
  }

  void decode_outputs(const toml::node& node, decoded_rule& d) {
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
      check_keys(*t, part, {"interface", "address", "port", "ttl", "tos"});
      decode_string(*t, "interface", part + ".interface", part, out.interface,
                    d);
      decode_address(*t, "address", part + ".address", part, out.address, d);
      decode_int(*t, "port", part + ".port", part, true, check_port, out.port,
                 d);
      decode_int(*t, "ttl", part + ".ttl", part, false, check_ttl, out.ttl, d);
      decode_int(*t, "tos", part + ".tos", part, false, check_tos, out.tos, d);
    }
  }

  config_result result_;
  std::vector<indexed_error> errors_;
  std::string file_;
  size_t file_index_ = 0;
  // Rules whose name and input decoded, for duplicate checks, and where
  // each came from.
  std::vector<rule> checked_;
  std::vector<rule_origin> origins_;
};

} // namespace

config_result parse_config_file(const std::string& path) {
  return parser{}.run_file(path);
}

config_result parse_config_string(std::string_view text,
                                  const std::string& name) {
  return parser{}.run(text, name);
}

} // namespace castor::relay
