#include "castor/actors/registry.hpp"

#include <algorithm>
#include <unordered_map>

#include <caf/stateful_actor.hpp>

#include "blocking_request.hpp"

#include "castor/actors/errors.hpp"

namespace castor {

namespace {

struct registry_state {
  std::unordered_map<std::string, caf::actor> by_name;
  // An actor may hold several names; its down message removes them all.
  std::unordered_multimap<caf::actor_addr, std::string> by_addr;
};

void forget(registry_state& st, const std::string& name) {
  auto i = st.by_name.find(name);
  if (i == st.by_name.end())
    return;
  auto range = st.by_addr.equal_range(i->second.address());
  for (auto j = range.first; j != range.second; ++j)
    if (j->second == name) {
      st.by_addr.erase(j);
      break;
    }
  st.by_name.erase(i);
}

} // namespace

caf::behavior registry_actor(caf::event_based_actor* self) {
  auto st = std::make_shared<registry_state>();
  // An actor that dies takes its names with it (OTP semantics; CAF's own
  // registry keeps stale entries).
  self->set_down_handler([st](caf::down_msg& msg) {
    auto range = st->by_addr.equal_range(msg.source);
    for (auto i = range.first; i != range.second; ++i)
      st->by_name.erase(i->second);
    st->by_addr.erase(range.first, range.second);
  });
  return {
    [self, st](register_atom, const std::string& name,
               const caf::actor& whom) -> caf::result<caf::ok_atom> {
      if (name.empty())
        return caf::error{errc::invalid_argument, "empty name"};
      if (!whom)
        return caf::error{errc::invalid_argument,
                          "invalid actor for '" + name + "'"};
      if (st->by_name.count(name) > 0)
        return caf::error{errc::name_taken, name};
      st->by_name.emplace(name, whom);
      st->by_addr.emplace(whom.address(), name);
      // One monitor per registration; a dead actor sends one down message
      // per monitor, and the handler is idempotent.
      self->monitor(whom);
      return caf::ok_atom::value;
    },
    [st](unregister_atom,
         const std::string& name) -> caf::result<caf::ok_atom> {
      if (st->by_name.count(name) == 0)
        return caf::error{errc::not_found, name};
      forget(*st, name);
      return caf::ok_atom::value;
    },
    [st](whereis_atom, const std::string& name) -> caf::result<caf::actor> {
      auto i = st->by_name.find(name);
      if (i == st->by_name.end())
        return caf::error{errc::not_found, name};
      return i->second;
    },
    [st](registered_atom) {
      std::vector<std::string> names;
      names.reserve(st->by_name.size());
      for (auto& kvp : st->by_name)
        names.push_back(kvp.first);
      std::sort(names.begin(), names.end());
      return names;
    },
  };
}

child_spec registry_child(std::string id) {
  child_spec spec;
  spec.id = std::move(id);
  spec.start = [](caf::event_based_actor* sup,
                  const caf::message&) -> start_result {
    return sup->spawn(registry_actor);
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
