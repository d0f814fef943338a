#include "castor/actors/registry.hpp"

#include <algorithm>
#include <unordered_map>

#include <caf/stateful_actor.hpp>

#include "blocking_request.hpp"

#include "castor/actors/errors.hpp"

namespace castor {

namespace {

// The names, kept apart from the actor that serves them so that a restarted
// registry (registry_child) takes over its predecessor's names instead of
// starting empty: a registered name in OTP lives as long as its process, and
// a registry restart is not its holders' fault. Only one incarnation runs at
// a time (the supervisor starts the next after the last one is down), so the
// table needs no lock. It holds weak addresses only: the child spec that
// keeps it is held by the supervisor, and a strong handle to a registered
// supervisor there would be a reference cycle that nothing breaks.
struct registry_table {
  std::unordered_map<std::string, caf::actor_addr> by_name;
  // An actor may hold several names; its down message removes them all.
  std::unordered_multimap<caf::actor_addr, std::string> by_addr;

  bool holds_names(const caf::actor_addr& who) const {
    return by_addr.count(who) > 0;
  }

  void add(const std::string& name, const caf::actor_addr& who) {
    by_name.emplace(name, who);
    by_addr.emplace(who, name);
  }

  /// Removes `name`; returns its holder.
  caf::actor_addr remove(const std::string& name) {
    auto i = by_name.find(name);
    if (i == by_name.end())
      return {};
    auto who = i->second;
    auto range = by_addr.equal_range(who);
    for (auto j = range.first; j != range.second; ++j)
      if (j->second == name) {
        by_addr.erase(j);
        break;
      }
    by_name.erase(i);
    return who;
  }

  /// Removes every name of `who`.
  void remove_all(const caf::actor_addr& who) {
    auto range = by_addr.equal_range(who);
    for (auto i = range.first; i != range.second; ++i)
      by_name.erase(i->second);
    by_addr.erase(range.first, range.second);
  }
};

using registry_table_ptr = std::shared_ptr<registry_table>;

// One incarnation's view: the shared names, plus a strong handle per
// registered actor while this incarnation runs, so that registering an
// actor keeps it reachable, as registering a process does in OTP.
struct registry_incarnation {
  registry_table_ptr names;
  std::unordered_map<caf::actor_addr, caf::actor> holders;
};

caf::behavior serve_registry(caf::event_based_actor* self,
                             registry_table_ptr table) {
  auto st = std::make_shared<registry_incarnation>();
  st->names = std::move(table);
  // One monitor per registered actor, however many names it holds: its
  // down message takes all its names (OTP semantics; CAF's own registry
  // keeps stale entries), and its last unregister drops the monitor.
  // Names taken over from a predecessor are monitored anew; an actor that
  // has died meanwhile answers the monitor with a down message at once.
  std::vector<caf::actor_addr> gone;
  for (auto& [who, name] : st->names->by_addr) {
    if (st->holders.count(who) > 0)
      continue;
    if (auto hdl = caf::actor_cast<caf::actor>(who)) {
      self->monitor(hdl);
      st->holders.emplace(who, std::move(hdl));
    } else {
      gone.push_back(who);
    }
  }
  for (auto& who : gone)
    st->names->remove_all(who);
  self->set_down_handler([st](caf::down_msg& msg) {
    st->names->remove_all(msg.source);
    st->holders.erase(msg.source);
  });
  return {
    [self, st](register_atom, const std::string& name,
               const caf::actor& whom) -> caf::result<caf::ok_atom> {
      if (name.empty())
        return caf::error{errc::invalid_argument, "empty name"};
      if (!whom)
        return caf::error{errc::invalid_argument,
                          "invalid actor for '" + name + "'"};
      if (st->names->by_name.count(name) > 0)
        return caf::error{errc::name_taken, name};
      st->names->add(name, whom.address());
      if (st->holders.emplace(whom.address(), whom).second)
        self->monitor(whom);
      return caf::ok_atom::value;
    },
    [self, st](unregister_atom,
               const std::string& name) -> caf::result<caf::ok_atom> {
      if (st->names->by_name.count(name) == 0)
        return caf::error{errc::not_found, name};
      auto who = st->names->remove(name);
      if (!st->names->holds_names(who)) {
        self->demonitor(who);
        st->holders.erase(who);
      }
      return caf::ok_atom::value;
    },
    [st](whereis_atom, const std::string& name) -> caf::result<caf::actor> {
      auto i = st->names->by_name.find(name);
      if (i == st->names->by_name.end())
        return caf::error{errc::not_found, name};
      return st->holders[i->second];
    },
    [st](registered_atom) {
      std::vector<std::string> names;
      names.reserve(st->names->by_name.size());
      for (auto& kvp : st->names->by_name)
        names.push_back(kvp.first);
      std::sort(names.begin(), names.end());
      return names;
    },
  };
}

} // namespace

caf::behavior registry_actor(caf::event_based_actor* self) {
  return serve_registry(self, std::make_shared<registry_table>());
}

child_spec registry_child(std::string id) {
  child_spec spec;
  spec.id = std::move(id);
  // The table lives in the spec, so each incarnation the supervisor starts
  // serves the names its predecessor had.
  auto table = std::make_shared<registry_table>();
  spec.start = [table](caf::event_based_actor* sup,
                       const caf::message&) -> start_result {
    return sup->spawn(serve_registry, table);
  };
  return spec;
}

registry_client::registry_client(caf::actor_system& sys, caf::actor registry,
                                 std::chrono::milliseconds timeout)
    : sys_(sys), registry_(std::move(registry)), timeout_(timeout) {
  // nop
}

caf::error registry_client::register_name(const std::string& name,
                                          const caf::actor& whom) {
  return detail::ask_ok(sys_, registry_, timeout_, register_atom::value, name,
                        whom);
}

caf::error registry_client::unregister_name(const std::string& name) {
  return detail::ask_ok(sys_, registry_, timeout_, unregister_atom::value,
                        name);
}

caf::expected<caf::actor> registry_client::whereis(const std::string& name) {
  return detail::ask<caf::actor>(sys_, registry_, timeout_, whereis_atom::value,
                                 name);
}

caf::expected<std::vector<std::string>> registry_client::registered() {
  return detail::ask<std::vector<std::string>>(sys_, registry_, timeout_,
                                               registered_atom::value);
}

} // namespace castor
