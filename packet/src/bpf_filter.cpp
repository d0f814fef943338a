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

} // namespace

bpf_program build_filter(const std::vector<filter_match>& matches,
                         const filter_options& options) {
  if (options.layer != link_layer::none
      && options.layer != link_layer::ethernet)
    throw std::invalid_argument("build_filter: link layer must be none or "
                                "ethernet (what AF_PACKET hands a filter)");
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

  // Never our own output (or anyone's on this host): PACKET_OUTGOING.
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS,
                   static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, 0));
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
  if (options.fragments == fragment_policy::drop_in_kernel) {
    p.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, l + 6));
    p.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, frag_mask, 0, 1));
    p.push_back(stmt(BPF_RET | BPF_K, 0));
  }
  // X = IP header length, so that the UDP header is found past options.
  p.push_back(stmt(BPF_LDX | BPF_B | BPF_MSH, l + 0));
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, l + 16));

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
    // Groups are distinct too.
    gblock.push_back(stmt(BPF_RET | BPF_K, 0));
    emit_if_equal(p, group, gblock);
  }
  p.push_back(stmt(BPF_RET | BPF_K, 0));

  if (p.size() > BPF_MAXINSNS)
    throw std::length_error("build_filter: " + std::to_string(matches.size())
                            + " rules need " + std::to_string(p.size())
                            + " BPF instructions, the kernel allows "
                            + std::to_string(BPF_MAXINSNS));
  return p;
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
