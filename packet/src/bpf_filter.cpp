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

// What every tier checks first: a frame the wire brought to this host on
// this very interface (see the header), IPv4 (and the ethertype on
// SOCK_RAW), UDP, then fragments. Leaves X = IP header length, so that the
// UDP header is found past options.
void emit_preamble(bpf_program& p, const filter_options& options,
                   on_fragment fragments) {
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
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

bpf_program build_filter(const std::vector<filter_match>& matches,
                         const filter_options& options, filter_tier* tier) {
  auto set_tier = [tier](filter_tier t) {
    if (tier != nullptr)
      *tier = t;
  };
  try {
    auto p = build_exact_filter(matches, options);
    set_tier(filter_tier::exact);
    return p;
  } catch (const std::length_error&) {
    // Too many rules for an exact program: coarser below.
  }
  const auto l = static_cast<uint32_t>(link_header_size(options.layer));
  std::set<uint16_t> ports;
  for (const auto& m : matches)
    ports.insert(m.port);
  bpf_program p;
  // The coarse tiers do not know the groups: fragments to be counted all
  // pass (a non-first fragment has no port either).
  emit_preamble(p, options,
                options.fragments == fragment_policy::drop_in_kernel
                  ? on_fragment::drop
                  : on_fragment::accept);
  // The ruled ports, two instructions each: "port? accept".
  const std::size_t port_tier_size = p.size() + 2 + 2 * ports.size();
  if (port_tier_size <= BPF_MAXINSNS) {
    p.push_back(stmt(BPF_LD | BPF_H | BPF_IND, l + 2));
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
