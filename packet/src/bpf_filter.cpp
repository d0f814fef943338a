#include "castor/packet/bpf_filter.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include "castor/packet/error.hpp"

namespace castor::packet {

namespace {

sock_filter stmt(uint16_t code, uint32_t k) {
  return sock_filter{code, 0, 0, k};
}

sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return sock_filter{code, jt, jf, k};
}

void append(bpf_program& to, const bpf_program& from) {
  to.insert(to.end(), from.begin(), from.end());
}

// "if A == k run `block`, else skip it". A conditional jump skips at most
// 255 instructions; a longer block is skipped by a 32-bit `ja` instead, at
// one more instruction.
void emit_if_equal(bpf_program& p, uint32_t k, const bpf_program& block) {
  if (block.size() <= 255) {
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, k, 0,
                     static_cast<uint8_t>(block.size())));
  } else {
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, k, 1, 0));
    p.push_back(stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(block.size())));
  }
  append(p, block);
}

// "if A != k return 0" in two instructions, with short jumps only.
void emit_require(bpf_program& p, uint32_t k) {
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, k, 1, 0));
  p.push_back(stmt(BPF_RET | BPF_K, 0));
}

// The sources allowed for one (group, port); empty means any source.
struct port_entry {
  bool any_source = false;
  std::set<uint32_t> sources; // host order
};

constexpr uint32_t ethertype_ipv4 = 0x0800;
constexpr uint32_t ipproto_udp = 17;
constexpr uint32_t frag_mask = 0x3fff; // MF | offset

void check_layer(const filter_options& options) {
  if (options.layer != link_layer::none
      && options.layer != link_layer::ethernet)
    throw std::invalid_argument("build_filter: link layer must be none or "
                                "ethernet (what AF_PACKET hands a filter)");
}

// What a tier does with a fragment before it looks at the destination.
enum class on_fragment { drop, accept, later };

void emit_load_ancillary(bpf_program& p, int what) {
  p.push_back(
    stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + what)));
}

// What every program checks first, IPv4 or IPv6: a frame the wire
// brought to this host on this very interface (see the header).
void emit_link_checks(bpf_program& p, const filter_options& options) {
  // PACKET_HOST, _BROADCAST, _MULTICAST (0..2) only: not another host's
  // (_OTHERHOST), nor this host's own output (_OUTGOING, _LOOPBACK).
  emit_load_ancillary(p, SKF_AD_PKTTYPE);
  p.push_back(jump(BPF_JMP | BPF_JGT | BPF_K, PACKET_MULTICAST, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, 0));
  // Not an upper device's (VLAN, macvlan) frame, which a socket bound to
  // the lower one is handed too, with the upper device in skb->dev.
  if (options.ifindex != 0) {
    emit_load_ancillary(p, SKF_AD_IFINDEX);
    emit_require(p, options.ifindex);
  }
  // Not tagged: an ETH_P_ALL tap sees a VLAN's frames with the tag still
  // in the metadata.
  emit_load_ancillary(p, SKF_AD_VLAN_TAG_PRESENT);
  emit_require(p, 0);
}

void emit_preamble(bpf_program& p, const filter_options& options,
                   on_fragment fragments) {
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
  // What every IPv4 tier checks first: the link, IPv4 (and the ethertype
  // on SOCK_RAW), UDP, then fragments. Leaves X = IP header length, so that
  // the UDP header is found past options.
  emit_link_checks(p, options);
  if (options.layer == link_layer::ethernet) {
    p.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, 12));
    emit_require(p, ethertype_ipv4);
  }
  // IPv4, UDP.
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, l + 0));
  p.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0));
  emit_require(p, 0x40);
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, l + 9));
  emit_require(p, ipproto_udp);
  if (fragments != on_fragment::later) {
    p.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, l + 6));
    p.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, frag_mask, 0, 1));
    p.push_back(
      stmt(BPF_RET | BPF_K, fragments == on_fragment::drop ? 0 : bpf_accept));
  }
  p.push_back(stmt(BPF_LDX | BPF_B | BPF_MSH, l + 0));
}

