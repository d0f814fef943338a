// The group manager: its shared state and its one actor class. Kept as one
// file of about 560 lines on purpose: the actor's request, kernel-state and
// query handlers all work on the same private membership tables and
// refcounts, and splitting the class over files would need those tables in
// a header of their own only to share them between its halves.

#include "castor/net/group_manager.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "castor/net/errors.hpp"

namespace castor::net {

std::string to_json(const group_stats& x) {
  nlohmann::json active = nlohmann::json::object();
  for (auto& [name, count] : x.active)
    active[name] = count;
  nlohmann::json out{
    {"joins_attempted", x.joins_attempted},
    {"joins_succeeded", x.joins_succeeded},
    {"joins_failed", x.joins_failed},
    {"active", std::move(active)},
    {"pending", x.pending},
    {"failed", x.failed},
    {"sockets", x.sockets},
  };
  return out.dump();
}

namespace {

using ip_address = boost::asio::ip::address;

// (interface name, group, source); an unspecified source (of the group's
// family) means any-source. IPv4 and IPv6 memberships share the tables.
using membership_key = std::tuple<std::string, ip_address, ip_address>;

bool any_source(const membership_key& key) {
  return std::get<2>(key).is_unspecified();
}

int family_of(const ip_address& group) {
  return group.is_v6() ? AF_INET6 : AF_INET;
}

enum class mstate : uint8_t { joined, pending, failed };

struct membership {
  mstate state = mstate::pending;
  std::string reason;
  uint32_t holders = 0; // total references over all holders
  int socket = -1;      // the shard holding it while joined
  unsigned ifindex = 0; // the index it was joined on
};

// One helper socket: its groups, with the mode and source count per group,
// because a socket may not mix any-source and source-specific joins of a
// group, and holds at most max_sources_per_group sources per group. A
// socket is of one family: IPv4 groups on AF_INET, IPv6 on AF_INET6.
struct shard {
  int socket = -1;
  int family = AF_INET;
  struct group_use {
    bool source_specific = false;
    size_t sources = 0;
  };
  std::map<ip_address, group_use> groups;
};

struct interface_entry {
  unsigned index = 0; // the index our shards joined on; 0 = none yet
  std::vector<shard> shards;
};

const char* to_cstr(mstate x) {
  switch (x) {
  case mstate::joined:
    return "joined";
  case mstate::pending:
    return "pending";
  case mstate::failed:
    return "failed";
  }
  return "?";
}

} // namespace

struct group_manager_state {
  std::unique_ptr<membership_backend> backend;
  std::map<membership_key, membership> memberships;
  std::map<std::string, interface_entry> interfaces;
  // References per holder and membership: a holder may join one membership
  // several times and must leave it as often.
  std::map<caf::actor_addr, std::map<membership_key, uint32_t>> holders;
  uint64_t attempted = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;

  // The state outlives every incarnation of the manager, but not its last
  // owner: closing the helper sockets here makes the kernel drop whatever
  // is still joined, so removing the manager (delete_child, or an
  // application that stops) leaks no membership for the rest of the
  // process's life.
  ~group_manager_state() {
    for (auto& kvp : interfaces)
      for (auto& sh : kvp.second.shards)
        backend->close_socket(sh.socket);
  }

  // Forgets an interface that no membership refers to any more.
  void interfaces_gc(const std::string& name) {
    for (auto& kvp : memberships)
      if (std::get<0>(kvp.first) == name)
        return;
    auto i = interfaces.find(name);
    if (i == interfaces.end())
      return;
    for (auto& sh : i->second.shards)
      backend->close_socket(sh.socket);
    interfaces.erase(i);
  }
};

std::shared_ptr<group_manager_state>
make_group_manager_state(std::unique_ptr<membership_backend> backend) {
  // Before any membership can fail: describe() then names mcast errors.
  register_errors();
  auto st = std::make_shared<group_manager_state>();
  st->backend = std::move(backend);
  return st;
}

namespace {

class group_manager_actor : public caf::event_based_actor {
public:
  group_manager_actor(caf::actor_config& cfg,
                      std::shared_ptr<group_manager_state> state)
      : caf::event_based_actor(cfg), st_(std::move(state)) {
    // nop
  }

