#pragma once

// tcp_frames: the payload of (tcp_atom, tcp_frames). The frames one read
// produced, copied once out of the connection's read buffer into a shared,
// immutable block, in their wire format (prefixes included). Copying a
// tcp_frames shares the block; sending it to a connection with the same
// prefix width ((send_atom, tcp_frames)) writes the block as it is: one
// iovec for the whole batch, no copy, no re-encoding.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

namespace castor::net {

/// One received frame. Valid as long as the tcp_frames it came from.
struct tcp_frame {
  const uint8_t* data;
  size_t size;

  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data), size};
  }
};

class tcp_frames {
  struct block {
    // The frames as they came off the wire, headers included.
    std::vector<uint8_t> wire;
    std::vector<std::pair<uint32_t, uint32_t>> spans; // payload offset, size
    size_t payload_bytes = 0;
    uint8_t header_size = 0;
  };

public:
  tcp_frames() = default;

  size_t size() const noexcept { return blk_ ? blk_->spans.size() : 0; }
  bool empty() const noexcept { return size() == 0; }

  tcp_frame operator[](size_t i) const noexcept {
    auto& s = blk_->spans[i];
    return {blk_->wire.data() + s.first, s.second};
  }

  /// Sum of the frame sizes (payload only).
  size_t bytes() const noexcept { return blk_ ? blk_->payload_bytes : 0; }

  /// The frames in wire format: each payload behind its header_size()-byte
  /// prefix (nothing between frames for raw and line framing).
  const std::vector<uint8_t>& wire() const noexcept { return blk_->wire; }
  size_t header_size() const noexcept { return blk_ ? blk_->header_size : 0; }

  /// Builds a block: reserve, add each frame, then take the result.
  class builder {
  public:
    builder(size_t frames, size_t wire_bytes, uint8_t header_size)
        : blk_(std::make_shared<block>()) {
      blk_->spans.reserve(frames);
      blk_->wire.reserve(wire_bytes);
      blk_->header_size = header_size;
    }
    /// Adds the frame at `wire`: a header_size-byte header, then `n` bytes.
    void add(const uint8_t* wire, size_t n) {
      auto& b = blk_->wire;
      blk_->spans.emplace_back(
        static_cast<uint32_t>(b.size() + blk_->header_size),
        static_cast<uint32_t>(n));
      b.insert(b.end(), wire, wire + blk_->header_size + n);
      blk_->payload_bytes += n;
    }
    size_t frames() const noexcept { return blk_->spans.size(); }
    tcp_frames done() { return tcp_frames{std::move(blk_)}; }

  private:
    std::shared_ptr<block> blk_;
  };

private:
  explicit tcp_frames(std::shared_ptr<const block> b) : blk_(std::move(b)) {}

  std::shared_ptr<const block> blk_;
};

} // namespace castor::net

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::tcp_frames)
