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

// announce body: u32 group, u16 port, u32 msgs/s, u64 bytes/s, u64 gaps,
// u64 drops, u16 topic length, topic bytes.
constexpr size_t announce_fixed = 4 + 2 + 4 + 8 + 8 + 8 + 2;

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
      || data[3] > static_cast<uint8_t>(msg_type::announce))
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
  h.type = msg_type::announce;
  h.count = 0;
  auto len = b.topic.size() > 0xffff ? size_t{0xffff} : b.topic.size();
  std::vector<uint8_t> out(header_size + announce_fixed + len);
  encode_header(h, out.data());
  auto* p = out.data() + header_size;
  put32(p, b.group);
  put16(p + 4, b.port);
  put32(p + 6, b.msgs_per_sec);
  put64(p + 10, b.bytes_per_sec);
  put64(p + 18, b.gaps);
  put64(p + 26, b.drops);
  put16(p + 34, static_cast<uint16_t>(len));
  std::copy(b.topic.data(), b.topic.data() + len, p + announce_fixed);
  return out;
}

std::optional<announce_body> decode_announce(const uint8_t* data, size_t size) {
  if (size < header_size + announce_fixed)
    return std::nullopt;
  const auto* p = data + header_size;
  announce_body b;
  b.group = get32(p);
  b.port = get16(p + 4);
  b.msgs_per_sec = get32(p + 6);
  b.bytes_per_sec = get64(p + 10);
  b.gaps = get64(p + 18);
  b.drops = get64(p + 26);
  size_t len = get16(p + 34);
  if (size != header_size + announce_fixed + len)
    return std::nullopt;
  b.topic.assign(reinterpret_cast<const char*>(p + announce_fixed), len);
  return b;
}

} // namespace castor::bus
