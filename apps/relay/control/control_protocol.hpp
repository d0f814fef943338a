#pragma once

// The control protocol between castorctl and castor-relay: JSON lines over a
// unix stream socket. Every request is one JSON object on one line; the
// daemon answers each with one JSON object on one line, in request order.
//
// Requests ("cmd" selects the command; other members as listed):
//   {"cmd":"add","rule":RULE}              add a rule (RULE below)
//   {"cmd":"add","rules":[RULE,...]}       add several rules at once: all
//                                          or none, one new epoch (bulk
//                                          loads; castorctl add --from)
//   {"cmd":"remove","name":"feed-a"}       remove a rule by name
//   {"cmd":"list"}                         the rules
//   {"cmd":"stats"}                        counters per rule and output
//   {"cmd":"workers"}                      the forwarders
//   {"cmd":"peers"}                        the peer sites (issue 17)
//   {"cmd":"tree"}                         the supervision tree
//   {"cmd":"kill","path":"root/workers/fwd-eth0-1"}   exit(kill) an actor
//   {"cmd":"ping"}
//   {"cmd":"version"}
//   {"cmd":"reload"}                       re-read the config file
//   {"cmd":"config","action":"show"}       the running config as TOML
//   {"cmd":"config","action":"save","file":"/abs/path"}   "file" optional
//   {"cmd":"log_level","component":"forwarder","level":"debug"}
//   {"cmd":"groups"}                       memberships per interface
//   {"cmd":"status"}                       a one-page summary
//   {"cmd":"diagnose","name":"feed-a"}     the facts on one rule's path
//
// Read-only commands (changes_state() false) are served to any client that
// can connect; the others only to an admin peer (control_server.hpp).
//
// RULE: {"name":"feed-a",
//        "input":{"interface":"eth0","group":"239.1.1.1","port":5001,
//                 "source":"10.0.0.5"},                 "source" optional
//        "outputs":[{"interface":"eth1","address":"239.2.2.2","port":6001,
//                    "ttl":1,"tos":0}]}                 "ttl","tos" optional
// Unknown members are errors at every level, as in the config file.
//
// Responses: {"ok":true, ...data} or {"ok":false,"error":"...", ...data}.
// The data members per command are the *_reply helpers below; castorctl
// reads them, and the relay should build its answers with them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

#include "model/reload_summary.hpp"
#include "model/rule.hpp"
#include <nlohmann/json.hpp>

namespace castor::relay::control {

// -- requests -----------------------------------------------------------------

struct add_cmd {
  relay::rule rule;
};
/// Several rules in one change: every one is checked (against the running
/// rules and each other) before any is installed.
struct add_rules_cmd {
  std::vector<relay::rule> rules;
};
struct remove_cmd {
  std::string name;
};
struct list_cmd {};
struct stats_cmd {};
struct workers_cmd {};
/// The peers of relaying across sites (sites/sites_actor.hpp).
struct peers_cmd {};
struct tree_cmd {};
struct kill_cmd {
  /// A path as `tree` prints it: ids from the root, '/'-separated.
  std::string path;
};
struct ping_cmd {};
struct version_cmd {};
struct reload_cmd {};
struct config_show_cmd {};
struct config_save_cmd {
  /// Absolute; empty: the file the daemon was started with.
  std::string file;
};
struct log_level_cmd {
  /// A logger name, or "all"; the relay decides which exist.
  std::string component;
  /// One of log_levels() (config_parser.hpp).
  std::string level;
};

struct groups_cmd {};
struct status_cmd {};
struct diagnose_cmd {
  /// The rule's name.
  std::string name;
};

using command =
  std::variant<add_cmd, add_rules_cmd, remove_cmd, list_cmd, stats_cmd,
               workers_cmd, tree_cmd, kill_cmd, ping_cmd, version_cmd,
               reload_cmd, config_show_cmd, config_save_cmd, log_level_cmd,
               groups_cmd, status_cmd, diagnose_cmd, peers_cmd>;

/// One decoded request. A struct (not the bare variant) so that it is a
/// distinct CAF message type.
struct request {
  control::command command;
};

/// The "cmd" string of a request ("config" for both config actions).
std::string command_name(const request& x);

/// Whether `x` changes the relay (add, remove, reload, kill, config save,
/// log_level): only admin peers may send it.
bool changes_state(const request& x);

/// The request in words for the log, e.g. "kill root/workers/fwd-eth0-1".
std::string describe(const request& x);

// -- responses ----------------------------------------------------------------

struct response {
  bool ok = true;
  /// Set when !ok: says what went wrong, naming the offending input.
  std::string error;
  /// Further members of the reply object (must be an object or null).
  nlohmann::json data = nlohmann::json::object();
};

response make_ok(nlohmann::json data = nlohmann::json::object());
response make_error(std::string message,
                    nlohmann::json data = nlohmann::json::object());

// -- codec ----------------------------------------------------------------------

/// A decoded value or the reason there is none. The codec never throws.
template <class T>
struct decoded {
  std::optional<T> value;
  std::string error;

