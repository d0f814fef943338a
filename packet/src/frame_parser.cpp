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
constexpr uint16_t ethertype_ipv6 = 0x86dd;
constexpr uint8_t ipproto_udp = 17;
constexpr std::size_t ipv4_min_header = 20;
constexpr std::size_t udp_header = 8;

inline parse_result drop(drop_reason r) noexcept {
  return {false, r};
}

// IPv6 next-header values the walk knows.
constexpr uint8_t nh_hop_by_hop = 0;
constexpr uint8_t nh_routing = 43;
constexpr uint8_t nh_fragment = 44;
constexpr uint8_t nh_esp = 50;
constexpr uint8_t nh_ah = 51;
constexpr uint8_t nh_dest_options = 60;
constexpr uint8_t nh_mobility = 135;
constexpr uint8_t nh_hip = 139;
constexpr uint8_t nh_shim6 = 140;
constexpr uint8_t nh_exp1 = 253; // RFC 3692 experiments, RFC 8200 format
constexpr uint8_t nh_exp2 = 254;
constexpr std::size_t ipv6_header = 40;

// The ethertype a frame's link layer announces, or 0 for none.
inline uint16_t link_ethertype(const uint8_t* frame, link_layer l) noexcept {
  return l == link_layer::ethernet    ? be16(frame + 12)
         : l == link_layer::linux_sll ? be16(frame + 14)
                                      : 0;
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

unsigned frame_ip_version(const uint8_t* frame, std::size_t captured,
                          link_layer layer) noexcept {
  const std::size_t l2 = link_header_size(layer);
  if (captured <= l2)
    return 0;
  const unsigned v = frame[l2] >> 4;
  if (v != 4 && v != 6)
    return 0;
  const uint16_t et = link_ethertype(frame, layer);
  if (layer != link_layer::none
      && et != (v == 4 ? ethertype_ipv4 : ethertype_ipv6))
    return 0;
  return v;
}

parse_result parse_udp6_frame(const uint8_t* frame, std::size_t captured,
                              std::size_t wire_length, link_layer layer,
                              udp6_datagram& out) noexcept {
  if (wire_length < captured)
    wire_length = captured;
  const std::size_t l2 = link_header_size(layer);
  if (captured < l2)
    return drop(drop_reason::truncated);
  if (layer != link_layer::none
      && link_ethertype(frame, layer) != ethertype_ipv6)
    return drop(drop_reason::not_ipv6);

  const uint8_t* ip = frame + l2;
  const std::size_t ip_captured = captured - l2;
  const std::size_t ip_wire = wire_length - l2;
  if (ip_captured < 1)
    return drop(drop_reason::truncated);
  if ((ip[0] >> 4) != 6)
    return drop(drop_reason::not_ipv6);
  if (ip_captured < ipv6_header)
    return drop(drop_reason::truncated);

  // Payload length 0 is a jumbogram, which needs a hop-by-hop header: say
  // that rather than bad_length when the header is there.
  const std::size_t payload = be16(ip + 4);
  if (payload == 0 && ip[6] != nh_hop_by_hop)
    return drop(drop_reason::bad_length);
  const std::size_t total = ipv6_header + payload;
  if (total > ip_wire)
    return drop(drop_reason::bad_length);
  if (total > ip_captured)
    return drop(drop_reason::truncated);

  // The bounded walk: every extension header costs one step, and there are
  // at most max_ipv6_extension_headers of them.
  uint8_t next = ip[6];
  std::size_t at = ipv6_header;
  for (std::size_t steps = 0; next != ipproto_udp; ++steps) {
    if (next == nh_hop_by_hop)
      return drop(drop_reason::hop_by_hop);
    if (next == nh_fragment)
      return drop(drop_reason::fragment);
    std::size_t length = 0;
    switch (next) {
    case nh_routing:
    case nh_dest_options:
    case nh_mobility:
    case nh_hip:
    case nh_shim6:
    case nh_exp1:
    case nh_exp2:
      if (at + 2 > total)
        return drop(drop_reason::bad_length);
      length = (static_cast<std::size_t>(ip[at + 1]) + 1) * 8;
      break;
    case nh_ah:
      if (at + 2 > total)
        return drop(drop_reason::bad_length);
      length = (static_cast<std::size_t>(ip[at + 1]) + 2) * 4;
      break;
    case nh_esp: // encrypted: nothing to walk
      return drop(drop_reason::ext_headers);
    default: // ICMPv6, no next header (59), TCP, ...
      return drop(drop_reason::not_udp);
    }
    if (steps == max_ipv6_extension_headers)
      return drop(drop_reason::ext_headers);
    if (at + length > total)
      return drop(drop_reason::bad_length);
    // A routing header with segments left would have this node forward
    // the packet to the next segment, not deliver it: not a datagram to
    // relay.
    if (next == nh_routing && ip[at + 3] != 0)
      return drop(drop_reason::ext_headers);
    next = ip[at];
    at += length;
  }

  const std::size_t ip_payload = total - at;
  if (ip_payload < udp_header)
    return drop(drop_reason::bad_length);
  const uint8_t* udp = ip + at;
  const std::size_t udp_length = be16(udp + 4);
  if (udp_length < udp_header || udp_length > ip_payload)
    return drop(drop_reason::bad_length);
  if (be16(udp + 6) == 0)
    return drop(drop_reason::zero_checksum);

  __builtin_memcpy(out.src.data(), ip + 8, 16);
  __builtin_memcpy(out.dst.data(), ip + 24, 16);
  out.traffic_class =
    static_cast<uint8_t>(((ip[0] & 0x0f) << 4) | (ip[1] >> 4));
  out.flow_label = (static_cast<uint32_t>(ip[1] & 0x0f) << 16)
                   | static_cast<uint32_t>(be16(ip + 2));
  out.hop_limit = ip[7];
  out.src_port = be16(udp);
  out.dst_port = be16(udp + 2);
  out.payload = udp + udp_header;
  out.payload_size = udp_length - udp_header;
  return {true, drop_reason::truncated};
}

} // namespace castor::packet
