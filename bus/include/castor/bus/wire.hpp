#pragma once

// The bus's wire format: one fixed header on every datagram, then a body
// that depends on the type. Plain C++17, no CAF: the protocol state machines
// (publisher_core.hpp, subscriber_core.hpp) and the tools decode with it.
//
// All integers are big-endian (network order). The header, 32 bytes:
//
//    0  magic   u16  0x4342 ("CB")
//    2  version u8   1; a datagram of another version is dropped and counted
//    3  type    u8   data | heartbeat | nak | ncf | announce | announce_v2
//    4  flags   u16  see flag_*
//    6  count   u16  data: messages in the body; otherwise 0
//    8  origin  u64  the publisher's id, unique on the bus (random at start)
//   16  session u32  the publisher's epoch: a restarted publisher takes a new
//                    one, and subscribers start its stream from live again
//   20  topic   u32  the topic's hash (topic_map.hpp): two topics that share
//                    a group and port tell their datagrams apart by it
//   24  seq     u64  data: the datagram's sequence number (per origin and
//                    session, from 1, +1 per datagram, repairs keep theirs);
//                    heartbeat: the next sequence number to be sent (lead+1);
//                    nak, ncf: the first sequence number of the range
//
// (origin, session, seq) names one datagram on the whole bus; with the
// message's index in it, one message. That is the key a node link carrying
// a topic across subnets deduplicates by (docs/bus.md, "Across subnets").
//
// Bodies:
//   data       count x { u16 length, length bytes }  (PGM's ODATA/RDATA;
//              flag_repair marks a retransmission)
//   heartbeat  u64 trail: the oldest sequence number still in the
//              publisher's retransmit ring (PGM's SPM trail/lead)
//   nak, ncf   u32 count: the range [seq, seq + count). A NAK goes by
//              unicast to the publisher; the publisher confirms it with an
//              NCF on the group, which holds back the same NAK of every
//              other subscriber (PGM's NAK suppression)
//   announce   discovery (announce_body below), body version 1: a 4-byte
//              IPv4 group
//   announce_v2  the same, body version 2: a family byte and a 16-byte
//              group (IPv6). A new type rather than a new layout under the
//              old one: a receiver built before it drops it as an unknown
//              type (bad_type) instead of reading an IPv6 address as an
//              IPv4 one, and IPv4 topics keep announcing version 1, which
//              every receiver reads.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "castor/bus/ip_address.hpp"

namespace castor::bus {

inline constexpr uint16_t wire_magic = 0x4342;
inline constexpr uint8_t wire_version = 1;
inline constexpr size_t header_size = 32;
/// Bytes a message costs in a data datagram besides its payload: its
/// length, 16 bits big-endian.
inline constexpr size_t message_overhead = 2;

/// The payload length of the message record at `record`.
inline size_t message_length(const uint8_t* record) noexcept {
  return (size_t{record[0]} << 8) | record[1];
}

enum class msg_type : uint8_t {
  data = 1,
  heartbeat = 2,
  nak = 3,
  ncf = 4,
  announce = 5,
  announce_v2 = 6,
};

/// Either version of a discovery announcement.
inline constexpr bool is_announce(msg_type t) noexcept {
  return t == msg_type::announce || t == msg_type::announce_v2;
}

/// Data: a retransmission answering a NAK.
inline constexpr uint16_t flag_repair = 1;
/// Announce: the sender is a subscriber (otherwise a publisher).
inline constexpr uint16_t flag_subscriber = 2;
/// Announce: the topic is in raw mode (plain payloads, no header).
inline constexpr uint16_t flag_raw = 4;

struct header {
  msg_type type = msg_type::data;
  uint16_t flags = 0;
  uint16_t count = 0;
  uint64_t origin = 0;
  uint32_t session = 0;
  uint32_t topic = 0;
  uint64_t seq = 0;
};

/// Why a datagram did not decode.
enum class decode_error : uint8_t {
  short_datagram,
  bad_magic,
  bad_version,
  bad_type,
  bad_body,
};

/// Writes `h` into the first header_size bytes of `out`.
void encode_header(const header& h, uint8_t* out) noexcept;

/// Reads the header of `data`; checks magic, version and type.
std::optional<header> decode_header(const uint8_t* data, size_t size,
                                    decode_error* why = nullptr) noexcept;

/// A whole datagram of a body-less or fixed-body type.
std::vector<uint8_t> make_heartbeat(header h, uint64_t trail);
std::vector<uint8_t> make_range(msg_type nak_or_ncf, header h, uint32_t count);

/// The body of a heartbeat; nullopt if it is too short.
std::optional<uint64_t> heartbeat_trail(const uint8_t* data,
                                        size_t size) noexcept;
/// The count of a nak or ncf; nullopt if it is too short or 0.
std::optional<uint32_t> range_count(const uint8_t* data, size_t size) noexcept;

/// Calls f(const uint8_t*, size_t) for each message of a data datagram.
/// Returns false (after the messages that fit) if the body is cut short or
/// holds other than `count` messages.
template <class F>
bool for_each_message(const uint8_t* data, size_t size, uint16_t count, F f) {
  size_t pos = header_size;
  for (uint16_t i = 0; i < count; ++i) {
    if (pos + message_overhead > size)
      return false;
    auto len = message_length(data + pos);
    pos += message_overhead;
    if (pos + len > size)
      return false;
    f(data + pos, len);
    pos += len;
  }
  return pos == size;
}

/// Discovery: who publishes (or subscribes to) which topic, and how fast.
/// Sent every announce interval on the well-known discovery group.
struct announce_body {
  std::string topic;
  /// The topic's group and port. An IPv4 group is sent as body version 1
  /// (msg_type::announce), an IPv6 one as version 2 (announce_v2).
  ip_address group;
  uint16_t port = 0;
  /// Over the last interval: messages and bytes per second (a publisher's
  /// sent, a subscriber's delivered).
  uint32_t msgs_per_sec = 0;
  uint64_t bytes_per_sec = 0;
  /// A subscriber's counts so far: unrecoverable gaps, dropped messages.
  uint64_t gaps = 0;
  uint64_t drops = 0;
};

std::vector<uint8_t> make_announce(header h, const announce_body& body);
/// Either version; nullopt if the datagram is no announcement, or its body
/// does not add up.
std::optional<announce_body> decode_announce(const uint8_t* data, size_t size);

} // namespace castor::bus
