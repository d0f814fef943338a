#pragma once

// How a TCP byte stream is cut into frames (gen_tcp's {packet, ...}):
//
//   raw      every read is one frame, as many bytes as the read returned
//            (at most max_frame). Sends go out as they are.
//   prefix   a 1, 2 or 4 byte big-endian length, then that many bytes. The
//            frame is the payload, without the prefix; sends get a prefix.
//   line     bytes up to and including '\n'. The frame keeps its '\n' (as
//            gen_tcp's {packet, line} does), so sending a received line
//            reproduces it; sends go out as they are.
//
// A frame longer than max_frame is an error for the connection, found as
// early as possible: from the prefix alone, or once max_frame bytes passed
// without a '\n'.
//
// CAF-free, so the edge cases are tested without sockets.

#include <cstddef>
#include <cstdint>

namespace castor::net {

struct tcp_framing {
  enum class kind : uint8_t { raw, prefix, line };
  kind mode = kind::raw;
  /// Prefix width in bytes: 1, 2 or 4 (prefix mode only).
  uint8_t width = 0;

  static tcp_framing raw() { return {kind::raw, 0}; }
  static tcp_framing prefix(uint8_t bytes) { return {kind::prefix, bytes}; }
  static tcp_framing line() { return {kind::line, 0}; }

  /// Prefix mode with a width other than 1, 2 or 4 is invalid.
  bool valid() const noexcept {
    return mode != kind::prefix || width == 1 || width == 2 || width == 4;
  }

  /// The longest payload the prefix can describe.
  uint64_t max_encodable() const noexcept {
    if (mode != kind::prefix)
      return UINT64_MAX;
    return width == 4 ? 0xFFFFFFFFull : (1ull << (8 * width)) - 1;
  }

  /// Bytes a sent frame gets in front of its payload.
  size_t header_size() const noexcept {
    return mode == kind::prefix ? width : 0;
  }
};

/// What decode_frame found at the front of a buffer.
struct decoded_frame {
  enum class status : uint8_t {
    /// A whole frame: payload at [header, header + size), `total` bytes used.
    complete,
    /// Not enough bytes yet.
    incomplete,
    /// The frame is longer than max_frame; `size` is the length seen so far
    /// (the declared length in prefix mode).
    too_large,
  };
  status what = status::incomplete;
  size_t header = 0;
  size_t size = 0;
  size_t total = 0;
};

/// Looks for one frame at the start of [data, data + n).
decoded_frame decode_frame(const tcp_framing& f, size_t max_frame,
                           const uint8_t* data, size_t n) noexcept;

/// Writes the header of a `payload`-byte frame to `out` (room for 4 bytes)
/// and returns its length. The caller checked payload <= max_encodable().
size_t encode_header(const tcp_framing& f, size_t payload,
                     uint8_t* out) noexcept;

} // namespace castor::net
