#include "config/config_parser.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "config/config_parser_impl.hpp"
#include "model/datapath.hpp"
#include "model/log_levels.hpp"
#include "model/rule_validator.hpp"
#include "service/logging.hpp"
#include <arpa/inet.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <toml++/toml.h>

namespace castor::relay {

// -- small public helpers -----------------------------------------------------

std::string to_string(const config_error& x) {
  if (x.line == 0)
    return x.file + ": " + x.message;
  return x.file + ":" + std::to_string(x.line) + ":" + std::to_string(x.column)
         + ": " + x.message;
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
               "127.0.0.1:17108 or [::1]:17108";
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

} // namespace

namespace detail {

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

config_result parser::run_file(const std::string& path) {
  std::string text;
  if (!read_file(path, text, nullptr))
    return std::move(result_);
  return run(text, path);
}

config_result parser::run(std::string_view text, const std::string& name) {
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

void parser::error(const toml::source_position& pos, std::string msg) {
  errors_.push_back(indexed_error{
    file_index_, config_error{file_, pos.line, pos.column, std::move(msg)}});
}

void parser::error(const toml::node& where, std::string msg) {
  error(where.source().begin, std::move(msg));
}

void parser::error(const toml::key& where, std::string msg) {
  error(where.source().begin, std::move(msg));
}

/// Reads a whole file. On failure records an error: positioned at
/// `include_key` (the include that named the file) when given, else
/// without a position.
bool parser::read_file(const std::string& path, std::string& out,
                       const toml::node* include_key) {
  // A directory opens and reads as an empty file, which parses as a config
  // without rules: say what it is instead.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    if (include_key)
      error(*include_key, "include: '" + path
                            + "' is a directory; name its files with a "
                              "pattern, such as '"
                            + path + (path.back() == '/' ? "" : "/")
                            + "*.toml'");
    else
      result_.errors.push_back(
        config_error{path, 0, 0, "cannot read config file: it is a directory"});
    return false;
  }
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

void parser::parse_document(std::string_view text, const std::string& name,
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

void parser::parse_main(toml::table& doc) {
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
    else if (k == "node")
      parse_node(value);
    else if (k == "peer")
      parse_peers(value);
    else
      error(key, "unknown key '" + std::string{k}
                   + "' (expected include, relay, metrics, node, peer or "
                     "rule)");
  }
  // Included rules come after the main file's, whatever the key order.
  if (include)
    parse_includes(*include);
  check_site_references();
}

void parser::parse_included(toml::table& doc) {
  for (auto&& [key, value] : doc) {
    auto k = key.str();
    if (k == "rule")
      parse_rules(value);
    else if (k == "relay" || k == "metrics" || k == "include" || k == "node"
             || k == "peer")
      error(key, "'" + std::string{k}
                   + "' is only allowed in the main config file; an "
                     "included file may hold only [[rule]] tables");
    else
      error(key, "unknown key '" + std::string{k}
                   + "' (an included file may hold only [[rule]] tables)");
  }
}

void parser::parse_includes(const toml::node& node) {
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
std::vector<std::string> parser::expand(const std::string& pattern,
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

/// Reports keys of `table` that are not in `allowed`.
void parser::check_keys(const toml::table& table, const std::string& where,
                        const std::vector<std::string_view>& allowed) {
  for (auto&& [key, value] : table) {
    (void)value;
    if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end())
      error(key, where + ": unknown key '" + std::string{key.str()}
                   + "' (expected " + join(allowed) + ")");
  }
}

const toml::table* parser::as_table(const toml::node& node,
                                    const std::string& field) {
  if (auto* t = node.as_table())
    return t;
  error(node, field + ": expected a table, found " + type_name(node.type()));
  return nullptr;
}

std::optional<std::string> parser::get_string(const toml::node& node,
                                              const std::string& field) {
  return get_exact<std::string>(node, field, "a string");
}

std::optional<int64_t> parser::get_int(const toml::node& node,
                                       const std::string& field) {
  return get_exact<int64_t>(node, field, "an integer");
}

std::optional<bool> parser::get_bool(const toml::node& node,
                                     const std::string& field) {
  return get_exact<bool>(node, field, "a boolean");
}

void parser::parse_relay(const toml::node& node) {
  auto* t = as_table(node, "relay");
  if (!t)
    return;
  check_keys(*t, "relay",
             {"workers", "ingress", "datapath", "control_socket", "log_level",
              "log_target", "max_frame", "max_buffer_memory_mib",
              "control_admin_group"});
  auto& s = result_.config.relay;
  if (auto* n = t->get("workers")) {
    if (auto v = get_int(*n, "relay.workers")) {
      if (*v < 0 || *v > max_workers)
        error(*n, "relay.workers: " + std::to_string(*v)
                    + " is out of range 0..256 (0 means one per core)");
      else
        s.workers = static_cast<unsigned>(*v);
    }
  }
  if (auto* n = t->get("max_frame")) {
    if (auto v = get_int(*n, "relay.max_frame")) {
      if (*v < static_cast<int64_t>(min_max_frame)
          || *v > static_cast<int64_t>(max_max_frame))
        error(*n, "relay.max_frame: " + std::to_string(*v) + " is out of range "
                    + std::to_string(min_max_frame) + ".."
                    + std::to_string(max_max_frame)
                    + " (bytes of IP packet; 9216 takes jumbo frames)");
      else
        s.max_frame = static_cast<std::size_t>(*v);
    }
  }
  if (auto* n = t->get("max_buffer_memory_mib")) {
    if (auto v = get_int(*n, "relay.max_buffer_memory_mib")) {
      if (*v < 1 || static_cast<uint64_t>(*v) > max_max_buffer_memory_mib)
        error(*n, "relay.max_buffer_memory_mib: " + std::to_string(*v)
                    + " is out of range 1.."
                    + std::to_string(max_max_buffer_memory_mib));
      else
        s.max_buffer_memory_mib = static_cast<uint64_t>(*v);
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
  if (auto* n = t->get("datapath")) {
    if (auto v = get_string(*n, "relay.datapath")) {
      if (*v == "packet")
        s.datapath = datapath_mode::packet;
      else if (*v == "kernel")
        s.datapath = datapath_mode::kernel;
      else if (*v == "auto")
        s.datapath = datapath_mode::automatic;
      else
        error(*n, "relay.datapath: '" + *v
                    + "' is not one of \"packet\", \"kernel\", \"auto\"");
    }
  }
  if (auto* n = t->get("control_socket")) {
    if (auto v = get_string(*n, "relay.control_socket")) {
      if (v->empty() || v->front() != '/')
        error(*n, "relay.control_socket: '" + *v + "' is not an absolute path");
      else if (v->size() > max_socket_path)
        error(*n, "relay.control_socket: the path is "
                    + std::to_string(v->size())
                    + " bytes long; a unix socket path holds at most "
                    + std::to_string(max_socket_path));
      else
        s.control_socket = *v;
    }
  }
  if (auto* n = t->get("control_admin_group")) {
    if (auto v = get_string(*n, "relay.control_admin_group")) {
      if (v->empty())
        error(*n, "relay.control_admin_group: must not be empty (leave it "
                  "out: then only root and the daemon's user may change "
                  "the relay)");
      else
        s.control_admin_group = *v;
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

void parser::parse_metrics(const toml::node& node) {
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

void parser::parse_rules(const toml::node& node) {
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

} // namespace detail

config_result parse_config_file(const std::string& path) {
  return detail::parser{}.run_file(path);
}

config_result parse_config_string(std::string_view text,
                                  const std::string& name) {
  return detail::parser{}.run(text, name);
}

} // namespace castor::relay
