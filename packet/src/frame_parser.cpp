#include "castor/packet/frame_parser.hpp"

namespace castor::packet {

namespace {

// Frames are byte arrays at any alignment: read fields bytewise, which the
// compiler turns into single (unaligned-safe) loads on x86 and arm64.
inline uint16_t be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

inline uint32_t raw32(const uint8_t* p) noexcept {
  // Network order in, network order out: the relay keeps addresses as the
  // kernel hands them over, so no swap.
  uint32_t v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

constexpr uint16_t ethertype_ipv4 = 0x0800;
constexpr uint8_t ipproto_udp = 17;
constexpr std::size_t ipv4_min_header = 20;
constexpr std::size_t udp_header = 8;

inline parse_result drop(drop_reason r) noexcept {
  return {false, r};
}

} // namespace

uint16_t ones_complement_sum(const uint8_t* data, std::size_t size) noexcept {
  uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < size; i += 2)
    sum += be16(data + i);
  if (size & 1)
    sum += static_cast<uint32_t>(data[size - 1]) << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

parse_result parse_udp_frame(const uint8_t* frame, std::size_t captured,
                             std::size_t wire_length, link_layer layer,
                             udp_datagram& out) noexcept {
  // A capture never holds more than went over the wire; trust the smaller.
  if (wire_length < captured)
    wire_length = captured;
  const std::size_t l2 = link_header_size(layer);
  if (captured < l2)
    return drop(drop_reason::truncated);
  if (layer == link_layer::ethernet && be16(frame + 12) != ethertype_ipv4)
    return drop(drop_reason::not_ipv4);
  if (layer == link_layer::linux_sll && be16(frame + 14) != ethertype_ipv4)
    return drop(drop_reason::not_ipv4);

  const uint8_t* ip = frame + l2;
  const std::size_t ip_captured = captured - l2;
  const std::size_t ip_wire = wire_length - l2;
  if (ip_captured < 1)
    return drop(drop_reason::truncated);
  if ((ip[0] >> 4) != 4)
    return drop(drop_reason::not_ipv4);
  if (ip_captured < ipv4_min_header)
    return drop(drop_reason::truncated);
  const std::size_t ihl = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
  if (ihl < ipv4_min_header)
    return drop(drop_reason::bad_header);
  if (ihl > ipv4_min_header)
    return drop(drop_reason::ip_options);

  const std::size_t total = be16(ip + 2);
  // The packet claims more than the link carried, or less than its header:
  // the sender or something on the way is broken, not our capture.
  if (total < ihl || total > ip_wire)
    return drop(drop_reason::bad_length);
  if (total > ip_captured)
    return drop(drop_reason::truncated);
  if (ones_complement_sum(ip, ihl) != 0xffff)
    return drop(drop_reason::bad_checksum);
  // Flags and offset: bit 0x2000 is MF, the low 13 bits the offset. DF
  // (0x4000) is fine.
  if ((be16(ip + 6) & 0x3fff) != 0)
    return drop(drop_reason::fragment);
  if (ip[9] != ipproto_udp)
    return drop(drop_reason::not_udp);

  const std::size_t ip_payload = total - ihl;
  if (ip_payload < udp_header)
    return drop(drop_reason::bad_length);
  const uint8_t* udp = ip + ihl;
  const std::size_t udp_length = be16(udp + 4);
  if (udp_length < udp_header || udp_length > ip_payload)
    return drop(drop_reason::bad_length);

  out.src_be = raw32(ip + 12);
  out.dst_be = raw32(ip + 16);
  out.ttl = ip[8];
  out.tos = ip[1];
  out.src_port = be16(udp);
  out.dst_port = be16(udp + 2);
  out.payload = udp + udp_header;
  out.payload_size = udp_length - udp_header;
  return {true, drop_reason::truncated};
}

} // namespace castor::packet
