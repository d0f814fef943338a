// castorctl: the control client of castor-relay. Sends one request over the
// daemon's unix socket (control_protocol.hpp), waits for the answer and
// prints it as a table, or as the raw JSON reply with --json.
//
// Exit status: 0 the daemon answered ok; 1 it answered with an error, or it
// could not be reached; 2 bad usage. `castorctl reload` therefore serves as
// systemd's ExecReload=.
//
// --json and --plain are taken anywhere on the line; under --json every
// error castorctl reports itself is a JSON line too ({"ok":false,...}).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "control/castorctl_output.hpp"
#include "control/control_protocol.hpp"
#include "control/overload.hpp"
#include "control/traffic_look.hpp"
#include <CLI/CLI.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using nlohmann::json;
namespace ctl = castor::relay::control;

constexpr const char* default_socket = "/run/castor/relay.sock";
// The daemon's replies are at most a config dump or a stats table; a larger
// one means something is wrong, not that we should buffer without end.
constexpr size_t max_reply_bytes = 64 * 1024 * 1024;

// -- transport ------------------------------------------------------------------

struct failure {
  std::string message;
  /// 1: the daemon failed or could not be reached; 2: bad usage.
  int exit_code = 1;
};

/// A bad argument, found before anything is sent.
failure usage(std::string message) {
  return failure{std::move(message), 2};
}

/// Sends `line` and returns the reply line; throws failure with a message
/// for the operator.
std::string exchange(const std::string& path, const std::string& line,
                     std::chrono::seconds timeout) {
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    throw failure{"socket path " + path + " is too long for a unix socket"};
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw failure{std::string{"cannot create a socket: "}
                  + std::strerror(errno)};
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto err = errno;
    std::string hint = err == EACCES ? " (are you in the socket's group?)"
                                     : " — is castor-relay running?";
    throw failure{"cannot connect to " + path + ": " + std::strerror(err)
                  + hint};
  }
  auto out = line + "\n";
  for (size_t done = 0; done < out.size();) {
    auto n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw failure{"cannot send the request to " + path + ": "
                    + std::strerror(errno)};
    }
    done += static_cast<size_t>(n);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string reply;
  char buf[65536];
  for (;;) {
    if (auto nl = reply.find('\n'); nl != std::string::npos) {
      reply.resize(nl);
      return reply;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      throw failure{"no answer from castor-relay within "
                    + std::to_string(timeout.count()) + " s"};
    pollfd p{fd, POLLIN, 0};
    auto rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR)
      throw failure{std::string{"poll failed: "} + std::strerror(errno)};
    if (rc <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw failure{"cannot read the answer: "
                    + std::string{std::strerror(errno)}};
    }
    if (n == 0)
      throw failure{"castor-relay closed the connection without an answer"};
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > max_reply_bytes)
      throw failure{"the answer exceeds "
                    + std::to_string(max_reply_bytes / (1024 * 1024))
                    + " MiB; giving up"};
  }
}

// -- command-line values --------------------------------------------------------

/// Splits at `sep`, except inside brackets: an IPv6 address is written
/// [ADDR] ("eth0:[ff3e::1:1]:5001"), and comes out without them.
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto pos = start;
    if (pos < text.size() && text[pos] == '[') {
      auto close = text.find(']', pos);
      pos = close == std::string::npos ? close : close + 1;
    }
    pos = text.find(sep, pos);
    auto part = text.substr(start, pos - start);
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']')
      part = part.substr(1, part.size() - 2);
    out.push_back(part);
    if (pos == std::string::npos)
      return out;
    start = pos + 1;
  }
}

/// A decimal number for a JSON integer member; strings that are not numbers
/// are an error here, where we can name the flag.
json number(const std::string& flag, const std::string& spec,
            const std::string& what, const std::string& text) {
  if (text.empty() || text.size() > 9
      || text.find_first_not_of("0123456789") != std::string::npos)
    throw usage(flag + " '" + spec + "': " + what + " '" + text
                + "' is not a number");
  return std::stoll(text);
}

/// --in IF:GROUP:PORT[:SOURCE]
json parse_input(const std::string& spec) {
  auto parts = split(spec, ':');
  if (parts.size() < 3 || parts.size() > 4)
    throw usage("--in '" + spec
                + "': expected IF:GROUP:PORT[:SOURCE], "
                  "e.g. eth0:239.1.1.1:5001");
  json in = {{"interface", parts[0]},
             {"group", parts[1]},
             {"port", number("--in", spec, "port", parts[2])}};
  if (parts.size() == 4)
    in["source"] = parts[3];
  return in;
}

