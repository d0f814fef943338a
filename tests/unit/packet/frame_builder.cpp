#include "frame_builder.hpp"

#include <arpa/inet.h>

namespace castor::packet::test {

uint32_t addr(const char* dotted) {
  in_addr a{};
  inet_pton(AF_INET, dotted, &a);
  return a.s_addr;
}

std::array<uint8_t, 16> addr6(const char* text) {
  std::array<uint8_t, 16> a{};
  inet_pton(AF_INET6, text, a.data());
  return a;
}

void put16(std::vector<uint8_t>& f, std::size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v & 0xff);
}

namespace {

void put32be(std::vector<uint8_t>& f, std::size_t at, uint32_t value_be) {
  const auto* b = reinterpret_cast<const uint8_t*>(&value_be);
  for (int i = 0; i < 4; ++i)
    f[at + i] = b[i];
}

} // namespace

void fix_ip_checksum(std::vector<uint8_t>& f, link_layer layer) {
  const std::size_t l2 = link_header_size(layer);
  const std::size_t ihl = static_cast<std::size_t>(f[l2] & 0xf) * 4;
  f[l2 + 10] = 0;
  f[l2 + 11] = 0;
  uint32_t sum = 0;
  for (std::size_t i = 0; i < ihl && l2 + i + 1 < f.size(); i += 2)
    sum += static_cast<uint32_t>(f[l2 + i] << 8 | f[l2 + i + 1]);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  put16(f, l2 + 10, static_cast<uint16_t>(~sum & 0xffff));
}

std::vector<uint8_t> build_frame(const frame_spec& s) {
  const std::size_t l2 = link_header_size(s.layer);
  const std::size_t ihl = 20 + s.option_bytes;
  const std::size_t udp_len = 8 + s.payload.size();
  std::vector<uint8_t> f(l2 + ihl + udp_len, 0);
  if (s.layer == link_layer::ethernet) {
    for (int i = 0; i < 6; ++i)
      f[i] = 0x01; // destination MAC: any multicast MAC will do
    put16(f, 12, s.ethertype);
  } else if (s.layer == link_layer::linux_sll) {
    put16(f, 14, s.ethertype);
  }
  uint8_t* ip = f.data() + l2;
  ip[0] = static_cast<uint8_t>(s.version << 4 | (ihl / 4));
  ip[1] = s.tos;
  put16(f, l2 + 2, static_cast<uint16_t>(ihl + udp_len));
  put16(f, l2 + 4, 0x1234);
  put16(f, l2 + 6, s.flags_fragment);
  ip[8] = s.ttl;
  ip[9] = s.protocol;
  put32be(f, l2 + 12, s.src_be);
  put32be(f, l2 + 16, s.dst_be);
  for (std::size_t i = 0; i < s.option_bytes; ++i)
    ip[20 + i] = 1; // NOP options
  const std::size_t u = l2 + ihl;
  put16(f, u, s.src_port);
  put16(f, u + 2, s.dst_port);
  put16(f, u + 4, static_cast<uint16_t>(udp_len));
  for (std::size_t i = 0; i < s.payload.size(); ++i)
    f[u + 8 + i] = s.payload[i];
  fix_ip_checksum(f, s.layer);
  return f;
}

std::vector<uint8_t> build_frame6(const frame6_spec& s) {
  const std::size_t l2 = link_header_size(s.layer);
  std::size_t ext_bytes = 0;
  for (const auto& e : s.ext)
    ext_bytes += e.bytes;
  const bool udp = s.protocol == 17;
  const std::size_t upper = (udp ? 8 : 0) + s.payload.size();
  std::vector<uint8_t> f(l2 + 40 + ext_bytes + upper, 0);
  if (s.layer == link_layer::ethernet) {
    f[0] = 0x33; // 33:33:xx: IPv6 multicast MAC
    f[1] = 0x33;
    put16(f, 12, s.ethertype);
  } else if (s.layer == link_layer::linux_sll) {
    put16(f, 14, s.ethertype);
  }
  uint8_t* ip = f.data() + l2;
  ip[0] = static_cast<uint8_t>(s.version << 4 | s.traffic_class >> 4);
  ip[1] = static_cast<uint8_t>((s.traffic_class & 0xf) << 4
                               | ((s.flow_label >> 16) & 0xf));
  put16(f, l2 + 2, static_cast<uint16_t>(s.flow_label & 0xffff));
  put16(f, l2 + 4, static_cast<uint16_t>(ext_bytes + upper));
  ip[6] = s.ext.empty() ? s.protocol : s.ext.front().type;
  ip[7] = s.hop_limit;
  for (std::size_t i = 0; i < 16; ++i) {
    ip[8 + i] = s.src[i];
    ip[24 + i] = s.dst[i];
  }
  std::size_t at = 40;
  for (std::size_t i = 0; i < s.ext.size(); ++i) {
    const auto& e = s.ext[i];
    ip[at] = i + 1 < s.ext.size() ? s.ext[i + 1].type : s.protocol;
    ip[at + 1] =
      static_cast<uint8_t>(e.type == 51 ? e.bytes / 4 - 2 : e.bytes / 8 - 1);
    if (e.type == 43)
      ip[at + 3] = e.segments_left;
    at += e.bytes;
  }
  std::size_t p = l2 + at;
  if (udp) {
    put16(f, p, s.src_port);
    put16(f, p + 2, s.dst_port);
    put16(f, p + 4, static_cast<uint16_t>(upper));
    put16(f, p + 6, s.checksum);
    p += 8;
  }
  for (std::size_t i = 0; i < s.payload.size(); ++i)
    f[p + i] = s.payload[i];
  return f;
}

} // namespace castor::packet::test
