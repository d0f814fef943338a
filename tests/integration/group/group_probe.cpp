// group_probe: drives a supervised group manager on the real kernel backend
// from a script, one command per stdin line and exactly one answer line per
// command on stdout (logs go to stderr), so that group_netns.sh can compare
// the manager's view with /proc/net/igmp between steps.
//
// Holders are named by the script; the probe spawns an idle actor per name
// on first use, so "kill H" is a real holder death the manager sees through
// its monitor. IFACE is a name, or a number for an interface index.
//
//   join H IFACE GROUP [SOURCE] [--wait]  -> ok STATE HOLDERS [REASON] | error CODE TEXT
//   leave H IFACE GROUP [SOURCE]          -> ok | error CODE TEXT
//   join-range H IFACE FIRST COUNT        -> ok joined=.. pending=.. failed=.. errors=.. ms=..
//   leave-range H IFACE FIRST COUNT       -> ok left=.. errors=.. ms=..
//   kill H                                -> ok (after the holder is gone)
//   stats                                 -> the stats JSON
//   list                                  -> JSON array of membership states
//   await IFACE GROUP [SOURCE] STATE MS   -> ok MS | timeout LAST-STATE
//   await-count STATE N MS                -> ok MS | timeout LAST-N
//   restart                               -> ok ms=.. (manager killed and
//                                            restarted by its supervisor)
//   stop                                  -> ok (manager stopped and its
//                                            spec deleted: the state's last
//                                            owner is gone)
//   quit                                  -> ok, then exit 0
//
// "await" polls the manager because link changes reach it asynchronously
// over rtnetlink; STATE "gone" means no such membership. Every wait is
// bounded by its MS argument.

#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "castor/actors/supervisor.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/net/group_manager.hpp"

using namespace castor;
using namespace castor::net;
namespace ip = boost::asio::ip;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto request_timeout = std::chrono::seconds(10);
constexpr auto poll_interval = std::chrono::milliseconds(20);

long long ms_since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now()
                                                               - t0)
    .count();
}

// "error CODE TEXT": the code by name for the manager's own errors, so the
// script can tell unknown_interface from not_multicast.
std::string render_error(caf::actor_system& sys, const caf::error& err) {
  std::string code;
  if (err.category() == caf::atom("mcast"))
    code = to_string(static_cast<membership_errc>(err.code()));
  else
    code = sys.render(err);
  std::string text;
  const auto& ctx = err.context();
  for (size_t i = 0; i < ctx.size(); ++i) {
    if (i > 0)
      text += ": ";
    text += ctx.match_element<std::string>(i) ? ctx.get_as<std::string>(i)
                                              : ctx.stringify(i);
  }
  return "error " + code + (text.empty() ? "" : " " + text);
}

interface_ref parse_interface(const std::string& x) {
  if (!x.empty() && x.find_first_not_of("0123456789") == std::string::npos)
    return interface_ref::by_index(static_cast<unsigned>(std::stoul(x)));
  return interface_ref::by_name(x);
}

nlohmann::json to_json(const membership_status& s) {
  return {{"interface", s.interface}, {"group", s.group},
          {"source", s.source},       {"state", s.state},
          {"reason", s.reason},       {"holders", s.holders}};
}

class probe {
public:
  probe(caf::actor_system& sys) : sys_(sys), self_(sys) {
    // nop
  }

  ~probe() {
    for (auto& kvp : holders_)
      self_->send_exit(kvp.second, caf::exit_reason::user_shutdown);
    if (sup_)
      self_->send_exit(sup_, caf::exit_reason::user_shutdown);
  }

  caf::error start() {
    supervisor_flags flags;
    flags.name = "group_probe";
    // Enough for the restart command; a crash loop still ends the probe.
    flags.intensity = 10;
    flags.period = std::chrono::seconds(5);
    auto state = make_group_manager_state(kernel_backend());
    auto sup =
      start_supervisor(sys_, flags, {group_manager_child("groups", state)});
    if (!sup)
      return std::move(sup.error());
    sup_ = *sup;
    return refresh_manager(caf::actor{});
  }

  // Handles one command line; returns false on quit.
  bool handle(const std::string& line) {
    std::istringstream in{line};
    std::vector<std::string> a;
    for (std::string w; in >> w;)
      a.push_back(w);
    if (a.empty())
      return true;
    try {
      std::cout << dispatch(a) << std::endl;
    } catch (const std::exception& e) {
      std::cout << "error usage " << e.what() << std::endl;
    }
    return a[0] != "quit";
  }

private:
  std::string dispatch(const std::vector<std::string>& a) {
    const auto& cmd = a[0];
    if (cmd == "join" && a.size() >= 4)
      return join(a);
    if (cmd == "leave" && a.size() >= 4)
      return leave(a);
    if (cmd == "join-range" && a.size() == 5)
      return join_range(a);
    if (cmd == "leave-range" && a.size() == 5)
      return leave_range(a);
    if (cmd == "kill" && a.size() == 2)
      return kill(a[1]);
    if (cmd == "stats" && a.size() == 1)
      return stats();
    if (cmd == "list" && a.size() == 1)
      return list_json();
    if (cmd == "await" && (a.size() == 5 || a.size() == 6))
      return await(a);
    if (cmd == "await-count" && a.size() == 4)
      return await_count(a[1], std::stoul(a[2]), std::stol(a[3]));
    if (cmd == "restart" && a.size() == 1)
      return restart();
    if (cmd == "stop" && a.size() == 1)
      return stop();
    if (cmd == "quit")
      return "ok";
    return "error usage unknown command or wrong arguments: " + cmd;
  }