  explicit operator bool() const noexcept { return value.has_value(); }
};

/// Decodes one request line (without its newline). Malformed JSON, wrong
/// member types, unknown commands or members, and invalid rules all yield an
/// error that names the problem.
decoded<request> decode_request(std::string_view line);

/// One line of JSON, no newline.
std::string encode_request(const request& x);

/// One line of JSON, no newline. Never throws: invalid UTF-8 in strings is
/// replaced, and non-object data is put under "data".
std::string encode_response(const response& x);

/// Decodes a response line; a malformed one becomes an error response that
/// says so (castorctl prints it instead of crashing).
response decode_response(std::string_view line);

// -- rules as JSON ------------------------------------------------------------

nlohmann::json to_json(const relay::rule& x);

/// Decodes and validates a rule (validate_rule): every problem is listed,
/// "; "-separated, with its field path.
decoded<relay::rule> rule_from_json(const nlohmann::json& x);

// -- reply data -----------------------------------------------------------------
// The data of successful replies. Each struct has to_json/from_json;
// from_json tolerates missing members (a newer daemon may send more, an
// older one less), so castorctl never fails on a reply shape.

/// Drops by reason, e.g. {"send_error":3,"queue_full":0}.
using drop_counts = std::map<std::string, uint64_t>;

struct output_stats {
  std::string interface;
  std::string address;
  uint16_t port = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  drop_counts drops;
  /// The output interface: "up", "down" or "missing"; empty if no worker
  /// reported it. ({}: aggregate initializers written before it need not
  /// name it.)
  std::string state{};
  /// The kernel's tx_dropped of the output interface (all traffic on it,
  /// not only ours): drops after the relay handed the datagram over.
  uint64_t kernel_tx_dropped{};
};

struct rule_stats {
  std::string name;
  /// Received on the rule's input.
  uint64_t packets = 0;
  uint64_t bytes = 0;
  drop_counts drops;
  std::vector<output_stats> outputs;
  /// Datagrams per second received over the last sample (about a second).
  double rate{};
  /// Seconds since the last datagram, to the sampling interval; negative
  /// when not known (no datagram since the daemon started, or not sampled
  /// yet).
  double last_packet_s{-1};
};

struct worker_info {
  /// The child id, e.g. "fwd-eth0-1".
  std::string id;
  std::string interface;
  /// "running", "restarting", "stopped".
  std::string state;
  uint64_t restarts = 0;
  uint64_t queue_depth = 0;
  /// Since this worker last started (a restart begins again at 0): the
  /// frames it read, and those the kernel dropped because it read too
  /// slowly. Side by side they show how the fanout spreads the load.
  uint64_t frames = 0;
  uint64_t kernel_drops = 0;
  /// The kernel filter's tier: "exact", "ports" (groups matched by the
  /// worker's table) or "udp"; empty for socket ingress.
  std::string filter;
  /// Why the worker's last rule change could not change its ingress (it
  /// forwards with the previous filter); empty when it could.
  std::string filter_error;
  uint64_t filter_failures = 0;
  /// The worker's output interfaces and their state ("up", "down",
  /// "missing"), by name: what it sends on, as it last looked.
  std::map<std::string, std::string> outputs{};
};

void to_json(nlohmann::json& j, const output_stats& x);
void from_json(const nlohmann::json& j, output_stats& x);
void to_json(nlohmann::json& j, const rule_stats& x);
void from_json(const nlohmann::json& j, rule_stats& x);
void to_json(nlohmann::json& j, const worker_info& x);
void from_json(const nlohmann::json& j, worker_info& x);
void to_json(nlohmann::json& j, const reload_summary& x);
void from_json(const nlohmann::json& j, reload_summary& x);

// Reply data per command (the members next to "ok"):
//   add      {"rule":RULE}               list   {"rules":[RULE...]}
//   remove   {"name":"feed-a"}           stats  {"rules":[rule_stats...]}
//   workers  {"workers":[worker_info...]}
//   tree     {"tree":TREE}  TREE as castor::to_json(tree_node)
//   kill     {"path":"root/..."}         ping   {"pong":true}
//   version  {"version":"0.1.0","commit":"abc123"}
//   reload   {"reload":reload_summary, "kept_runtime_rules":[names]
//            (rules added at runtime that the new file lacks: kept),
//            "dropped_runtime_changes":["NAME: why"] (runtime changes the
//            new file overrides); each only when there are some};
//            failure: {"ok":false,"error":...,
//            "errors":["file:line:col: message",...]}
//   config show {"config":"TOML text"}   config save {"file":"/abs/path"}
//            (the request's "file": a name, or a path, in the daemon's
//            state directory; config/runtime_state.hpp)
//   add, remove, reload may carry "state_error": the change runs but the
//            runtime state could not be written (it will not survive a
//            restart).
//   log_level {"component":"...","level":"..."}
//   groups   {"groups":[{"interface","group","source","state","reason",
//                        "rules":[names],"packets","rate","last_packet_s"}]}
//   status   {"version","uptime_s","config_file","rules","workers":{state:n},
//             "memberships":{state:n},"packets","rate","drops",
//             "silent_rules":[names],"restarts"}
//   diagnose {"rule":RULE,"stats":rule_stats,"input":IFACE,
//             "outputs":{name:IFACE},"membership":{"state","reason"}|null,
//             "workers":[worker_info of the input]}
//            IFACE: {"name","exists","up","running","addresses":[...],
//                    "tx_dropped"}
nlohmann::json list_reply(const std::vector<relay::rule>& rules);
nlohmann::json stats_reply(const std::vector<rule_stats>& stats);
nlohmann::json workers_reply(const std::vector<worker_info>& workers);
nlohmann::json version_reply(const std::string& version,
                             const std::string& commit);
nlohmann::json reload_reply(const reload_summary& summary);
/// An error response for a rejected reload, with every config error.
response reload_failed(const std::vector<std::string>& errors);

} // namespace castor::relay::control

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::relay::control::request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::relay::control::response)
