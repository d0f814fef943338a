// libFuzzer target: the cross-site data frames (apps/relay/sites/
// site_frame.cpp), whose counts and lengths a peer chooses: IPv4 and IPv6
// records, spread blocks, probes, other versions. The input is MACed under
// a fixed key first, as a peer holding the key could send it, so that the
// record walk is reached (a frame failing its MAC stops before it).
// Whatever the bytes: every record handed out lies inside the frame, its
// spread block decodes or is refused without reading past it, and a frame
// that parses builds again into a frame that parses to the same records.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "sites/site_frame.hpp"
#include "sites/site_spread.hpp"

using namespace castor::relay::sites;

namespace {

bool inside(const uint8_t* p, std::size_t n, const uint8_t* begin,
            const uint8_t* end) {
  return p >= begin && p <= end && n <= static_cast<std::size_t>(end - p);
}

bool same(const record_view& x, const record_view& y) {
  return x.origin == y.origin && x.seq == y.seq && x.group == y.group
         && x.port == y.port && x.len == y.len
         && std::string(x.data, x.data + x.len)
              == std::string(y.data, y.data + y.len)
         && x.spread_len == y.spread_len
         && std::string(x.spread, x.spread + x.spread_len)
              == std::string(y.spread, y.spread + y.spread_len);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string key = "fuzz-key";
  // Exactly the frame's size on the heap: ASan catches one byte past it.
  std::vector<uint8_t> frame(data, data + size);
  append_mac(frame, key);
  const uint8_t* begin = frame.data();
  const uint8_t* body_end = begin + frame.size() - frame_mac_size;
  static_cast<void>(frame_type_of(begin, frame.size()));
  uint8_t type = 0;
  uint64_t stamp = 0;
  static_cast<void>(parse_probe(begin, frame.size(), key, type, stamp));
  uint64_t sender = 0;
  std::vector<record_view> records;
  if (parse_frame(begin, frame.size(), key, sender, records)
      != frame_error::none)
    return 0;
  std::string origin;
  std::vector<std::string> share;
  for (auto& r : records) {
    if (!inside(r.data, r.len, begin, body_end)
        || (r.spread && !inside(r.spread, r.spread_len, begin, body_end)))
      std::abort();
    if (r.spread)
      static_cast<void>(decode_spread(r.spread, r.spread_len, origin, share));
  }
  if (records.empty())
    return 0;
  // Built again (the flags as the records say), it parses the same.
  frame_builder b{sender, max_frame_size};
  const bool spread = records.front().spread != nullptr;
  std::vector<std::string> blocks;
  blocks.reserve(records.size());
  for (auto& r : records) {
    blocks.emplace_back(r.spread, r.spread + r.spread_len);
    b.add(r, spread ? &blocks.back() : nullptr);
  }
  auto again = b.seal(key);
  std::vector<record_view> back;
  uint64_t sender_back = 0;
  if (parse_frame(again.data(), again.size(), key, sender_back, back)
        != frame_error::none
      || sender_back != sender || back.size() != records.size())
    std::abort();
  for (std::size_t i = 0; i < back.size(); ++i)
    if (!same(back[i], records[i]))
      std::abort();
  return 0;
}
