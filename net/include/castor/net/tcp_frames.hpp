#pragma once

// tcp_frames: the payload of (tcp_atom, tcp_frames). The frames one read
// produced, copied once out of the connection's read buffer into a shared,
// immutable block. Copying a tcp_frames shares the block; sending it back
// to a connection ((send_atom, tcp_frames)) writes the frames without
// copying them again.

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
    std::vector<uint8_t> bytes;
    std::vector<std::pair<uint32_t, uint32_t>> spans; // offset, size
  };

public:
  tcp_frames() = default;

  size_t size() const noexcept { return blk_ ? blk_->spans.size() : 0; }
  bool empty() const noexcept { return size() == 0; }

  tcp_frame operator[](size_t i) const noexcept {
    auto& s = blk_->spans[i];
    return {blk_->bytes.data() + s.first, s.second};
  }

  /// Sum of the frame sizes.
  size_t bytes() const noexcept { return blk_ ? blk_->bytes.size() : 0; }

  /// Builds a block: reserve, add each frame, then take the result.
  class builder {
  public:
    builder(size_t frames, size_t bytes) : blk_(std::make_shared<block>()) {
      blk_->spans.reserve(frames);
      blk_->bytes.reserve(bytes);
    }
    void add(const uint8_t* data, size_t n) {
      auto& b = blk_->bytes;
      blk_->spans.emplace_back(static_cast<uint32_t>(b.size()),
                               static_cast<uint32_t>(n));
      b.insert(b.end(), data, data + n);
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
