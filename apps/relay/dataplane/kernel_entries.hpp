#pragma once

// How a rule becomes the kernel data path's map entries (issues 16, 19):
// its key, its group's entry and its value with each output's rewrite, in
// the layout of kernel/relay_maps.h (IPv4) or kernel/relay_maps6.h (IPv6),
// as bytes for bpf_map_update_elem. No libbpf and no CAF: the loader
// (kernel_datapath.cpp) installs what this encodes, and unit tests read it.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay {

/// What an output's rewrite needs of its interface: what the packet path's
/// egress socket would take from it.
struct kernel_link {
  unsigned ifindex = 0;
  bool up = false;
  uint32_t addr_be = 0; ///< IPv4: the primary address (SIOCGIFADDR)
  /// IPv6: a stable global or ULA address (packet::stable_ipv6_source),
  /// as the packet path binds its IPv6 egress to; none: cannot send.
  std::optional<std::array<uint8_t, 16>> addr6;
  /// IPv6 unicast: the interface's hop limit (conf/IF/hop_limit), which a
  /// unicast socket sends with; IPV6_MULTICAST_HOPS is the output's ttl.
  uint8_t hop_limit6 = 64;
  uint8_t mac[6]{};
  unsigned mtu = 0;

  /// "up", "down" or "missing", as castorctl stats shows an output.
  std::string state() const;
};

/// Looks `name` up now; the IPv6 fields only with `ipv6` (they read
/// /proc, which an IPv4-only relay need not).
kernel_link look_up_link(const std::string& name, bool ipv6);

/// One rule's entries.
struct kernel_entry {
  bool v6 = false;
  std::vector<uint8_t> key;       ///< castor_rule_key or castor_rule_key6
  std::vector<uint8_t> group_key; ///< castor_group_key or castor_group_key6
  /// CASTOR_GROUP_SOURCE_SPECIFIC or CASTOR_GROUP_ANY_SOURCE: which
  /// lookup finds this rule.
  uint32_t kind = 0;
  std::vector<uint8_t> value; ///< castor_rule_value or castor_rule_value6
};

/// The entries of `r` (served by the kernel: one family in and out) on
/// input interface `ifindex`: its counters at `rule_slot`, its outputs'
/// at `output_slots` (in order; the first CASTOR_MAX_OUTPUTS are
/// encoded), each output's interface from `links` (absent: missing).
kernel_entry encode_rule(const rule& r, unsigned ifindex, uint32_t rule_slot,
                         const std::vector<uint32_t>& output_slots,
                         const std::map<std::string, kernel_link>& links);

} // namespace castor::relay
