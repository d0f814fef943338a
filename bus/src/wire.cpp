#include "castor/bus/wire.hpp"

namespace castor::bus {

namespace {

void put16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void put32(uint8_t* p, uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

void put64(uint8_t* p, uint64_t v) noexcept {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}

uint16_t get16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

uint32_t get32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8)
         | p[3];
}

uint64_t get64(const uint8_t* p) noexcept {
  return (uint64_t{get32(p)} << 32) | get32(p + 4);
}

// announce body, version 1: u32 group, then the rest: u16 port, u32 msgs/s,
// u64 bytes/s, u64 gaps, u64 drops, u16 topic length, topic bytes.
// Version 2 (announce_v2): u8 family (4 or 6), 16 bytes group (an IPv4 one
// in the first 4), then the same rest.
constexpr size_t announce_rest = 2 + 4 + 8 + 8 + 8 + 2;
constexpr size_t announce_group_v1 = 4;
constexpr size_t announce_group_v2 = 1 + 16;

} // namespace

void encode_header(const header& h, uint8_t* out) noexcept {
  put16(out, wire_magic);
  out[2] = wire_version;
  out[3] = static_cast<uint8_t>(h.type);
  put16(out + 4, h.flags);
  put16(out + 6, h.count);
  put64(out + 8, h.origin);
  put32(out + 16, h.session);
  put32(out + 20, h.topic);
  put64(out + 24, h.seq);
}

std::optional<header> decode_header(const uint8_t* data, size_t size,
                                    decode_error* why) noexcept {
  auto fail = [why](decode_error e) {
    if (why)
      *why = e;
    return std::nullopt;
  };
  if (size < header_size)
    return fail(decode_error::short_datagram);
  if (get16(data) != wire_magic)
    return fail(decode_error::bad_magic);
  if (data[2] != wire_version)
    return fail(decode_error::bad_version);
  if (data[3] < static_cast<uint8_t>(msg_type::data)
      || data[3] > static_cast<uint8_t>(msg_type::announce_v2))
    return fail(decode_error::bad_type);
  header h;
  h.type = static_cast<msg_type>(data[3]);
  h.flags = get16(data + 4);
  h.count = get16(data + 6);
  h.origin = get64(data + 8);
  h.session = get32(data + 16);
  h.topic = get32(data + 20);
  h.seq = get64(data + 24);
  return h;
}

std::vector<uint8_t> make_heartbeat(header h, uint64_t trail) {
  h.type = msg_type::heartbeat;
  h.count = 0;
  std::vector<uint8_t> out(header_size + 8);
  encode_header(h, out.data());
  put64(out.data() + header_size, trail);
  return out;
}

std::vector<uint8_t> make_range(msg_type nak_or_ncf, header h, uint32_t count) {
  h.type = nak_or_ncf;
  h.count = 0;
  std::vector<uint8_t> out(header_size + 4);
  encode_header(h, out.data());
  put32(out.data() + header_size, count);
  return out;
}

std::optional<uint64_t> heartbeat_trail(const uint8_t* data,
                                        size_t size) noexcept {
  if (size < header_size + 8)
    return std::nullopt;
  return get64(data + header_size);
}

std::optional<uint32_t> range_count(const uint8_t* data, size_t size) noexcept {
  if (size < header_size + 4)
    return std::nullopt;
  auto n = get32(data + header_size);
  if (n == 0)
    return std::nullopt;
  return n;
}

std::vector<uint8_t> make_announce(header h, const announce_body& b) {
  bool v2 = b.group.is_v6();
  h.type = v2 ? msg_type::announce_v2 : msg_type::announce;
  h.count = 0;
  auto len = b.topic.size() > 0xffff ? size_t{0xffff} : b.topic.size();
  auto group_size = v2 ? announce_group_v2 : announce_group_v1;
  std::vector<uint8_t> out(header_size + group_size + announce_rest + len);
  encode_header(h, out.data());
  auto* p = out.data() + header_size;
  if (v2) {
    p[0] = static_cast<uint8_t>(b.group.family());
    std::copy(b.group.bytes().begin(), b.group.bytes().end(), p + 1);
  } else {
    put32(p, b.group.to_v4());
  }
  p += group_size;
  put16(p, b.port);
  put32(p + 2, b.msgs_per_sec);
  put64(p + 6, b.bytes_per_sec);
  put64(p + 14, b.gaps);
  put64(p + 22, b.drops);
  put16(p + 30, static_cast<uint16_t>(len));
  std::copy(b.topic.data(), b.topic.data() + len, p + announce_rest);
  return out;
}

std::optional<announce_body> decode_announce(const uint8_t* data, size_t size) {
  auto h = decode_header(data, size);
  if (!h || !is_announce(h->type))
    return std::nullopt;
  bool v2 = h->type == msg_type::announce_v2;
  auto group_size = v2 ? announce_group_v2 : announce_group_v1;
  if (size < header_size + group_size + announce_rest)
    return std::nullopt;
  const auto* p = data + header_size;
  announce_body b;
  if (v2) {
    ip_address::bytes_type bytes{};
    std::copy(p + 1, p + 17, bytes.begin());
    if (p[0] == static_cast<uint8_t>(ip_family::v6))
      b.group = ip_address::v6(bytes);
    else if (p[0] == static_cast<uint8_t>(ip_family::v4))
      b.group = ip_address::v4(get32(bytes.data()));
    else
      return std::nullopt;
  } else {
    b.group = ip_address::v4(get32(p));
  }
  p += group_size;
  b.port = get16(p);
  b.msgs_per_sec = get32(p + 2);
  b.bytes_per_sec = get64(p + 6);
  b.gaps = get64(p + 14);
  b.drops = get64(p + 22);
  size_t len = get16(p + 30);
  if (size != header_size + group_size + announce_rest + len)
    return std::nullopt;
  b.topic.assign(reinterpret_cast<const char*>(p + announce_rest), len);
  return b;
}

} // namespace castor::bus
