#pragma once

// Builds IPv4/UDP frames byte by byte for the parser and filter tests, with
// knobs for every field the parser judges. Deliberately independent of the
// parser's code so that the two cannot share a mistake.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "castor/packet/frame_parser.hpp"

namespace castor::packet::test {

/// Dotted quad to network order, for readable tests.
uint32_t addr(const char* dotted);

struct frame_spec {
  link_layer layer = link_layer::none;
  uint16_t ethertype = 0x0800;
  uint8_t version = 4;
  std::size_t option_bytes = 0; ///< multiple of 4; sets IHL
  uint8_t tos = 0;
  uint8_t ttl = 1;
  uint8_t protocol = 17;
  uint16_t flags_fragment = 0x4000; ///< DF, offset 0
  uint32_t src_be = addr("10.0.0.1");
  uint32_t dst_be = addr("239.1.1.1");
  uint16_t src_port = 40000;
  uint16_t dst_port = 5001;
  std::vector<uint8_t> payload = std::vector<uint8_t>(32, 0xab);
};

std::vector<uint8_t> build_frame(const frame_spec& spec);

/// An IPv6 address in text to its 16 bytes.
std::array<uint8_t, 16> addr6(const char* text);

/// One IPv6 extension header: its type (the next-header value that
/// announces it) and its whole length in bytes (a multiple of 8, or of 4
/// for AH). The builder fills in its next-header and length bytes.
struct ext_header {
  uint8_t type = 60;
  std::size_t bytes = 8;
  uint8_t segments_left = 0; ///< routing headers only
};

struct frame6_spec {
  link_layer layer = link_layer::none;
  uint16_t ethertype = 0x86dd;
  uint8_t version = 6;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;
  uint8_t hop_limit = 1;
  std::vector<ext_header> ext; ///< in order, before the upper layer
  uint8_t protocol = 17;       ///< the last next-header value
  std::array<uint8_t, 16> src = addr6("fd00::1");
  std::array<uint8_t, 16> dst = addr6("ff3e::1:1");
  uint16_t src_port = 40000;
  uint16_t dst_port = 5001;
  uint16_t checksum = 0xbeef; ///< not verified by the parser, only != 0
  std::vector<uint8_t> payload = std::vector<uint8_t>(32, 0xab);
};

std::vector<uint8_t> build_frame6(const frame6_spec& spec);

/// Recomputes the IPv4 header checksum after a test edited the header.
void fix_ip_checksum(std::vector<uint8_t>& frame, link_layer layer);

/// Big-endian 16-bit store, for editing length fields.
void put16(std::vector<uint8_t>& frame, std::size_t at, uint16_t value);

} // namespace castor::packet::test
