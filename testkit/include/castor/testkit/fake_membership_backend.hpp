#pragma once

// castor::testkit::fake_membership_backend: a kernel stand-in for the group
// manager (castor/net/group_manager.hpp). Interfaces with flags, helper
// sockets with their joins, the kernel's limits with its semantics (too many
// groups on one socket is ENOBUFS), refusals a test injects, and link
// changes a test announces. A test keeps a raw pointer to it after handing
// the unique_ptr to make_group_manager_state:
//
//   auto backend = std::make_unique<castor::testkit::fake_membership_backend>();
//   auto* fake = backend.get();
//   fake->interfaces["eth0"] = {2, true, true}; // index, up, multicast
//   auto gm = castor::net::spawn_group_manager(
//     sys, castor::net::make_group_manager_state(std::move(backend)));
//   ...
//   fake->interfaces["eth0"].up = false;
//   fake->change_link("eth0"); // as rtnetlink would tell the group manager
//
// Not thread-safe: meant for the deterministic test scheduler, where the
// group manager and the test share one thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/sec.hpp>

#include <sys/socket.h>

#include "castor/net/membership_backend.hpp"

namespace castor::testkit {

class fake_membership_backend : public castor::net::membership_backend {
public:
  using interface_status = castor::net::interface_status;
  using link_watch = castor::net::link_watch;

  struct join_entry {
    unsigned ifindex;
    address group;
    address source; ///< unspecified: any-source
    bool operator<(const join_entry& o) const {
      return std::tie(ifindex, group, source)
             < std::tie(o.ifindex, o.group, o.source);
    }
  };

  /// The interfaces that exist, by name: {index, up, multicast}.
  std::map<std::string, interface_status> interfaces;
  /// Open helper sockets and what each has joined.
  std::map<int, std::set<join_entry>> sockets;
  /// The family (AF_INET, AF_INET6) each open socket was opened with: a
  /// join of a group of the other family fails, as in the kernel.
  std::map<int, int> families;
  /// Groups whose join fails (as EADDRINUSE would).
  std::set<address> refuse_groups;
  /// net.ipv4.igmp_max_memberships and igmp_max_msf.
  size_t max_groups = 20;
  size_t max_sources = 10;
  int next_fd = 100;
  /// Successful joins and all leaves, over the backend's life.
  size_t joins = 0;
  size_t leaves = 0;
  /// The group manager's link watcher, once it watches.
  std::function<void(const std::string&)> on_change;

  std::optional<interface_status>
  find_interface(const std::string& name) override {
    auto i = interfaces.find(name);
    if (i == interfaces.end())
      return std::nullopt;
    return i->second;
  }

  std::optional<std::string> interface_name(unsigned index) override {
    for (auto& [name, st] : interfaces)
      if (st.index == index)
        return name;
    return std::nullopt;
  }

  caf::expected<int> open_socket(int family) override {
    sockets[next_fd];
    families[next_fd] = family;
    return next_fd++;
  }

  void close_socket(int socket) override {
    sockets.erase(socket);
    families.erase(socket);
  }

  caf::error join(int socket, unsigned ifindex, address group,
                  address source) override {
    if (refuse_groups.count(group) > 0)
      return caf::make_error(caf::sec::runtime_error,
                             std::string{"MCAST_JOIN_GROUP"},
                             std::string{"Address already in use"});
    if (families.at(socket) != (group.is_v6() ? AF_INET6 : AF_INET))
      return caf::make_error(caf::sec::runtime_error,
                             std::string{"MCAST_JOIN_GROUP"},
                             std::string{"Address family not supported"});
    auto& joined = sockets.at(socket);
    std::set<address> groups;
    for (auto& e : joined)
      groups.insert(e.group);
    groups.insert(group);
    if (groups.size() > max_groups)
      return caf::make_error(caf::sec::runtime_error, std::string{"ENOBUFS"});
    ++joins;
    joined.insert({ifindex, group, source});
    return caf::none;
  }

  caf::error leave(int socket, unsigned ifindex, address group,
                   address source) override {
    ++leaves;
    sockets.at(socket).erase({ifindex, group, source});
    return caf::none;
  }

  size_t max_groups_per_socket() override { return max_groups; }

  size_t max_sources_per_group() override { return max_sources; }

  std::unique_ptr<link_watch>
  watch_links(std::function<void(const std::string&)> fn) override {
    on_change = std::move(fn);
    return std::make_unique<link_watch>();
  }

  /// Announces a change of link `name` (added, removed, flags changed) to
  /// the watcher, as the kernel's rtnetlink messages would. Change
  /// `interfaces` first. Does nothing while nobody watches.
  void change_link(const std::string& name) {
    if (on_change)
      on_change(name);
  }

  /// Every (ifindex, group, source) joined in the kernel, over all sockets.
  std::multiset<std::string> kernel_joins() const {
    std::multiset<std::string> out;
    for (auto& [fd, entries] : sockets)
      for (auto& e : entries) {
        auto text = std::to_string(e.ifindex) + " " + e.group.to_string();
        if (!e.source.is_unspecified())
          text += " from " + e.source.to_string();
        out.insert(text);
      }
    return out;
  }
};

} // namespace castor::testkit