/// --out IF:ADDR:PORT[:ttl=N|decrement][:tos=N|preserve][:sport=N]
json parse_output(const std::string& spec) {
  auto parts = split(spec, ':');
  if (parts.size() < 3 || parts.size() > 6)
    throw usage("--out '" + spec
                + "': expected "
                  "IF:ADDR:PORT[:ttl=N|decrement][:tos=N|preserve][:sport=N]"
                  ", e.g. eth1:239.2.2.2:6001:ttl=4");
  json out = {{"interface", parts[0]},
              {"address", parts[1]},
              {"port", number("--out", spec, "port", parts[2])}};
  for (size_t i = 3; i < parts.size(); ++i) {
    auto& opt = parts[i];
    if (opt == std::string{"ttl="} + castor::relay::ttl_decrement_word)
      out["ttl"] = castor::relay::ttl_decrement_word;
    else if (opt.rfind("ttl=", 0) == 0)
      out["ttl"] = number("--out", spec, "ttl", opt.substr(4));
    else if (opt == std::string{"tos="} + castor::relay::tos_preserve_word)
      out["tos"] = castor::relay::tos_preserve_word;
    else if (opt.rfind("tos=", 0) == 0)
      out["tos"] = number("--out", spec, "tos", opt.substr(4));
    else if (opt.rfind("sport=", 0) == 0)
      out["source_port"] = number("--out", spec, "sport", opt.substr(6));
    else
      throw usage("--out '" + spec + "': unknown option '" + opt
                  + "' (expected ttl=N|decrement, tos=N|preserve or "
                    "sport=N)");
  }
  return out;
}

/// A rule from the flags' values. The daemon checks again; checking here
/// names the values before anything is sent.
castor::relay::rule make_rule(const std::string& name,
                              const std::string& in_spec,
                              const std::vector<std::string>& out_specs) {
  json rule = {{"name", name},
               {"input", parse_input(in_spec)},
               {"outputs", json::array()}};
  for (auto& spec : out_specs)
    rule["outputs"].push_back(parse_output(spec));
  auto decoded = ctl::rule_from_json(rule);
  if (!decoded)
    throw usage("invalid rule '" + name + "': " + decoded.error);
  return *decoded.value;
}

/// The daemon's error, and each of its "errors" lines.
void print_refusal(const ctl::response& reply) {
  std::cerr << "castorctl: " << reply.error << "\n";
  if (auto errs = reply.data.find("errors");
      errs != reply.data.end() && errs->is_array())
    for (auto& e : *errs)
      std::cerr << "  " << (e.is_string() ? e.get<std::string>() : e.dump())
                << "\n";
}

/// Rules per `add` request of --from: a request line must stay under the
/// daemon's max_line_bytes (64 KiB); a rule with one output is ~200 bytes.
constexpr size_t rules_per_request = 200;

/// castorctl add --from FILE: reads every line first (a bad line fails
/// before anything is sent), then sends the rules in requests of
/// rules_per_request. Each request is all or nothing; on a refused one the
/// earlier ones stay added, and the message says how many.
int add_from(const std::string& socket_path, const std::string& file,
             std::chrono::seconds timeout) {
  std::ifstream named;
  if (file != "-") {
    named.open(file);
    if (!named)
      throw usage("--from: cannot read " + file);
  }
  std::istream& in = file == "-" ? std::cin : named;
  std::vector<castor::relay::rule> rules;
  std::string text;
  for (size_t line = 1; std::getline(in, text); ++line) {
    std::istringstream words{text};
    std::vector<std::string> w;
    for (std::string x; words >> x;)
      w.push_back(x);
    if (w.empty() || w[0][0] == '#')
      continue;
    if (w.size() < 3)
      throw usage(file + ":" + std::to_string(line)
                  + ": expected NAME IN OUT [OUT...]");
    try {
      rules.push_back(make_rule(w[0], w[1], {w.begin() + 2, w.end()}));
    } catch (const failure& f) {
      throw usage(file + ":" + std::to_string(line) + ": " + f.message);
    }
  }
  if (rules.empty())
    throw usage("--from: no rules in " + file);
  size_t added = 0;
  for (size_t i = 0; i < rules.size(); i += rules_per_request) {
    ctl::add_rules_cmd chunk;
    chunk.rules.assign(rules.begin() + static_cast<std::ptrdiff_t>(i),
                       rules.begin()
                         + static_cast<std::ptrdiff_t>(
                           std::min(rules.size(), i + rules_per_request)));
    auto reply = ctl::decode_response(
      exchange(socket_path, ctl::encode_request({chunk}), timeout));
    if (!reply.ok) {
      print_refusal(reply);
      std::cerr << "castorctl: " << added << " of " << rules.size()
                << " rules were added before this\n";
      return 1;
    }
    added += chunk.rules.size();
  }
  std::cout << "added " << added << " rules\n";
  return 0;
}

