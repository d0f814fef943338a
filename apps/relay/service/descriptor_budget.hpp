#pragma once

// The one limit on the number of rules that remains once the kernel filter
// scales (castor/packet/bpf_filter.hpp): file descriptors. The group
// manager joins net.ipv4.igmp_max_memberships (default 20) groups per
// socket and interface, so 10,000 groups on one interface take 500
// sockets; socket ingress also opens one socket per ruled (group, port).
// Checked wherever rules arrive (-t, start, add, reload) against the
// process's RLIMIT_NOFILE, so that a rule set that cannot be joined is
// refused up front with a message naming the limit, instead of some joins
// failing later.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "model/daemon_config.hpp"
#include "model/rule.hpp"

namespace castor::relay {

/// Descriptors kept for everything but memberships and ingress sockets:
/// control connections, egress and AF_PACKET sockets, eventfds, logs.
inline constexpr std::size_t descriptor_reserve = 256;

/// About how many descriptors `rules` need: descriptor_reserve, one per
/// `per_socket` distinct groups of each input interface, and with socket
/// ingress one per distinct (interface, group, port).
std::size_t descriptors_needed(const std::vector<rule>& rules,
                               ingress_mode ingress, std::size_t per_socket);

/// net.ipv4.igmp_max_memberships of this network namespace (20 when it
/// cannot be read).
std::size_t igmp_max_memberships();

/// An error naming the limit when `rules` need more descriptors than
/// RLIMIT_NOFILE allows this process; nothing when they fit.
std::optional<std::string> check_descriptors(const std::vector<rule>& rules,
                                             ingress_mode ingress);

} // namespace castor::relay
