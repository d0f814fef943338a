#pragma once

// Builds the classic BPF program that the kernel runs on every frame before
// it reaches an ingress socket, so that the relay's CPU only ever sees
// datagrams it has a rule for. It passes a frame only if:
//   - the wire brought it to this host: its SKF_AD_PKTTYPE is PACKET_HOST,
//     _BROADCAST or _MULTICAST. Not _OTHERHOST (another host's frame, seen
//     in promiscuous mode or on a bridge port, and what the kernel makes of
//     a frame tagged for a VLAN that has no sub-interface here), nor
//     _OUTGOING or _LOOPBACK (this host's own output, the relay's included,
//     which would loop). A socket bound to ETH_P_IP is not handed outgoing
//     frames in the first place (only ETH_P_ALL taps are); the check keeps
//     the guarantee in the filter, whatever the binding;
//   - it arrived on the socket's own interface (SKF_AD_IFINDEX ==
//     filter_options::ifindex, when given): a socket bound to eth0 is also
//     handed the frames of eth0's upper devices (eth0.100, a macvlan) after
//     they were moved there, untagged, with the upper device as their
//     interface;
//   - it carries no VLAN tag (SKF_AD_VLAN_TAG_PRESENT): an ETH_P_ALL tap
//     sees a tagged frame before the kernel takes the tag off;
//   - it is IPv4 UDP (and, on SOCK_RAW, has ethertype 0x0800);
//   - it is not a fragment (unless fragments are passed to be counted);
//   - its destination (group, port) is ruled, and the source matches when
//     the rule has one.
// IP options are *not* refused here: the port is loaded at the real header
// length, the frame passes, and the parser counts it as ip_options, so that
// operators see it.
//
// The exact program is a binary search tree over the ruled groups (A >=
// middle group? right : left) down to leaves of 4 groups, each a block
// (group, then port, then source) that a mismatch skips; a jump longer
// than a conditional jump's 8-bit offset goes through an unconditional
// `ja` (32-bit), so any number of ports per group works. A frame meets
// about log2(groups / 4) + 4 group comparisons. Capacity is BPF_MAXINSNS
// (4096) instructions: about 5.5 per group with one any-source port, 3 per
// further port, so some 710 groups (711 measured, one any-source port
// each), or far more ports within fewer groups. Counting fragments
// (fragment_policy::count_in_user, what the relay uses) adds a check per
// group: 477 groups measured.
//
// Beyond that capacity build_filter() does not fail: it falls back to a
// coarser program (filter_tier), so that any number of rules works:
//   - ports: the same checks, then the destination port is one of the
//     ruled ports (2 instructions per distinct port, up to ~2,000 ports);
//   - udp: beyond that, every IPv4 UDP datagram that is not a fragment.
// The group (and source) is then matched by the forwarder's own table, and
// a frame that passed the coarse filter with no rule there is counted as
// no_rule. On an input that carries only the joined groups (the usual case:
// the switch and the NIC filter by membership) the coarse tiers cost
// nothing; unruled groups on a ruled port cost one userspace lookup each
// (bench/packet measures both).
//
// Replacing the program: attach_filter() on a socket that already has one
// swaps it atomically in the kernel (RCU); no frame sees a half-built filter
// and none is let through unfiltered in between.

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <linux/filter.h>

#include "castor/packet/frame_parser.hpp"

namespace castor::packet {

/// One ruled input, as the filter sees it. Addresses in network order.
struct filter_match {
  uint32_t group_be = 0;
  uint16_t port = 0;                 ///< host order
  std::optional<uint32_t> source_be; ///< source-specific when set
};

enum class fragment_policy : uint8_t {
  /// Dropped in the kernel, never seen (cheapest; not counted).
  drop_in_kernel,
  /// Fragments whose destination group is ruled reach the socket so that
  /// the parser counts them as drop_reason::fragment. A non-first fragment
  /// has no UDP header, so only the group (not the port) is checked.
  count_in_user,
};

struct filter_options {
  /// none for AF_PACKET SOCK_DGRAM, ethernet for SOCK_RAW.
  link_layer layer = link_layer::none;
  fragment_policy fragments = fragment_policy::drop_in_kernel;
  /// Groups per leaf of the exact program's search tree; 0 lays the
  /// groups out as one chain, as before issue 15 (bench/packet compares).
  std::size_t tree_leaf = 4;
  /// The interface the socket is bound to: frames the kernel hands it from
  /// another one (an upper VLAN or macvlan device) are dropped. 0: no check.
  unsigned ifindex = 0;
};

using bpf_program = std::vector<sock_filter>;

/// How closely a program matches the rules (see the top of this header).
enum class filter_tier : uint8_t {
  exact, ///< group, port and source, as ruled
  ports, ///< IPv4 UDP to a ruled port; groups matched in userspace
  udp,   ///< any IPv4 UDP; groups and ports matched in userspace
};

/// "exact", "ports" or "udp".
const char* to_string(filter_tier tier) noexcept;

/// Builds the exact program for `matches` (order and duplicates do not
/// matter; an any-source match covers source-specific ones for the same
/// group and port). No matches gives a program that drops everything.
/// Throws std::length_error beyond BPF_MAXINSNS instructions, and
/// std::invalid_argument for a link layer other than none/ethernet.
bpf_program build_exact_filter(const std::vector<filter_match>& matches,
                               const filter_options& options = {});

/// The exact program while it fits, else the coarsest tier needed; never
/// longer than BPF_MAXINSNS. Stores the tier it chose in `*tier` when
/// given. Throws std::invalid_argument for a link layer other than
/// none/ethernet.
bpf_program build_filter(const std::vector<filter_match>& matches,
                         const filter_options& options = {},
                         filter_tier* tier = nullptr);

// IPv6. A separate program for an IPv6 input (a socket bound to
// ETH_P_IPV6), so that the IPv4 programs stay as they are. The same link
// checks (pkttype, interface, no VLAN tag), then ethertype 0x86DD and
// version 6, and:
//   - UDP right after the fixed header (next header 17, the usual case):
//     the destination group (four words, as a trie of search trees, one
//     level per word), then the port, then the source, as for IPv4;
//   - an extension header first: dropped in the kernel, or, with
//     fragment_policy::count_in_user, passed when the group is ruled
//     (port unchecked) so that the parser walks the chain and counts what
//     it finds (fragment, hop_by_hop, ...) or forwards a clean datagram.
//     MLD (ICMPv6 behind a hop-by-hop header, sent to the group itself)
//     is never passed: it is control traffic, not a datagram to count.
// The coarse tiers as for IPv4: IPv6 UDP to a ruled port, then any IPv6
// UDP.

/// One ruled IPv6 input. Addresses as their 16 bytes (network order).
struct filter_match6 {
  std::array<uint8_t, 16> group{};
  uint16_t port = 0; ///< host order
  std::optional<std::array<uint8_t, 16>> source;
};

/// The exact IPv6 program (see above); throws as build_exact_filter.
bpf_program build_exact_filter6(const std::vector<filter_match6>& matches,
                                const filter_options& options = {});

/// The exact IPv6 program while it fits, else a coarser tier.
bpf_program build_filter6(const std::vector<filter_match6>& matches,
                          const filter_options& options = {},
                          filter_tier* tier = nullptr);

/// SO_ATTACH_FILTER: installs or atomically replaces the socket's filter.
/// Throws io_error.
void attach_filter(int fd, const bpf_program& program);

/// What the kernel returns for an accepted frame: keep all of it.
inline constexpr uint32_t bpf_accept = 0xffffffffu;

} // namespace castor::packet