/// How long a command waits for the daemon unless -t says otherwise: a
/// liveness check must answer at once, a change may wait for a big reload.
int default_timeout_s(const ctl::request& req) {
  return std::visit(ctl::overload{
                      [](const ctl::ping_cmd&) { return 3; },
                      [](const ctl::version_cmd&) { return 3; },
                      [](const ctl::add_cmd&) { return 75; },
                      [](const ctl::add_rules_cmd&) { return 75; },
                      [](const ctl::reload_cmd&) { return 75; },
                      [](const ctl::config_save_cmd&) { return 30; },
                      [](const auto&) { return 10; },
                    },
                    req.command);
}

/// Levenshtein distance, for "did you mean".
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min(
        {row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// The verb nearest to `word`, or "" when none is close.
std::string nearest(const std::string& word,
                    const std::vector<std::string>& verbs) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 2) + 1;
  for (const auto& v : verbs) {
    auto d =
      v.rfind(word, 0) == 0 && !word.empty() ? 1 : edit_distance(word, v);
    if (d < best_d) {
      best_d = d;
      best = v;
    }
  }
  return best;
}

/// The first word on the line that is not an option or an option's value:
/// the verb the user meant.
std::string first_word(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "-u" || a == "--socket" || a == "-t" || a == "--timeout") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] != '-')
      return a;
  }
  return {};
}

/// castorctl's own failure, as text or as a JSON line.
int report(const failure& f, bool as_json) {
  if (as_json)
    std::cout << ctl::encode_response(ctl::make_error(f.message)) << "\n";
  else
    std::cerr << "castorctl: " << f.message << "\n";
  return f.exit_code;
}

/// diagnose: when the rule has seen nothing lately, look for its traffic
/// on the other interfaces and add what was seen to the facts.
void look_elsewhere(ctl::response& reply, std::chrono::milliseconds look) {
  auto& facts = reply.data;
  auto stats = facts.value("stats", json::object()).get<ctl::rule_stats>();
  if (look.count() <= 0 || (stats.packets > 0 && stats.rate > 0))
    return;
  auto rule = facts.value("rule", json::object());
  auto in = rule.value("input", json::object());
  auto group = in.value("group", std::string{});
  auto port = in.value("port", 0);
  // Not the input, nor an interface the relay sends the same group and
  // port on: its own copies loop back to local sockets.
  std::set<std::string> skip{in.value("interface", std::string{})};
  for (auto& o : rule.value("outputs", json::array()))
    if (o.value("address", std::string{}) == group
        && o.value("port", 0) == port)
      skip.insert(o.value("interface", std::string{}));
  auto seen =
    ctl::look_for_traffic(group, static_cast<uint16_t>(port), skip, look);
  facts["elsewhere"] = {
    {"looked_s", std::chrono::duration<double>(look).count()},
    {"interfaces", seen}};
}

std::string absolute(const std::string& path) {
  if (path.empty() || path.front() == '/')
    return path;
  char buf[4096];
  if (!::getcwd(buf, sizeof(buf)))
    throw failure{std::string{"cannot determine the working directory: "}
                  + std::strerror(errno)};
  std::string dir{buf};
  return dir.back() == '/' ? dir + path : dir + "/" + path;
}

} // namespace

