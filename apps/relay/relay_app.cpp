#include "relay_app.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "control/control_server.hpp"
#include "control/relay_handler.hpp"
#include "control/rule_store.hpp"
#include "control/state_dump.hpp"
#include "dataplane/kernel_datapath.hpp"
#include "dataplane/worker_supervisor.hpp"
#include "metrics/metrics_actor.hpp"
#include "model/relay_context.hpp"
#include "service/logging.hpp"
#include "service/service_notifier.hpp"
#include "sites/sites_actor.hpp"
#include <spdlog/spdlog.h>

#include "castor/actors/application.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/net/group_manager.hpp"
#include "castor/net/io_shards.hpp"

namespace castor::relay {

int run_relay(const daemon_config& config, const relay_run_options& options) {
  // Before any thread exists, so that only application::run sees them.
  application::block_signals();

  // The context starts with the rules that run; its config keeps the
  // file's, which the runtime changes are measured against.
  auto start = config;
  if (options.running_rules)
    start.rules = *options.running_rules;
  auto ctx = std::make_shared<relay_context>(
    start, options.config_file, forwarders_per_interface(config.relay));
  ctx->config(config);

  caf::actor_system_config cfg;
  runtime_options rt;
  // The forwarders' loops and the control socket's io thread run outside
  // CAF's scheduler; one scheduler thread serves the few control actors.
  rt.scheduler_threads = 1;
  // ... and those mostly tick once a second: straight from the spin to the
  // condition variable, not 25 ms of 50 us sleeps after every message, and
  // no wake-up every 10 ms to steal from threads there are none of (idle,
  // 4 % of a CPU before, under 1 % now; docs/relay.md, "The kernel path's
  // cost per packet").
  rt.moderate_poll_attempts = 0;
  rt.relaxed_sleep = std::chrono::milliseconds{100};
  configure(cfg, rt);
  // Relays across sites: the node layer is loaded with the config.
  std::optional<castor::node::node_options> node_opts;
  if (config.sites.enabled()) {
    node_opts = node_options_of(config.sites);
    if (auto err = castor::node::configure(cfg, *node_opts)) {
      spdlog::error("castor-relay: [node]: {}", castor::describe(err));
      return 2;
    }
  }
  caf::actor_system sys{cfg};
  std::unique_ptr<castor::node::node> node;
  std::shared_ptr<peer_connector> connector;
  if (node_opts) {
    node = std::make_unique<castor::node::node>(sys, *node_opts);
    auto port = node->start();
    if (!port) {
      spdlog::error("castor-relay: [node] cannot listen on {}:{}: {}",
                    node_opts->listen_host, node_opts->listen_port,
                    castor::describe(port.error()));
      return 2;
    }
    spdlog::info("castor-relay: node {} listening on {}:{} ({})",
                 node_opts->name, node_opts->listen_host, *port,
                 node_opts->insecure ? "insecure" : "mutual TLS");
    connector = std::make_shared<peer_connector>(*node);
  }

  int exit_code = 0;
  {
    net::io_shards_options so;
    so.count = 1;
    so.thread_name_prefix = "relay-ctl-";
    net::io_shards shards{so};

    control_server_options copts;
    copts.socket_path = options.control_socket.empty()
                          ? config.relay.control_socket
                          : options.control_socket;
    std::string admin_warning;
    copts.admin =
      default_admin_check(config.relay.control_admin_group, admin_warning);
    if (!admin_warning.empty())
      spdlog::warn("{}", admin_warning);

    auto gm_state = net::make_group_manager_state(net::kernel_backend());
    std::vector<child_spec> children;
    children.push_back(
      registered(net::group_manager_child("group-manager", gm_state), ctx,
                 relay_role::group_manager));
    children.push_back(
      registered(rule_store_child("rule-store", ctx, options.state_directory),
                 ctx, relay_role::rule_store));
    children.push_back(
      registered(worker_supervisor_child(ctx), ctx, relay_role::workers));
    if (node)
      children.push_back(registered(
        sites_child(
          "sites", ctx, [n = node.get()] { return n->handle(); }, connector),
        ctx, relay_role::sites));
    children.push_back(
      registered(relay_handler_child("handler", ctx, options.version,
                                     options.state_directory),
                 ctx, relay_role::handler));
    if (config.metrics.enabled)
      children.push_back(
        metrics_child("metrics", ctx, config.metrics, options.version));
    children.push_back(control_server_child(
      "control", shards.at(0).context(),
      [ctx] { return ctx->get(relay_role::handler); }, copts));
    // Last, so that it is the first to stop and tells systemd at once.
    if (service_manager_listening())
      children.push_back(stopping_notice_child("service-notifier"));

    supervisor_flags root;
    root.strategy = strategy::one_for_one;
    root.name = "root";
    root.intensity = 5;
    root.period = std::chrono::milliseconds{10000};
    application app{"castor-relay", root, std::move(children)};
    // SIGHUP reloads like `castorctl reload`; the rule store logs the
    // outcome, since there is no client to answer.
    app.on_hangup([ctx] {
      auto store = ctx->get(relay_role::rule_store);
      if (!store) {
        spdlog::error("SIGHUP: cannot reload, the rule store is not running");
        return;
      }
      spdlog::info("SIGHUP: reloading the config");
      control::request req;
      req.command = control::reload_cmd{};
      caf::anon_send(store, control_atom::value, std::move(req));
    });
    // SIGUSR1 dumps the state to the log, SIGUSR2 opens the log file again
    // (logrotate's postrotate); neither ends the daemon.
    app.on_user1([ctx, &sys] { dump_state(sys, ctx); });
    app.on_user2([] {
      auto result = reopen_log_files();
      if (!result)
        spdlog::info("SIGUSR2: no log file to reopen");
      else if (result->empty())
        spdlog::info("SIGUSR2: reopened the log file");
      else
        spdlog::error("SIGUSR2: cannot reopen the log file, still writing "
                      "to the old one: {}",
                      *result);
    });
    // Beats only while the root answers; stopped before the system ends.
    std::unique_ptr<service_watchdog> watchdog;
    app.on_started(
      [ctx, &copts, &sys, &watchdog](const caf::actor& root_handle) {
        // The root is the application's, not a child spec: it is recorded
        // here, once it runs, as registered() records the children.
        ctx->set(relay_role::root, root_handle);
        spdlog::info("castor-relay: {} rules, {} forwarders per input "
                     "interface, control socket {}",
                     ctx->rules().rules->size(), ctx->workers_per_interface(),
                     copts.socket_path);
        notify_status(std::to_string(ctx->rules().rules->size())
                      + " rules, control socket " + copts.socket_path);
        notify_ready();
        if (const auto interval = watchdog_interval(); interval.count() > 0) {
          watchdog = std::make_unique<service_watchdog>(
            interval, supervisor_answers(sys, root_handle));
          watchdog->start();
        }
      });
    exit_code = app.run(sys).exit_code;
    if (watchdog)
      watchdog->stop();
    // Sockets are actors: close them before ~actor_system waits for all.
    shards.stop();
  }
  if (connector)
    connector->join();
  if (node)
    node->stop();
  // The datapath actors detach on their clean stop; whatever a failed one
  // left attached for a successor that never came is detached here.
  kernel_datapaths().release_all();
  return exit_code;
}

} // namespace castor::relay