  caf::actor holder(const std::string& name) {
    auto& h = holders_[name];
    if (!h)
      h = sys_.spawn([](caf::event_based_actor*) -> caf::behavior {
        // Holds memberships by being alive; answers nothing.
        return {[](caf::ok_atom) {}};
      });
    return h;
  }

  static membership_request request_of(const std::vector<std::string>& a,
                                       size_t from) {
    membership_request req;
    req.interface = parse_interface(a[from]);
    req.group = ip::make_address_v4(a[from + 1]);
    for (size_t i = from + 2; i < a.size(); ++i) {
      if (a[i] == "--wait")
        req.wait_for_interface = true;
      else
        req.source = ip::make_address_v4(a[i]);
    }
    return req;
  }

  // One request/response; the answer or the error, rendered.
  caf::expected<membership_status> do_join(const caf::actor& h,
                                           const membership_request& req) {
    caf::expected<membership_status> out{caf::sec::request_timeout};
    self_->request(mgr_, request_timeout, caf::join_atom::value, h, req)
      .receive([&](membership_status& s) { out = std::move(s); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  caf::error do_leave(const caf::actor& h, const membership_request& req) {
    caf::error out;
    self_->request(mgr_, request_timeout, caf::leave_atom::value, h, req)
      .receive([](caf::ok_atom) {}, [&](caf::error& err) { out = err; });
    return out;
  }

  std::string join(const std::vector<std::string>& a) {
    auto res = do_join(holder(a[1]), request_of(a, 2));
    if (!res)
      return render_error(sys_, res.error());
    return "ok " + res->state + " " + std::to_string(res->holders)
           + (res->reason.empty() ? "" : " " + res->reason);
  }

  std::string leave(const std::vector<std::string>& a) {
    if (auto err = do_leave(holder(a[1]), request_of(a, 2)))
      return render_error(sys_, err);
    return "ok";
  }

  std::string join_range(const std::vector<std::string>& a) {
    auto h = holder(a[1]);
    membership_request req;
    req.interface = parse_interface(a[2]);
    auto first = ip::make_address_v4(a[3]).to_uint();
    auto count = std::stoul(a[4]);
    std::map<std::string, size_t> states;
    size_t errors = 0;
    auto t0 = clock_type::now();
    for (unsigned long i = 0; i < count; ++i) {
      req.group = ip::address_v4{static_cast<uint32_t>(first + i)};
      auto res = do_join(h, req);
      if (!res) {
        if (errors++ == 0)
          std::cerr << "first error: " << render_error(sys_, res.error())
                    << std::endl;
        continue;
      }
      ++states[res->state];
    }
    auto ms = ms_since(t0);
    return "ok joined=" + std::to_string(states["joined"])
           + " pending=" + std::to_string(states["pending"])
           + " failed=" + std::to_string(states["failed"])
           + " errors=" + std::to_string(errors) + " ms=" + std::to_string(ms);
  }

  std::string leave_range(const std::vector<std::string>& a) {
    auto h = holder(a[1]);
    membership_request req;
    req.interface = parse_interface(a[2]);
    auto first = ip::make_address_v4(a[3]).to_uint();
    auto count = std::stoul(a[4]);
    size_t left = 0;
    size_t errors = 0;
    auto t0 = clock_type::now();
    for (unsigned long i = 0; i < count; ++i) {
      req.group = ip::address_v4{static_cast<uint32_t>(first + i)};
      if (do_leave(h, req))
        ++errors;
      else
        ++left;
    }
    auto ms = ms_since(t0);
    return "ok left=" + std::to_string(left)
           + " errors=" + std::to_string(errors) + " ms=" + std::to_string(ms);
  }

  // Returns once the holder is gone; the manager learns of it through its
  // own monitor, which the script observes with await.
  std::string kill(const std::string& name) {
    auto i = holders_.find(name);
    if (i == holders_.end())
      return "error usage no holder " + name;
    auto h = i->second;
    holders_.erase(i);
    self_->monitor(h);
    self_->send_exit(h, caf::exit_reason::kill);
    bool down = false;
    self_->receive_while([&] { return !down; })(
      [&](caf::down_msg& msg) { down = msg.source == h.address(); },
      caf::after(request_timeout) >> [&] { down = true; });
    return "ok";
  }

  caf::expected<std::vector<membership_status>> memberships() {
    caf::expected<std::vector<membership_status>> out{
      caf::sec::request_timeout};
    self_->request(mgr_, request_timeout, memberships_atom::value)
      .receive([&](std::vector<membership_status>& xs) { out = std::move(xs); },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  std::string list_json() {
    auto xs = memberships();
    if (!xs)
      return render_error(sys_, xs.error());
    auto out = nlohmann::json::array();
    for (auto& s : *xs)
      out.push_back(to_json(s));
    return out.dump();
  }

  std::string stats() {
    std::string out;
    self_->request(mgr_, request_timeout, group_stats_atom::value)
      .receive([&](group_stats& s) { out = to_json(s); },
               [&](caf::error& err) { out = render_error(sys_, err); });
    return out;
  }

  // The state of one membership, "gone" if absent.
  std::string state_of(const std::string& itf, const std::string& group,
                       const std::string& source) {
    auto xs = memberships();
    if (!xs)
      return "unknown";
    for (auto& s : *xs)
      if (s.interface == itf && s.group == group && s.source == source)
        return s.state;
    return "gone";
  }

  std::string await(const std::vector<std::string>& a) {
    auto source = a.size() == 6 ? a[3] : std::string{};
    const auto& want = a[a.size() - 2];
    auto limit = std::chrono::milliseconds(std::stol(a.back()));
    auto t0 = clock_type::now();
    for (;;) {
      auto got = state_of(a[1], a[2], source);
      if (got == want)
        return "ok " + std::to_string(ms_since(t0));
      if (clock_type::now() - t0 > limit)
        return "timeout " + got;
      std::this_thread::sleep_for(poll_interval);
    }
  }

  std::string await_count(const std::string& want, size_t n, long limit_ms) {
    auto t0 = clock_type::now();
    for (;;) {
      size_t got = 0;
      if (auto xs = memberships())
        for (auto& s : *xs)
          got += s.state == want ? 1 : 0;
      if (got == n)
        return "ok " + std::to_string(ms_since(t0));
      if (ms_since(t0) > limit_ms)
        return "timeout " + std::to_string(got);
      std::this_thread::sleep_for(poll_interval);
    }
  }

  // Finds the running manager; waits (bounded) for one other than `old`.
  caf::error refresh_manager(const caf::actor& old) {
    auto t0 = clock_type::now();
    while (clock_type::now() - t0 < request_timeout) {
      caf::actor found;
      self_->request(sup_, request_timeout, which_children_atom::value)
        .receive(
          [&](std::vector<child_info>& xs) {
            for (auto& c : xs)
              if (c.id == "groups" && c.state == "running")
                found = c.handle;
          },
          [](caf::error&) {});
      if (found && found != old) {
        mgr_ = found;
        return caf::none;
      }
      std::this_thread::sleep_for(poll_interval);
    }
    return caf::sec::request_timeout;
  }

  // A crash as the supervisor sees it: the manager is killed and a new one
  // starts on the same state.
  std::string restart() {
    auto old = mgr_;
    auto t0 = clock_type::now();
    self_->send_exit(old, caf::exit_reason::kill);
    if (auto err = refresh_manager(old))
      return render_error(sys_, err);
    return "ok ms=" + std::to_string(ms_since(t0));
  }

  // What an application that shuts its manager down does: terminate the
  // child, then drop its spec, which holds the last reference to the state.
  std::string stop() {
    caf::error err;
    self_
      ->request(sup_, request_timeout, terminate_child_atom::value,
                std::string{"groups"})
      .receive([](caf::ok_atom) {}, [&](caf::error& e) { err = e; });
    if (!err)
      self_
        ->request(sup_, request_timeout, delete_child_atom::value,
                  std::string{"groups"})
        .receive([](caf::ok_atom) {}, [&](caf::error& e) { err = e; });
    if (err)
      return render_error(sys_, err);
    mgr_ = caf::actor{};
    return "ok";
  }

  caf::actor_system& sys_;
  caf::scoped_actor self_;
  caf::actor sup_;
  caf::actor mgr_;
  std::map<std::string, caf::actor> holders_;
};

} // namespace

int main() {
  // The answer protocol owns stdout; the manager's log lines go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("group_probe"));
  caf::actor_system_config cfg;
  runtime_options opts;
  opts.scheduler_threads = 2;
  configure(cfg, opts);
  caf::actor_system sys{cfg};
  {
    probe p{sys};
    if (auto err = p.start()) {
      std::cout << render_error(sys, err) << std::endl;
      return 1;
    }
    std::cout << "ready" << std::endl;
    for (std::string line; std::getline(std::cin, line);)
      if (!p.handle(line))
        break;
  }
  return 0;
}
