#pragma once

// A classic BPF interpreter for the tests: runs a program on a byte buffer
// the way the kernel's sk_filter does for a socket filter, so that the
// builder's programs can be checked instruction by instruction without
// root or traffic. Out-of-bounds packet loads return 0 (drop), as in the
// kernel. Of the ancillary loads SKF_AD_PKTTYPE, SKF_AD_IFINDEX and
// SKF_AD_VLAN_TAG_PRESENT are supported; any other, and any malformed
// instruction, throws std::logic_error.

#include <cstddef>
#include <cstdint>

#include "castor/packet/bpf_filter.hpp"

namespace castor::packet::test {

/// What the kernel knows of a frame beyond its bytes (the skb's fields
/// that ancillary loads read).
struct frame_meta {
  uint32_t pkttype = 0;          ///< SKF_AD_PKTTYPE (PACKET_HOST, ...)
  uint32_t ifindex = 0;          ///< SKF_AD_IFINDEX
  uint32_t vlan_tag_present = 0; ///< SKF_AD_VLAN_TAG_PRESENT
};

/// Runs `program`; `executed`, when given, receives how many instructions
/// ran (the frame's cost, up to the JIT).
uint32_t run_cbpf(const bpf_program& program, const uint8_t* packet,
                  std::size_t size, const frame_meta& meta,
                  std::size_t* executed = nullptr);

/// The same for an untagged frame of the given pkttype, interface 0.
uint32_t run_cbpf(const bpf_program& program, const uint8_t* packet,
                  std::size_t size, uint32_t pkttype,
                  std::size_t* executed = nullptr);

} // namespace castor::packet::test
