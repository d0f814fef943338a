#pragma once

// The group manager owns every multicast membership of the process.
//
// Holders join (interface, group[, source]); memberships are reference
// counted, so the first holder joins and the last to leave (or die) leaves.
// Helper sockets are sharded so that none exceeds the kernel's per-socket
// limits (igmp_max_memberships groups, igmp_max_msf sources per group), which
// is what broke earlier relays at 20 groups. Interfaces that go down or
// disappear are watched over rtnetlink and rejoined when they come back.
//
// Protocol (answers are membership_status, ok_atom or a "mcast" error):
//   (caf::join_atom, caf::actor holder, membership_request)  -> membership_status
//   (caf::leave_atom, caf::actor holder, membership_request) -> ok_atom
//   (memberships_atom)                                        -> std::vector<membership_status>
//   (group_stats_atom)                                        -> group_stats
//   (link_changed_atom, std::string interface)               -> (re-checks it)

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <boost/asio/ip/address.hpp>

#include "castor/actors/child_spec.hpp"
#include "castor/net/membership_backend.hpp"
#include "castor/net/socket_options.hpp"

namespace castor::net {

using memberships_atom = caf::atom_constant<caf::atom("gm_list")>;
using group_stats_atom = caf::atom_constant<caf::atom("gm_stats")>;
using link_changed_atom = caf::atom_constant<caf::atom("gm_link")>;

enum class membership_errc : uint8_t {
  none = 0,
  /// No interface by that name or index. Context: the interface.
  unknown_interface,
  /// The interface lacks IFF_MULTICAST (e.g. WireGuard). Context: interface.
  no_multicast,
  /// The group is not in 224.0.0.0/4 (ff00::/8), or the source is, or the
  /// source is of the other family. Context: address.
  not_multicast,
  /// The kernel refused the join. Context: what, errno, strerror.
  kernel_refused,
  /// leave for a membership this holder does not hold.
  not_joined,
  /// The holder handle is invalid.
  invalid_holder,
};

std::string to_string(membership_errc x);

struct membership_request {
  interface_ref interface;
  /// IPv4 (an IGMP join) or IPv6 (an MLD join on an AF_INET6 helper
  /// socket; the two families never share one).
  boost::asio::ip::address group;
  /// Unspecified: any-source. Else of the group's family.
  boost::asio::ip::address source;
  /// If the interface does not exist yet: keep the membership pending and
  /// join when it appears (boot ordering, VPNs, modems), instead of
  /// answering unknown_interface.
  bool wait_for_interface = false;
};

/// joined | pending (interface absent or down) | failed (kernel refusal on a
/// rejoin; retried on the next link change).
struct membership_status {
  std::string interface;
  std::string group;
  std::string source; ///< empty for any-source
  std::string state;
  std::string reason; ///< why pending or failed
  uint32_t holders = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, membership_status& x) {
  return f(caf::meta::type_name("membership_status"), x.interface, x.group,
           x.source, x.state, x.reason, x.holders);
}

struct group_stats {
  uint64_t joins_attempted = 0;
  uint64_t joins_succeeded = 0;
  uint64_t joins_failed = 0;
  /// Joined memberships per interface.
  std::map<std::string, uint64_t> active;
  uint64_t pending = 0;
  uint64_t failed = 0;
  /// Helper sockets open (shards).
  uint64_t sockets = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_stats& x) {
  return f(caf::meta::type_name("group_stats"), x.joins_attempted,
           x.joins_succeeded, x.joins_failed, x.active, x.pending, x.failed,
           x.sockets);
}

/// The stats as a JSON object.
std::string to_json(const group_stats& x);

struct group_manager_state;

/// Memberships live here, outside the actor, so that a restarted group
/// manager finds them (and their helper sockets) again: nothing is silently
/// left and nothing leaks.
std::shared_ptr<group_manager_state>
make_group_manager_state(std::unique_ptr<membership_backend> backend);

/// Spawns a group manager on `state` (unsupervised; tests and tools).
caf::actor spawn_group_manager(caf::actor_system& sys,
                               std::shared_ptr<group_manager_state> state);

/// A child spec whose every start reuses `state`.
child_spec group_manager_child(std::string id,
                               std::shared_ptr<group_manager_state> state);

} // namespace castor::net

CAF_ERROR_CODE_ENUM(castor::net::membership_errc, "mcast")
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::membership_request)
