#include "castor/net/tcp_framing.hpp"

#include <algorithm>
#include <cstring>

namespace castor::net {

namespace {

using st = decoded_frame::status;

uint64_t read_be(const uint8_t* p, size_t width) noexcept {
  uint64_t x = 0;
  for (size_t i = 0; i < width; ++i)
    x = (x << 8) | p[i];
  return x;
}

} // namespace

decoded_frame decode_frame(const tcp_framing& f, size_t max_frame,
                           const uint8_t* data, size_t n) noexcept {
  decoded_frame r;
  switch (f.mode) {
  case tcp_framing::kind::raw:
    if (n == 0)
      return r;
    r.what = st::complete;
    r.size = std::min(n, max_frame);
    r.total = r.size;
    return r;
  case tcp_framing::kind::prefix: {
    if (n < f.width)
      return r;
    auto len = read_be(data, f.width);
    r.header = f.width;
    if (len > max_frame) {
      r.what = st::too_large;
      r.size = static_cast<size_t>(len);
      return r;
    }
    r.size = static_cast<size_t>(len);
    r.total = r.header + r.size;
    if (n >= r.total)
      r.what = st::complete;
    return r;
  }
  case tcp_framing::kind::line: {
    // Only the first max_frame bytes may hold the '\n'.
    auto scan = std::min(n, max_frame);
    auto* nl = static_cast<const uint8_t*>(std::memchr(data, '\n', scan));
    if (nl != nullptr) {
      r.what = st::complete;
      r.size = static_cast<size_t>(nl - data) + 1;
      r.total = r.size;
    } else if (n >= max_frame) {
      r.what = st::too_large;
      r.size = n;
    }
    return r;
  }
  }
  return r;
}

size_t encode_header(const tcp_framing& f, size_t payload,
                     uint8_t* out) noexcept {
  if (f.mode != tcp_framing::kind::prefix)
    return 0;
  for (size_t i = 0; i < f.width; ++i)
    out[f.width - 1 - i] = static_cast<uint8_t>(payload >> (8 * i));
  return f.width;
}

} // namespace castor::net
