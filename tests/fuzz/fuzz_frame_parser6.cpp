// libFuzzer target: the IPv6 frame parser (packet/), whose extension-header
// walk follows lengths that anyone on the input link chooses. Whatever the
// bytes, it must stay inside the frame, end within its bound, and hand out
// only a payload that lies inside the frame.
//
// The first input byte picks the link layer and whether the wire length is
// reported larger than the capture; the rest is the frame.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "castor/packet/frame_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace castor::packet;
  if (size < 1)
    return 0;
  const uint8_t control = data[0];
  static constexpr link_layer layers[] = {
    link_layer::none, link_layer::ethernet, link_layer::linux_sll};
  const auto layer = layers[control % 3];
  // Exactly the frame's size on the heap: ASan catches one byte past it.
  std::vector<uint8_t> frame(data + 1, data + size);
  const std::size_t captured = frame.size();
  const std::size_t wire =
    (control & 0x80) ? captured + (control & 0x3f) : captured;
  udp6_datagram d;
  const auto r = parse_udp6_frame(frame.data(), captured, wire, layer, d);
  static_cast<void>(frame_ip_version(frame.data(), captured, layer));
  if (!r.ok)
    return 0;
  const uint8_t* begin = frame.data();
  const uint8_t* end = begin + captured;
  // The payload follows at least the 40-byte header and the UDP header.
  if (d.payload < begin + link_header_size(layer) + 48 || d.payload > end
      || d.payload_size > static_cast<std::size_t>(end - d.payload))
    std::abort();
  volatile uint8_t sink = 0;
  for (std::size_t i = 0; i < d.payload_size; ++i)
    sink ^= d.payload[i];
  static_cast<void>(sink);
  return 0;
}