// The group blocks [lo, hi) (sorted by group, A = the destination group) as
// a binary search tree: "A >= middle group? right half : left half" down
// to leaves of `leaf` groups compared in turn (0: one chain). A frame meets about
// log2(groups / leaf) + leaf comparisons instead of up to one per
// group, for about one instruction more per two groups. Every block and
// every leaf ends in a return, so no subtree falls through into the next.
bpf_program group_tree(const std::vector<std::pair<uint32_t, bpf_program>>& b,
                       std::size_t lo, std::size_t hi, std::size_t leaf) {
  bpf_program p;
  if (leaf == 0 || hi - lo <= leaf) {
    for (std::size_t i = lo; i < hi; ++i)
      emit_if_equal(p, b[i].first, b[i].second);
    p.push_back(stmt(BPF_RET | BPF_K, 0));
    return p;
  }
  const std::size_t mid = lo + (hi - lo) / 2;
  const auto left = group_tree(b, lo, mid, leaf);
  const auto right = group_tree(b, mid, hi, leaf);
  if (left.size() <= 255) {
    p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, b[mid].first,
                     static_cast<uint8_t>(left.size()), 0));
  } else {
    // Too far for a conditional jump: through a 32-bit `ja`.
    p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, b[mid].first, 0, 1));
    p.push_back(stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(left.size())));
  }
  append(p, left);
  append(p, right);
  return p;
}

std::string too_long(std::size_t rules, std::size_t insns) {
  return "build_filter: " + std::to_string(rules) + " rules need "
         + std::to_string(insns) + " BPF instructions, the kernel allows "
         + std::to_string(BPF_MAXINSNS);
}

} // namespace

bpf_program build_exact_filter(const std::vector<filter_match>& matches,
                               const filter_options& options) {
  check_layer(options);
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));

  // group (host order) -> port -> sources. Sorted maps make the program a
  // function of the rule *set*, so rebuilding with equal rules gives equal
  // programs (tests and "did anything change" checks rely on it).
  std::map<uint32_t, std::map<uint16_t, port_entry>> groups;
  for (const auto& m : matches) {
    auto& e = groups[ntohl(m.group_be)][m.port];
    if (m.source_be)
      e.sources.insert(ntohl(*m.source_be));
    else
      e.any_source = true;
  }

  bpf_program p;
  if (groups.empty()) {
    p.push_back(stmt(BPF_RET | BPF_K, 0));
    return p;
  }

  // Fragments to be counted are checked per group, in the blocks below.
  emit_preamble(p, options,
                options.fragments == fragment_policy::drop_in_kernel
                  ? on_fragment::drop
                  : on_fragment::later);
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, l + 16));

  std::vector<std::pair<uint32_t, bpf_program>> blocks;
  blocks.reserve(groups.size());
  std::size_t total = p.size();
  for (const auto& [group, ports] : groups) {
    bpf_program gblock;
    if (options.fragments == fragment_policy::count_in_user) {
      gblock.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, l + 6));
      gblock.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, frag_mask, 0, 1));
      gblock.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
    }
    gblock.push_back(stmt(BPF_LD | BPF_H | BPF_IND, l + 2)); // dst port
    for (const auto& [port, entry] : ports) {
      bpf_program pblock;
      if (entry.any_source) {
        pblock.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
      } else {
        pblock.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, l + 12));
        for (uint32_t src : entry.sources) {
          pblock.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, src, 0, 1));
          pblock.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
        }
        // Ports within a group are distinct: nothing else can match.
        pblock.push_back(stmt(BPF_RET | BPF_K, 0));
      }
      emit_if_equal(gblock, port, pblock);
    }
    // Groups are distinct too: a block never falls through.
    gblock.push_back(stmt(BPF_RET | BPF_K, 0));
    total += gblock.size() + 1;
    // Stop early: a huge rule set would otherwise build a huge program
    // only to throw it away.
    if (total > BPF_MAXINSNS)
      throw std::length_error(too_long(matches.size(), total));
    blocks.emplace_back(group, std::move(gblock));
  }
  append(p, group_tree(blocks, 0, blocks.size(), options.tree_leaf));

  if (p.size() > BPF_MAXINSNS)
    throw std::length_error(too_long(matches.size(), p.size()));
  return p;
}

namespace {

// The exact program while it fits, else the coarse tiers after
// `preamble(p)`: the ruled ports, with `load_port` loading the
// destination port, else everything the preamble lets through.
template <class Match, class Exact, class Preamble>
bpf_program tiered(const std::vector<Match>& matches, filter_tier* tier,
                   Exact exact, Preamble preamble, sock_filter load_port) {
  auto set_tier = [tier](filter_tier t) {
    if (tier != nullptr)
      *tier = t;
  };
  try {
    auto p = exact();
    set_tier(filter_tier::exact);
    return p;
  } catch (const std::length_error&) {
    // Too many rules for an exact program: coarser below.
  }
  std::set<uint16_t> ports;
  for (const auto& m : matches)
    ports.insert(m.port);
  bpf_program p;
  preamble(p);
  // The ruled ports, two instructions each: "port? accept".
  const std::size_t port_tier_size = p.size() + 2 + 2 * ports.size();
  if (port_tier_size <= BPF_MAXINSNS) {
    p.push_back(load_port);
    for (uint16_t port : ports) {
      p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1));
      p.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
    }
    p.push_back(stmt(BPF_RET | BPF_K, 0));
    set_tier(filter_tier::ports);
    return p;
  }
  p.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
  set_tier(filter_tier::udp);
  return p;
}

} // namespace