int main(int argc, char** argv) {
  // --json and --plain anywhere on the line (before or after the verb).
  bool as_json = false;
  bool plain = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      as_json = true;
    else if (a == "--plain")
      plain = true;
    else
      args.push_back(std::move(a));
  }
  ctl::set_plain_output(plain);

  CLI::App app{"castorctl: control a running castor-relay over its unix "
               "socket.",
               "castorctl"};
  app.require_subcommand(1);
  std::string socket_path = default_socket;
  int timeout_s = 0;
  // Listed for --help; main() takes them out of the line before parsing.
  bool json_flag = false;
  bool plain_flag = false;
  app.add_option("-u,--socket", socket_path, "the daemon's control socket")
    ->capture_default_str();
  app.add_flag("--json", json_flag,
               "print the daemon's JSON reply (one line), and castorctl's "
               "own errors as JSON; anywhere on the line");
  app.add_flag("--plain", plain_flag,
               "tables without headings, tab-separated (for scripts)");
  app
    .add_option("-t,--timeout", timeout_s,
                "seconds to wait for the answer (default: 3 for ping and "
                "version, 75 for add and reload, 10 otherwise)")
    ->check(CLI::Range(1, 3600));
  app.set_version_flag("-V,--version", "castorctl " CASTOR_VERSION);

  ctl::request req{ctl::ping_cmd{}};
  std::string rule_name;
  std::string in_spec;
  std::vector<std::string> out_specs;
  std::string name_arg;
  std::string kill_path;
  std::string save_file;
  std::string component;
  std::string level;

  auto simple = [&](const char* name, const char* help, ctl::command c) {
    app.add_subcommand(name, help)->callback([&req, c] { req.command = c; });
  };
  simple("list", "list the rules", ctl::list_cmd{});
  simple("stats",
         "packet, byte and drop counters per rule and output, with each "
         "rule's rate and the time since its last packet",
         ctl::stats_cmd{});
  simple("workers", "the forwarders and their state", ctl::workers_cmd{});
  simple("peers",
         "the peer sites: state, datagrams and bytes each way, drops by "
         "reason, reconnects",
         ctl::peers_cmd{});
  simple("tree", "the supervision tree, with the paths `kill` takes",
         ctl::tree_cmd{});
  simple("ping", "check that the daemon answers", ctl::ping_cmd{});
  simple("version", "the daemon's version", ctl::version_cmd{});
  simple("reload",
         "re-read the config file and apply the difference; waits for the "
         "result (usable as ExecReload=)",
         ctl::reload_cmd{});
  simple("groups",
         "per interface, each group joined, the rules that need it, its "
         "packets and the time since the last one",
         ctl::groups_cmd{});
  simple("status", "a one-page summary of the relay", ctl::status_cmd{});

  std::string diagnose_name;
  double look_s = 1;
  auto* diagnose = app.add_subcommand(
    "diagnose", "why is this rule not forwarding? Walks its path: input "
                "interface, membership, forwarders, traffic (and a short "
                "look on the other interfaces), outputs");
  diagnose->add_option("RULE", diagnose_name, "the rule's name")->required();
  diagnose
    ->add_option("--look", look_s,
                 "seconds to look for the rule's traffic on the other "
                 "interfaces when it has none (0: do not look)")
    ->capture_default_str()
    ->check(CLI::Range(0.0, 10.0));

  std::string watch_view = "stats";
  double watch_every = 2;
  int watch_count = 0;
  auto* watch = app.add_subcommand(
    "watch", "repeat a view every few seconds, like top (Ctrl-C ends it)");
  watch->add_option("VIEW", watch_view, "stats, groups, workers or status")
    ->capture_default_str()
    ->check(CLI::IsMember({"stats", "groups", "workers", "status"}));
  watch->add_option("-n,--interval", watch_every, "seconds between views")
    ->capture_default_str()
    ->check(CLI::Range(0.1, 3600.0));
  watch
    ->add_option("-c,--count", watch_count,
                 "stop after this many views (0: until interrupted)")
    ->capture_default_str()
    ->check(CLI::Range(0, 1000000));

  std::string rules_file;
  auto* add = app.add_subcommand("add", "add a rule, or the rules of a file");
  auto* name_opt = add->add_option("--name", rule_name, "the rule's name");
  auto* in_opt =
    add->add_option("--in", in_spec, "input IF:GROUP:PORT[:SOURCE]");
  auto* out_opt = add->add_option(
    "--out", out_specs,
    "output IF:ADDR:PORT[:ttl=N|decrement][:tos=N|preserve][:sport=N] "
    "(repeatable)");
  auto* from_opt = add->add_option(
    "--from", rules_file,
    "add the rules of FILE, one a line: NAME IN OUT [OUT...] in the forms "
    "of --in and --out ('-': standard input). Sent in requests of up to "
    "rules_per_request rules, each all or nothing");
  from_opt->excludes(name_opt)->excludes(in_opt)->excludes(out_opt);

  auto* remove = app.add_subcommand("remove", "remove a rule");
  remove->add_option("NAME", name_arg, "the rule's name")->required();

  auto* kill = app.add_subcommand(
    "kill", "kill an actor, e.g. root/workers/fwd-eth0-1 (as `tree` prints)");
  kill->add_option("PATH", kill_path, "path of the actor")->required();

  auto* config = app.add_subcommand("config", "the running config");
  config->require_subcommand(1);
  auto* show = config->add_subcommand("show", "print the running config");
  auto* save = config->add_subcommand(
    "save", "write the running config to FILE (default: the daemon's "
            "config file)");
  save->add_option("FILE", save_file, "where to write (by the daemon)");

  auto* log_level =
    app.add_subcommand("log-level", "set the log level of a component");
  log_level->add_option("COMPONENT", component, "a component, or \"all\"")
    ->required();
  log_level->add_option("LEVEL", level, "none|err|warn|notice|info|debug")
    ->required();

  std::vector<std::string> verbs;
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
    verbs.push_back(sub->get_name());
  try {
    std::vector<std::string> reversed{args.rbegin(), args.rend()};
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    auto word = first_word(args);
    std::string message = e.what();
    if (!word.empty()
        && std::find(verbs.begin(), verbs.end(), word) == verbs.end()) {
      message = "unknown command '" + word + "'";
      if (auto near = nearest(word, verbs); !near.empty())
        message += "; did you mean '" + near + "'?";
      message += " (castorctl --help lists the commands)";
    }
    return report(usage(message), as_json);
  }

  try {
    if (add->parsed() && !rules_file.empty()) {
      return add_from(socket_path, rules_file,
                      std::chrono::seconds{timeout_s > 0 ? timeout_s : 75});
    } else if (add->parsed()) {
      if (rule_name.empty() || in_spec.empty() || out_specs.empty())
        throw usage("add: give --name, --in and --out, or --from FILE");
      req.command = ctl::add_cmd{make_rule(rule_name, in_spec, out_specs)};
    } else if (remove->parsed()) {
      req.command = ctl::remove_cmd{name_arg};
    } else if (kill->parsed()) {
      req.command = ctl::kill_cmd{kill_path};
    } else if (show->parsed()) {
      req.command = ctl::config_show_cmd{};
    } else if (save->parsed()) {
      req.command = ctl::config_save_cmd{absolute(save_file)};
    } else if (log_level->parsed()) {
      req.command = ctl::log_level_cmd{component, level};
    } else if (diagnose->parsed()) {
      req.command = ctl::diagnose_cmd{diagnose_name};
    } else if (watch->parsed()) {
      if (watch_view == "groups")
        req.command = ctl::groups_cmd{};
      else if (watch_view == "workers")
        req.command = ctl::workers_cmd{};
      else if (watch_view == "status")
        req.command = ctl::status_cmd{};
      else
        req.command = ctl::stats_cmd{};
    }
    auto line = ctl::encode_request(req);
    // Validate what we send with the daemon's own decoder, so a bad
    // argument (say, a log level) fails here with the same message.
    if (auto check = ctl::decode_request(line); !check)
      throw usage(check.error);
    const std::chrono::seconds timeout{timeout_s > 0 ? timeout_s
                                                     : default_timeout_s(req)};
    const bool tty = ::isatty(STDOUT_FILENO) == 1 && !as_json;
    for (int shown = 1;; ++shown) {
      auto reply = ctl::decode_response(exchange(socket_path, line, timeout));
      if (reply.ok && diagnose->parsed())
        look_elsewhere(reply, std::chrono::milliseconds{
                                static_cast<int64_t>(look_s * 1000)});
      if (as_json) {
        std::cout << ctl::encode_response(reply) << std::endl;
      } else if (!reply.ok) {
        print_refusal(reply);
      } else {
        if (watch->parsed()) {
          // Like top: redraw in place on a terminal, append otherwise.
          if (tty)
            std::cout << "\033[H\033[2J";
          auto now = std::time(nullptr);
          char when[32];
          std::strftime(when, sizeof(when), "%H:%M:%S", std::localtime(&now));
          std::cout << "castorctl watch " << watch_view << " every "
                    << watch_every << " s  " << when << "\n";
        }
        print_ok(req, reply.data);
        std::cout.flush();
      }
      if (!reply.ok || !watch->parsed()
          || (watch_count > 0 && shown >= watch_count))
        return reply.ok ? 0 : 1;
      std::this_thread::sleep_for(
        std::chrono::milliseconds{static_cast<int64_t>(watch_every * 1000)});
    }
  } catch (const failure& f) {
    return report(f, as_json);
  } catch (const json::exception& e) {
    // Only a reply of an unexpected shape gets here.
    return report(
      failure{std::string{"cannot read the daemon's reply: "} + e.what()},
      as_json);
  }
}
