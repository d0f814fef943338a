#pragma once

// castorctl diagnose's short look: does traffic for a group and port
// arrive on some interface other than the rule's input? Joins the group on
// every other multicast-capable interface that is up, for a bounded time,
// and counts the datagrams per arrival interface (IP_PKTINFO). Needs no
// privilege; the joins end when the socket closes.

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace castor::relay::control {

/// Datagrams to GROUP:PORT seen per interface within `duration`, leaving
/// out the interfaces in `skip` (the rule's input, and the interfaces the
/// relay itself sends that group and port on). Empty on any error: a look
/// that cannot run says nothing.
std::map<std::string, uint64_t>
look_for_traffic(const std::string& group, uint16_t port,
                 const std::set<std::string>& skip,
                 std::chrono::milliseconds duration);

} // namespace castor::relay::control
