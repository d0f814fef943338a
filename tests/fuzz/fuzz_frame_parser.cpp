// libFuzzer target: the forwarder's frame parser (packet/), which reads
// every frame the kernel hands to an AF_PACKET ingress, from anyone on the
// input link. Whatever the bytes, it must neither read outside the frame nor
// hand out a payload that does not lie inside it.
//
// The first input byte picks the link layer and whether the wire length is
// reported larger than the capture (a cut frame, as with a small snaplen);
// the rest is the frame.

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
  // A heap copy of exactly the frame's size, so that ASan catches a read of
  // a single byte past its end.
  std::vector<uint8_t> frame(data + 1, data + size);
  const std::size_t captured = frame.size();
  const std::size_t wire =
    (control & 0x80) ? captured + (control & 0x3f) : captured;
  udp_datagram d;
  const auto r = parse_udp_frame(frame.data(), captured, wire, layer, d);
  if (r.ok) {
    const uint8_t* begin = frame.data();
    const uint8_t* end = begin + captured;
    if (d.payload_size > 0
        && (d.payload < begin || d.payload > end
            || d.payload_size > static_cast<std::size_t>(end - d.payload)))
      std::abort(); // a payload view outside the frame
    // Touch the payload: ASan reports any byte of it that is not ours.
    volatile uint8_t sink = 0;
    for (std::size_t i = 0; i < d.payload_size; ++i)
      sink ^= d.payload[i];
    static_cast<void>(sink);
  }
  return 0;
}
