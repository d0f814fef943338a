// castor-relay: forwards UDP multicast between interfaces where kernel
// routing cannot (RPF, TTL=1 sources, group/port rewrite, multicast to
// unicast). See docs/relay.md.
//
//   castor-relay -f FILE [-u SOCKET] [-l LEVEL] [--log-target T] [-n]
//                [--state-directory DIR]
//   castor-relay -t -f FILE        check the config and exit
//   castor-relay --print-config -f FILE
//                                  the effective config (includes read) as
//                                  TOML, like chronyd -p
//
// Exit codes: 0 ok; 1 errors in the config (or a failed run); 2 a usage
// error (an unknown option, no -f, a bad -l or --log-target, a missing
// capability). CLI11's own codes (1xx) are mapped to 2.
//
// -t prints every error as file:line:col and then the warnings the start
// would log (config_warnings.hpp: interfaces missing on this host, ...;
// capabilities as the user running -t has them), each as "FILE: warning:
// ...". Warnings do not change the exit code.
//
// It never forks: run it under systemd (Type=notify, config/
// castor-relay.service) or a shell. -n is accepted, for users of smcroute
// and pimd, and changes nothing.
//
// Before the tree starts it checks the capabilities the config needs
// (capabilities.hpp): a missing CAP_NET_RAW for ingress = "packet" is a
// usage error (exit 2) that names the capability and the option.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "config/config_parser.hpp"
#include "config/config_warnings.hpp"
#include "config/config_writer.hpp"
#include "config/runtime_state.hpp"
#include "dataplane/kernel_datapath.hpp"
#include "model/datapath.hpp"
#include "relay_app.hpp"
#include "service/capabilities.hpp"
#include "service/logging.hpp"
#include "service/memory_budget.hpp"
#include "service/state_directory.hpp"
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#ifndef CASTOR_VERSION
#define CASTOR_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  using namespace castor::relay;
  CLI::App app{"castor-relay: a supervised UDP multicast relay"};
  std::string file;
  bool check_only = false;
  std::string socket_path;
  std::string log_level;
  std::string log_target_text;
  bool foreground = false;
  app.add_option("-f,--config", file, "the configuration file (TOML)");
  app.add_flag("-t,--check-config", check_only,
               "check the configuration, print every error as "
               "file:line:col: message, and exit (non-zero on errors)");
  app.add_option("-u,--socket", socket_path,
                 "the control socket (overrides [relay] control_socket)");
  app.add_option("-l,--log-level", log_level,
                 "none, err, warn, notice, info or debug (overrides "
                 "[relay] log_level)");
  app.add_option("--log-target", log_target_text,
                 "stderr (the default; journal style under systemd), "
                 "syslog, or file:PATH (overrides [relay] log_target)");
  app.add_flag("-n,--foreground", foreground,
               "stay in the foreground (always the case; for smcroute "
               "users)");
  bool print_config = false;
  app
    .add_flag("--print-config", print_config,
              "print the effective configuration (includes read, defaults "
              "filled in) as TOML and exit; non-zero on errors")
    ->excludes("--check-config");
  std::string state_directory;
  app.add_option("--state-directory", state_directory,
                 "where the relay keeps its runtime changes and writes "
                 "`castorctl config save` (default: $STATE_DIRECTORY, set "
                 "by systemd's StateDirectory=; none without it)");
  app.set_version_flag("--version",
                       std::string{"castor-relay "} + CASTOR_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other CLI11 code (1xx) is a usage
    // error.
    return app.exit(e) == 0 ? 0 : 2;
  }
  static_cast<void>(foreground);

  if (file.empty()) {
    std::cerr << "castor-relay: no configuration file; use -f FILE\n";
    return 2;
  }
  const auto parsed = parse_config_file(file);
  if (!parsed.ok()) {
    for (const auto& e : parsed.errors)
      std::cerr << to_string(e) << "\n";
    std::cerr << "castor-relay: " << parsed.errors.size()
              << (parsed.errors.size() == 1 ? " error" : " errors") << " in "
              << file << "\n";
    return 1;
  }
  // The config as parsed: the descriptor limit below is this process's,
  // not the config's.
  if (print_config) {
    std::cout << write_config(parsed.config);
    return 0;
  }
  // -t and the start check what `add` and reload check: whether the rules'
  // joins fit this process's descriptor limit, and their buffers the
  // memory cap.
  const auto limits =
    check_rule_limits(parsed.config.rules, parsed.config.relay,
                      forwarders_per_interface(parsed.config.relay));
  if (limits) {
    std::cerr << file << ": " << *limits << "\n";
    return check_only ? 1 : 2;
  }
  // [node]'s certificate, key and CA must be readable (issue 17).
  if (auto bad = check_site_files(parsed.config.sites); !bad.empty()) {
    for (const auto& e : bad)
      std::cerr << file << ": " << e << "\n";
    return check_only ? 1 : 2;
  }
  if (check_only) {
    // What the start would warn about, as this user.
    auto config = parsed.config;
    const auto caps = check_capabilities(config.relay, has_effective_capability,
                                         probe_kernel_datapath);
    for (const auto& e : caps.errors)
      std::cerr << file << ": warning: as this user the relay would not "
                << "start: " << e << "\n";
    for (const auto& w : caps.warnings)
      std::cerr << file << ": warning: " << w << "\n";
    if (caps.ok())
      config.relay.ingress = caps.ingress;
    if (caps.ok())
      config.relay.datapath = caps.datapath;
    for (const auto& w : config_warnings(config, interface_exists))
      std::cerr << file << ": warning: " << w << "\n";
    const auto runtime = load_runtime_state(
      resolve_state_directory(state_directory, std::getenv("STATE_DIRECTORY")),
      parsed.config.rules);
    for (const auto& w : runtime.warnings)
      std::cerr << file << ": warning: " << w << "\n";
    std::cout << file << ": ok, " << parsed.config.rules.size()
              << (parsed.config.rules.size() == 1 ? " rule" : " rules");
    if (const auto& s = parsed.config.sites; s.enabled())
      std::cout << "; node " << s.node->name << ", " << s.peers.size()
                << " peer(s), " << s.exports.size() << " export(s), "
                << s.imports.size() << " import(s)";
    std::cout << "\n";
    return 0;
  }

  const auto& level_name =
    log_level.empty() ? parsed.config.relay.log_level : log_level;
  const auto level = to_spdlog_level(level_name);
  if (!level) {
    std::cerr << "castor-relay: unknown log level '" << level_name << "'\n";
    return 2;
  }
  const auto& target_text =
    log_target_text.empty() ? parsed.config.relay.log_target : log_target_text;
  const auto target = parse_log_target(target_text);
  if (!target) {
    std::cerr << "castor-relay: unknown log target '" << target_text
              << "' (stderr, syslog or file:PATH)\n";
    return 2;
  }
  try {
    init_logging(*target, *level);
  } catch (const std::exception& e) {
    std::cerr << "castor-relay: cannot log to " << to_string(*target) << ": "
              << e.what() << "\n";
    return 2;
  }

  component_logger("config")->info("{}: {} rules from {} file(s)", file,
                                   parsed.config.rules.size(),
                                   parsed.files.size());

  // Least privilege: what the config needs, before any socket exists.
  auto config = parsed.config;
  const auto caps = check_capabilities(config.relay, has_effective_capability,
                                       probe_kernel_datapath);
  for (const auto& w : caps.warnings)
    spdlog::warn("castor-relay: {}", w);
  for (const auto& n : caps.notes)
    spdlog::info("castor-relay: {}", n);
  if (!caps.ok()) {
    // On stderr as well when logging goes elsewhere: whoever started the
    // relay sees why it did not.
    for (const auto& e : caps.errors) {
      spdlog::error("castor-relay: {}", e);
      if (target->where != log_target::kind::stderr_stream)
        std::cerr << "castor-relay: " << e << "\n";
    }
    return 2;
  }
  config.relay.ingress = caps.ingress;
  config.relay.datapath = caps.datapath;
  // A program a crashed castor-relay left attached would forward next to
  // this one's forwarders: detached, except where a datapath actor will
  // replace it in place (issue 16).
  if (kernel_datapath_built()) {
    std::vector<std::string> keep;
    if (kernel_attaches(config.relay))
      for (const auto& r : config.rules)
        keep.push_back(r.input.interface);
    for (const auto& itf : detach_leftovers(keep))
      spdlog::warn("castor-relay: detached the tc program a previous "
                   "castor-relay left on {}",
                   itf);
  }
  for (const auto& w : config_warnings(config, interface_exists))
    spdlog::warn("castor-relay: {}", w);

  // The runtime changes of the last run, on top of the file (issue 14).
  relay_run_options options;
  options.state_directory =
    resolve_state_directory(state_directory, std::getenv("STATE_DIRECTORY"));
  auto runtime = load_runtime_state(options.state_directory, config.rules);
  for (const auto& w : runtime.warnings)
    spdlog::warn("castor-relay: {}", w);
  for (const auto& n : runtime.notes)
    spdlog::info("castor-relay: {}", n);
  if (runtime.rules)
    if (auto bad = check_rule_limits(*runtime.rules, config.relay,
                                     forwarders_per_interface(config.relay))) {
      // Set aside, not lost; and no restart loop over the daemon's state.
      const auto state = runtime_state_path(options.state_directory);
      std::rename(state.c_str(), (state + ".rejected").c_str());
      spdlog::error("castor-relay: the runtime changes do not fit ({}); "
                    "starting from the config file alone; they are kept "
                    "as {}.rejected",
                    *bad, state);
      runtime.rules.reset();
    }
  options.running_rules = std::move(runtime.rules);
  options.config_file = file;
  options.control_socket = socket_path;
  options.version = CASTOR_VERSION;
  return run_relay(config, options);
}
