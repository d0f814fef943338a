#pragma once

// The data frames relays send each other over UDP (docs/sites.md, "Data"):
// one frame carries a batch of datagrams, each with its origin site's
// incarnation and sequence number, and ends with a truncated HMAC-SHA256
// under the key the *receiving* site handed out over the TLS node link.
// CAF-free, so that a unit test and a fuzz target can drive it.
//
//   frame   = header record* mac                        (type 1: data,
//                                                        type 4: NAKs)
//           | header stamp u64 mac                      (type 2, 3: probes)
//   header  = magic "CST" | version u8 | type u8 | flags u8 | count u16
//             | sender u64 (the sending site's incarnation)
//   record  = origin u64 | seq u64 | group[4 or 16] | port u16
//             | len u16 [spread] | payload[len]
//   spread  = size u16 | block[size]     only with flags & frame_flag_spread
//   mac     = the first 16 bytes of HMAC-SHA256(key, everything before)
//
// All integers are big-endian; `group` is the address in network order:
// 4 bytes, or 16 in a frame with frame_flag_ipv6 (IPv6 groups, issue 19).
// A frame holds records of one family, so IPv4 frames stay as compact as
// before IPv6 (a change of family between two records starts a new frame,
// as a change between records with and without spread blocks does).
// A spread block (spread = "log", sites/site_spread.hpp) names the record's
// origin site and the sites the receiver forwards it to. Probes measure the
// round trip: a ping carries the sender's clock, the pong sends it back.
//
// Versions. Byte 3 is the format's version, an ASCII digit so that a
// capture reads "CST1", "CST2": 1 had IPv4 groups only and no family flag;
// 2 adds frame_flag_ipv6. Every change of the layout above bumps it: a
// receiver refuses a frame of another version as frame_error::version
// (counted per peer as drop reason `version`) instead of misreading it. A
// relay of version 1 sees our "CST2" as a wrong magic: `malformed`.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/rule.hpp"

namespace castor::relay::sites {

/// The first three bytes of every frame.
inline constexpr uint8_t frame_magic[3] = {'C', 'S', 'T'};
/// The version this relay writes and reads (see above).
inline constexpr uint8_t frame_version = '2';
inline constexpr uint8_t frame_type_data = 1;
inline constexpr uint8_t frame_type_ping = 2;
inline constexpr uint8_t frame_type_pong = 3;
/// Records that are castor::bus NAKs for the receiver's export of the
/// record's group, from a site that repairs the bus (site_bus_repair.hpp):
/// the receiver hands each to the publisher. Same layout as data; a relay
/// without it counts the frame as malformed.
inline constexpr uint8_t frame_type_nak = 4;
/// The records of the frame carry spread blocks.
inline constexpr uint8_t frame_flag_spread = 1;
/// The records of the frame carry IPv6 groups (16 bytes).
inline constexpr uint8_t frame_flag_ipv6 = 2;
inline constexpr std::size_t frame_header_size = 16;
/// A record's fixed part: origin, seq, group, port, len.
inline constexpr std::size_t record_header_size_v4 = 24;
inline constexpr std::size_t record_header_size_v6 = 36;
inline constexpr std::size_t frame_mac_size = 16;
/// A frame that fits a 1500-byte path without fragments (IPv4 + UDP).
inline constexpr std::size_t default_frame_capacity = 1472;
/// The same over an IPv6 WAN (IPv6 + UDP: 48 bytes of headers).
inline constexpr std::size_t default_frame_capacity_v6 = 1452;
/// The default capacity for frames that cross a WAN of this family.
inline constexpr std::size_t frame_capacity_for(bool v6_wan) {
  return v6_wan ? default_frame_capacity_v6 : default_frame_capacity;
}
/// The largest UDP payload; a datagram that does not fit a default frame
/// alone travels in a frame of its own, fragmented by IP.
inline constexpr std::size_t max_frame_size = 65507;

struct record_view {
  uint64_t origin = 0;
  uint64_t seq = 0;
  ip_addr group;
  uint16_t port = 0;
  const uint8_t* data = nullptr;
  uint16_t len = 0;
  /// The spread block (site_spread.hpp), null in a frame without them.
  const uint8_t* spread = nullptr;
  uint16_t spread_len = 0;
};

/// Builds one frame at a time. `capacity` bounds a frame with more than one
/// record.
class frame_builder {
public:
  explicit frame_builder(uint64_t sender,
                         std::size_t capacity = default_frame_capacity,
                         uint8_t type = frame_type_data);

  /// Whether a record of `len` payload bytes (and `spread` block, if any)
  /// still fits (always true for the first record of a frame, up to
  /// max_frame_size). Records with and without a spread block, or of IPv4
  /// and IPv6 groups, do not share a frame.
  bool fits(std::size_t len, const ip_addr& group,
            const std::string* spread = nullptr) const noexcept;

  /// Adds `r` (its data, group, port, origin and seq) with `spread`;
  /// r.spread is ignored.
  void add(const record_view& r, const std::string* spread = nullptr);

  std::size_t count() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }

  /// Appends the MAC under `key` and returns the finished frame; the
  /// builder starts a new one on the next add.
  const std::vector<uint8_t>& seal(const std::string& key);

  void clear();

private:
  uint64_t sender_;
  std::size_t capacity_;
  uint8_t type_;
  std::size_t count_ = 0;
  bool spread_ = false;
  bool v6_ = false;
  std::vector<uint8_t> buf_;
};

/// version: "CST" and another version byte (an older or newer relay).
enum class frame_error : uint8_t { none, malformed, auth, version };

/// The type of a frame whose header is whole and has the magic and our
/// version; 0 otherwise. Says nothing about its MAC.
uint8_t frame_type_of(const uint8_t* frame, std::size_t size);

/// Appends the MAC of all of `frame` under `key`: how seal() and
/// make_probe() finish a frame (and how a test or a fuzz target makes a
/// frame of any content that a holder of the key could send).
void append_mac(std::vector<uint8_t>& frame, const std::string& key);

/// A ping or pong carrying `stamp`, MACed under `key`.
std::vector<uint8_t> make_probe(uint8_t type, uint64_t sender, uint64_t stamp,
                                const std::string& key);

/// Checks a probe's MAC; `type` and `stamp` get its content.
frame_error parse_probe(const uint8_t* frame, std::size_t size,
                        const std::string& key, uint8_t& type, uint64_t& stamp);

/// Checks the MAC and splits `frame` (data or NAKs: frame_type_of says
/// which) into its records (pointing into it). `sender` gets the header's
/// sender incarnation.
frame_error parse_frame(const uint8_t* frame, std::size_t size,
                        const std::string& key, uint64_t& sender,
                        std::vector<record_view>& out);

/// The sliding duplicate window of one origin: remembers the last `window`
/// sequence numbers.
class dedup_window {
public:
  static constexpr uint64_t window = 4096;

  enum class verdict : uint8_t { fresh, duplicate, stale };

  verdict check(uint64_t seq) noexcept;

private:
  bool started_ = false;
  uint64_t highest_ = 0;
  uint64_t bits_[window / 64] = {};
};

} // namespace castor::relay::sites