bpf_program build_filter(const std::vector<filter_match>& matches,
                         const filter_options& options, filter_tier* tier) {
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
  return tiered(
    matches, tier, [&] { return build_exact_filter(matches, options); },
    [&](bpf_program& p) {
      // The coarse tiers do not know the groups: fragments to be counted
      // all pass (a non-first fragment has no port either).
      emit_preamble(p, options,
                    options.fragments == fragment_policy::drop_in_kernel
                      ? on_fragment::drop
                      : on_fragment::accept);
    },
    stmt(BPF_LD | BPF_H | BPF_IND, l + 2));
}

// ---- IPv6 (see the header) ----

namespace {

using addr6 = std::array<uint8_t, 16>;

constexpr uint32_t ethertype_ipv6 = 0x86dd;
constexpr uint32_t ipv6_header = 40;
constexpr uint32_t nh_hop_by_hop = 0;
constexpr uint32_t ipproto_icmpv6 = 58;

uint32_t word(const addr6& a, std::size_t i) {
  return static_cast<uint32_t>(a[4 * i]) << 24
         | static_cast<uint32_t>(a[4 * i + 1]) << 16
         | static_cast<uint32_t>(a[4 * i + 2]) << 8 | a[4 * i + 3];
}

// The extension headers a chain passed to be counted may start with (the
// parser walks or counts each; not ESP, not an upper layer).
constexpr uint8_t walked_headers[] = {43, 44, 51, 60, 135, 139, 140};

// "Is this an extension header chain to pass to the parser?" with A = the
// next header of the fixed header: falls through past its end when yes,
// returns 0 when no. MLD (ICMPv6 behind hop-by-hop) is a no.
bpf_program extension_block(uint32_t l) {
  bpf_program p;
  const std::size_t n = 5 + std::size(walked_headers) + 1;
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, nh_hop_by_hop, 0, 4));
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, l + ipv6_header));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, ipproto_icmpv6, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, 0));
  p.push_back(stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(n - 5)));
  for (uint8_t t : walked_headers)
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, t,
                     static_cast<uint8_t>(n - p.size() - 1), 0));
  p.push_back(stmt(BPF_RET | BPF_K, 0));
  return p;
}

// The link checks, ethertype 0x86DD and version 6, then the next header:
// UDP falls through with X = 0; an extension header chain to be counted
// (fragments == count_in_user) is accepted (coarse tiers) or falls
// through with X = 1 (exact: the group blocks accept it, port unchecked).
void emit_preamble6(bpf_program& p, const filter_options& options, bool exact) {
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
  emit_link_checks(p, options);
  if (options.layer == link_layer::ethernet) {
    p.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, 12));
    emit_require(p, ethertype_ipv6);
  }
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, l + 0));
  p.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, 0xf0));
  emit_require(p, 0x60);
  p.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, l + 6));
  if (options.fragments == fragment_policy::drop_in_kernel) {
    emit_require(p, ipproto_udp); // the group blocks do not look at X
    return;
  }
  bpf_program ext = extension_block(l);
  if (exact) {
    ext.push_back(stmt(BPF_LDX | BPF_IMM, 1));
    ext.push_back(stmt(BPF_JMP | BPF_JA, 1));
  } else {
    ext.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
  }
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, ipproto_udp,
                   static_cast<uint8_t>(ext.size()), 0));
  append(p, ext);
  if (exact)
    p.push_back(stmt(BPF_LDX | BPF_IMM, 0));
}

// "Source is `a`? accept", falling through on a mismatch.
void emit_source6(bpf_program& p, uint32_t l, const addr6& a) {
  for (std::size_t i = 0; i < 4; ++i) {
    p.push_back(
      stmt(BPF_LD | BPF_W | BPF_ABS, l + 8 + 4 * static_cast<uint32_t>(i)));
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, word(a, i), 0,
                     static_cast<uint8_t>(2 * (3 - i) + 1)));
  }
  p.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
}