  const char* name() const override { return "castor.group_manager"; }

  void on_exit() override {
    watch_.reset(); // joins the watcher thread before we go
    // Let go of the state now rather than whenever CAF frees this object,
    // so that a supervisor that deletes our spec after our down_msg is the
    // last owner and closes the sockets at once.
    st_.reset();
  }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& msg) { release_all(msg.source); });
    // Holders from before a restart: watch them again (a monitor on one
    // that died meanwhile fires at once and releases its memberships).
    for (auto& kvp : st_->holders)
      monitor(kvp.first);
    // Interfaces may have changed while no manager was running.
    std::set<std::string> names;
    for (auto& kvp : st_->memberships)
      names.insert(std::get<0>(kvp.first));
    for (auto& name : names)
      refresh(name);
    // Weak: the callback lives in the backend, which the state owns and
    // the state outlives us (it is shared with the spec and the spawner). A
    // strong handle here would keep an unsupervised manager alive forever,
    // and ~actor_system would wait for it. Resolved on each call; a change
    // reported after we ended goes nowhere.
    caf::actor_addr self_addr = address();
    watch_ = st_->backend->watch_links([self_addr](const std::string& name) {
      if (auto self_hdl = caf::actor_cast<caf::actor>(self_addr))
        caf::anon_send(self_hdl, link_changed_atom::value, name);
    });
    return {
      [this](caf::join_atom, const caf::actor& holder,
             const membership_request& req) -> caf::result<membership_status> {
        return join(holder, req);
      },
      [this](caf::leave_atom, const caf::actor& holder,
             const membership_request& req) -> caf::result<caf::ok_atom> {
        if (auto err = leave(holder, req))
          return err;
        return caf::ok_atom::value;
      },
      [this](memberships_atom) { return list(); },
      [this](group_stats_atom) { return stats(); },
      [this](link_changed_atom, const std::string& name) {
        if (name.empty()) { // the watcher lost events: check everything
          std::vector<std::string> names;
          for (auto& kvp : st_->interfaces)
            names.push_back(kvp.first);
          for (auto& n : names)
            refresh(n);
        } else {
          if (interface_known(name))
            refresh(name);
          refresh_moved();
        }
      },
    };
  }