struct port_entry6 {
  bool any_source = false;
  std::set<addr6> sources;
};

using groups6 = std::map<addr6, std::map<uint16_t, port_entry6>>;

// One group's block, A and X as the preamble left them: a counted chain
// (X = 1) is accepted, else the port, then the source.
bpf_program group_block6(const std::map<uint16_t, port_entry6>& ports,
                         const filter_options& options) {
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
  bpf_program g;
  if (options.fragments == fragment_policy::count_in_user) {
    g.push_back(stmt(BPF_MISC | BPF_TXA, 0));
    g.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1));
    g.push_back(stmt(BPF_RET | BPF_K, bpf_accept));
  }
  g.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, l + ipv6_header + 2));
  for (const auto& [port, entry] : ports) {
    bpf_program pb;
    if (!entry.any_source)
      for (const auto& src : entry.sources)
        emit_source6(pb, l, src);
    pb.push_back(stmt(BPF_RET | BPF_K, entry.any_source ? bpf_accept : 0));
    emit_if_equal(g, port, pb);
  }
  g.push_back(stmt(BPF_RET | BPF_K, 0));
  return g;
}

// The groups [lo, hi) that agree on their first `depth` words: load word
// `depth` of the destination, then a search tree over its values, each
// leading to the next word's (or, past the fourth, to the group's block).
// Every subtree ends in a return.
bpf_program group_trie6(const std::vector<std::pair<addr6, bpf_program>>& g,
                        std::size_t lo, std::size_t hi, std::size_t depth,
                        const filter_options& options) {
  if (depth == 4)
    return g[lo].second;
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
  std::vector<std::pair<uint32_t, bpf_program>> children;
  for (std::size_t i = lo; i < hi;) {
    std::size_t j = i;
    while (j < hi && word(g[j].first, depth) == word(g[i].first, depth))
      ++j;
    auto sub = group_trie6(g, i, j, depth + 1, options);
    // A subtree loads its own word: reload this one after it.
    children.emplace_back(word(g[i].first, depth), std::move(sub));
    i = j;
  }
  bpf_program p;
  p.push_back(
    stmt(BPF_LD | BPF_W | BPF_ABS, l + 24 + 4 * static_cast<uint32_t>(depth)));
  append(p, group_tree(children, 0, children.size(), options.tree_leaf));
  return p;
}

} // namespace

bpf_program build_exact_filter6(const std::vector<filter_match6>& matches,
                                const filter_options& options) {
  check_layer(options);
  groups6 groups;
  for (const auto& m : matches) {
    auto& e = groups[m.group][m.port];
    if (m.source)
      e.sources.insert(*m.source);
    else
      e.any_source = true;
  }
  bpf_program p;
  if (groups.empty()) {
    p.push_back(stmt(BPF_RET | BPF_K, 0));
    return p;
  }
  emit_preamble6(p, options, true);
  std::vector<std::pair<addr6, bpf_program>> blocks;
  blocks.reserve(groups.size());
  std::size_t total = p.size();
  for (const auto& [group, ports] : groups) {
    blocks.emplace_back(group, group_block6(ports, options));
    // A block, its comparison and its share of the trie above it.
    total += blocks.back().second.size() + 2;
    if (total > BPF_MAXINSNS)
      throw std::length_error(too_long(matches.size(), total));
  }
  append(p, group_trie6(blocks, 0, blocks.size(), 0, options));
  if (p.size() > BPF_MAXINSNS)
    throw std::length_error(too_long(matches.size(), p.size()));
  return p;
}

bpf_program build_filter6(const std::vector<filter_match6>& matches,
                          const filter_options& options, filter_tier* tier) {
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
  return tiered(
    matches, tier, [&] { return build_exact_filter6(matches, options); },
    [&](bpf_program& p) { emit_preamble6(p, options, false); },
    stmt(BPF_LD | BPF_H | BPF_ABS, l + ipv6_header + 2));
}

const char* to_string(filter_tier tier) noexcept {
  switch (tier) {
  case filter_tier::exact:
    return "exact";
  case filter_tier::ports:
    return "ports";
  case filter_tier::udp:
    return "udp";
  }
  return "?";
}

void attach_filter(int fd, const bpf_program& program) {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.size());
  prog.filter = const_cast<sock_filter*>(program.data());
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    throw io_error("SO_ATTACH_FILTER (" + std::to_string(program.size())
                     + " instructions)",
                   errno);
}

} // namespace castor::packet