private:
  // -- requests ----------------------------------------------------------------

  caf::expected<membership_key> key_of(const membership_request& req,
                                       bool for_join) {
    if (!req.group.is_multicast())
      return caf::error{membership_errc::not_multicast,
                        "group " + req.group.to_string()
                          + " is not a multicast address"};
    if (!req.source.is_unspecified() && req.source.is_multicast())
      return caf::error{membership_errc::not_multicast,
                        "source " + req.source.to_string()
                          + " must be a unicast address"};
    if (!req.source.is_unspecified() && req.source.is_v6() != req.group.is_v6())
      return caf::error{membership_errc::not_multicast,
                        "source " + req.source.to_string()
                          + " is not of the family of group "
                          + req.group.to_string()};
    std::string name = req.interface.name;
    if (name.empty()) {
      if (req.interface.index == 0)
        return caf::error{membership_errc::unknown_interface,
                          "no interface given"};
      auto found = st_->backend->interface_name(req.interface.index);
      if (!found)
        return caf::error{membership_errc::unknown_interface,
                          "no interface with index "
                            + std::to_string(req.interface.index)};
      name = *found;
    } else if (for_join && !req.wait_for_interface) {
      if (!st_->backend->find_interface(name))
        return caf::error{membership_errc::unknown_interface,
                          "no interface named '" + name + "'"};
    }
    // One spelling of "any source" per family, so that 0.0.0.0 and :: for
    // an IPv6 group are the same membership.
    ip_address source = req.source;
    if (source.is_unspecified())
      source = req.group.is_v6() ? ip_address{boost::asio::ip::address_v6{}}
                                 : ip_address{boost::asio::ip::address_v4{}};
    return membership_key{name, req.group, source};
  }

  caf::result<membership_status> join(const caf::actor& holder,
                                      const membership_request& req) {
    if (!holder)
      return caf::error{membership_errc::invalid_holder, "invalid holder"};
    auto key = key_of(req, true);
    if (!key)
      return std::move(key.error());
    auto& name = std::get<0>(*key);
    if (auto itf = st_->backend->find_interface(name); itf && !itf->multicast)
      return caf::error{membership_errc::no_multicast,
                        "interface '" + name + "' has no multicast"};
    auto i = st_->memberships.find(*key);
    if (i == st_->memberships.end()) {
      membership m;
      st_->interfaces[name]; // make sure link changes for it are followed
      if (auto err = try_join(*key, m, false); err) {
        st_->interfaces_gc(name);
        return err;
      }
      i = st_->memberships.emplace(*key, std::move(m)).first;
    }
    auto& refs = st_->holders[holder.address()];
    if (refs.empty())
      monitor(holder);
    ++refs[*key];
    ++i->second.holders;
    return status_of(i->first, i->second);
  }

  caf::error leave(const caf::actor& holder, const membership_request& req) {
    auto key = key_of(req, false);
    if (!key)
      return std::move(key.error());
    auto h = holder ? st_->holders.find(holder.address()) : st_->holders.end();
    if (h == st_->holders.end() || h->second.count(*key) == 0)
      return caf::error{membership_errc::not_joined,
                        describe_key(*key) + " is not held by this holder"};
    if (--h->second[*key] == 0)
      h->second.erase(*key);
    if (h->second.empty()) {
      demonitor(holder);
      st_->holders.erase(h);
    }
    release(*key, 1);
    return caf::none;
  }

  void release_all(const caf::actor_addr& holder) {
    auto h = st_->holders.find(holder);
    if (h == st_->holders.end())
      return;
    auto refs = std::move(h->second);
    st_->holders.erase(h);
    for (auto& [key, count] : refs)
      release(key, count);
  }

  // Drops `count` references; the last one leaves the group.
  void release(const membership_key& key, uint32_t count) {
    auto i = st_->memberships.find(key);
    if (i == st_->memberships.end())
      return;
    auto& m = i->second;
    m.holders -= std::min(m.holders, count);
    if (m.holders > 0)
      return;
    if (m.state == mstate::joined)
      kernel_leave(key, m);
    auto name = std::get<0>(key);
    st_->memberships.erase(i);
    st_->interfaces_gc(name);
  }

  // -- kernel state ------------------------------------------------------------

  // Joins `key` now if its interface is up, else marks it pending. A kernel
  // refusal is returned for a fresh join (the caller hears of it) and
  // recorded as failed on a rejoin.
  caf::error try_join(const membership_key& key, membership& m, bool rejoin) {
    auto& name = std::get<0>(key);
    auto itf = st_->backend->find_interface(name);
    if (!itf) {
      m.state = mstate::pending;
      m.reason = "interface absent";
      return caf::none;
    }
    if (!itf->up) {
      m.state = mstate::pending;
      m.reason = "interface down";
      return caf::none;
    }
    if (!itf->multicast) {
      m.state = mstate::failed;
      m.reason = "interface has no multicast";
      return caf::error{membership_errc::no_multicast,
                        "interface '" + name + "' has no multicast"};
    }
    if (auto& known = st_->interfaces[name];
        known.index != 0 && known.index != itf->index)
      refresh(name); // re-created: old sockets hold nothing useful
    auto& entry = st_->interfaces[name];
    entry.index = itf->index;
    ++st_->attempted;
    const auto& group = std::get<1>(key);
    const auto& source = std::get<2>(key);
    auto placed = place(entry, group, !any_source(key));
    if (!placed) {
      return refuse(m, rejoin, placed.error());
    }
    auto err = st_->backend->join((*placed)->socket, itf->index, group, source);
    if (err) {
      unplace(entry, (*placed)->socket, std::get<1>(key));
      return refuse(m, rejoin, err);
    }
    ++st_->succeeded;
    m.state = mstate::joined;
    m.reason.clear();
    m.socket = (*placed)->socket;
    m.ifindex = itf->index;
    return caf::none;
  }

  caf::error refuse(membership& m, bool rejoin, const caf::error& why) {
    ++st_->failed;
    m.state = mstate::failed;
    m.reason = describe_error(why);
    spdlog::warn("group manager: join failed: {}", m.reason);
    if (rejoin)
      return caf::none;
    return caf::error{membership_errc::kernel_refused, m.reason};
  }

  void kernel_leave(const membership_key& key, membership& m) {
    auto& entry = st_->interfaces[std::get<0>(key)];
    auto err = st_->backend->leave(m.socket, m.ifindex, std::get<1>(key),
                                   std::get<2>(key));
    if (err)
      spdlog::warn("group manager: leaving {} failed: {}", describe_key(key),
                   describe_error(err));
    unplace(entry, m.socket, std::get<1>(key));
    m.state = mstate::pending;
    m.socket = -1;
  }

  // Finds (or opens) a shard of the group's family with room for `group`
  // in the wanted mode.
  caf::expected<shard*> place(interface_entry& entry, const ip_address& group,
                              bool source_specific) {
    auto max_groups = st_->backend->max_groups_per_socket();
    auto max_sources = st_->backend->max_sources_per_group();
    const int family = family_of(group);
    for (auto& sh : entry.shards) {
      if (sh.family != family)
        continue;
      auto i = sh.groups.find(group);
      if (i == sh.groups.end()) {
        if (sh.groups.size() < max_groups) {
          sh.groups[group] = {source_specific, 1};
          return &sh;
        }
        continue;
      }
      // A socket joins a group either any-source or source-specific, and
      // any-source once only.
      if (source_specific && i->second.source_specific
          && i->second.sources < max_sources) {
        ++i->second.sources;
        return &sh;
      }
    }
    auto fd = st_->backend->open_socket(family);
    if (!fd)
      return std::move(fd.error());
    shard sh;
    sh.socket = *fd;
    sh.family = family;
    sh.groups[group] = {source_specific, 1};
    entry.shards.emplace_back(std::move(sh));
    return &entry.shards.back();
  }

  // Releases one use of `group` in the shard of `socket`; closes a shard
  // that became empty.
  void unplace(interface_entry& entry, int socket, const ip_address& group) {
    for (auto i = entry.shards.begin(); i != entry.shards.end(); ++i) {
      if (i->socket != socket)
        continue;
      auto g = i->groups.find(group);
      if (g != i->groups.end() && --g->second.sources == 0)
        i->groups.erase(g);
      if (i->groups.empty()) {
        st_->backend->close_socket(i->socket);
        entry.shards.erase(i);
      }
      return;
    }
  }

  void close_shards(interface_entry& entry) {
    for (auto& sh : entry.shards)
      st_->backend->close_socket(sh.socket);
    entry.shards.clear();
  }

  bool interface_known(const std::string& name) const {
    return st_->interfaces.count(name) > 0;
  }

  // Brings every membership on `name` in line with the interface's state:
  // gone or down -> drop the kernel memberships, pending; up (possibly
  // re-created with a new index) -> join what is not joined.
  void refresh(const std::string& name) {
    auto itf = st_->backend->find_interface(name);
    auto& entry = st_->interfaces[name];
    bool usable = itf && itf->up && itf->multicast;
    bool recreated = itf && entry.index != 0 && entry.index != itf->index;
    if (!usable || recreated) {
      close_shards(entry);
      entry.index = 0;
      for (auto& [key, m] : st_->memberships) {
        if (std::get<0>(key) != name)
          continue;
        if (m.state == mstate::joined)
          spdlog::info("group manager: {} lost ({})", describe_key(key),
                       !itf ? "interface absent" : "interface down");
        m.state = mstate::pending;
        m.socket = -1;
        m.reason = !itf       ? "interface absent"
                   : !itf->up ? "interface down"
                              : "interface re-created";
      }
      if (!usable)
        return;
    }
    for (auto& [key, m] : st_->memberships) {
      if (std::get<0>(key) != name || m.state == mstate::joined)
        continue;
      try_join(key, m, true);
      if (m.state == mstate::joined)
        spdlog::info("group manager: {} joined", describe_key(key));
    }
  }

  // A rename is reported under the new name only, and Linux renames links
  // that are up: re-check every interface whose name no longer leads to the
  // index its shards joined on, or its memberships would read "joined" while
  // they sit on whatever the link is called now.
  void refresh_moved() {
    std::vector<std::string> moved;
    for (auto& [name, entry] : st_->interfaces) {
      if (entry.index == 0)
        continue;
      auto itf = st_->backend->find_interface(name);
      if (!itf || itf->index != entry.index)
        moved.push_back(name);
    }
    for (auto& name : moved)
      refresh(name);
  }

  // -- queries -----------------------------------------------------------------

  static std::string describe_key(const membership_key& key) {
    std::string out = std::get<1>(key).to_string();
    if (!any_source(key))
      out = "(" + std::get<2>(key).to_string() + ", " + out + ")";
    return out + " on " + std::get<0>(key);
  }

  /// A membership's reason: the error's context, or the error itself.
  static std::string describe_error(const caf::error& err) {
    return err.context().empty() ? caf::to_string(err) : context_text(err);
  }

  static membership_status status_of(const membership_key& key,
                                     const membership& m) {
    membership_status out;
    out.interface = std::get<0>(key);
    out.group = std::get<1>(key).to_string();
    if (!any_source(key))
      out.source = std::get<2>(key).to_string();
    out.state = to_cstr(m.state);
    out.reason = m.reason;
    out.holders = m.holders;
    return out;
  }

  std::vector<membership_status> list() {
    std::vector<membership_status> out;
    for (auto& [key, m] : st_->memberships)
      out.push_back(status_of(key, m));
    return out;
  }

  group_stats stats() {
    group_stats out;
    out.joins_attempted = st_->attempted;
    out.joins_succeeded = st_->succeeded;
    out.joins_failed = st_->failed;
    for (auto& [key, m] : st_->memberships) {
      switch (m.state) {
      case mstate::joined:
        ++out.active[std::get<0>(key)];
        break;
      case mstate::pending:
        ++out.pending;
        break;
      case mstate::failed:
        ++out.failed;
        break;
      }
    }
    for (auto& kvp : st_->interfaces)
      out.sockets += kvp.second.shards.size();
    return out;
  }

  std::shared_ptr<group_manager_state> st_;
  std::unique_ptr<link_watch> watch_;
};

} // namespace

caf::actor spawn_group_manager(caf::actor_system& sys,
                               std::shared_ptr<group_manager_state> state) {
  return sys.spawn<group_manager_actor>(std::move(state));
}

child_spec group_manager_child(std::string id,
                               std::shared_ptr<group_manager_state> state) {
  child_spec spec;
  spec.id = std::move(id);
  spec.start = [state](caf::event_based_actor* sup,
                       const caf::message&) -> start_result {
    return sup->spawn<group_manager_actor>(state);
  };
  return spec;
}

} // namespace castor::net
