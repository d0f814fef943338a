#pragma once

// udp_batch: the payload of (udp_atom, udp_batch) and of recv's answer. A view
// of `count` datagrams in one pooled receive block. Copying a batch shares the
// block (one atomic increment); the block returns to its socket's pool when
// the last copy is dropped, so delivering a batch costs no allocation and no
// per-datagram copy.
//
// Keep batches short-lived: a held batch holds its whole block
// (read_packets × max_datagram bytes), and a socket whose batches pin
// udp_options::max_pinned_bytes stops reading until some come back.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include <caf/allowed_unsafe_message_type.hpp>

#include <boost/asio/ip/udp.hpp>

#include "castor/net/detail/batch_pool.hpp"

namespace castor::net {

using udp_endpoint = boost::asio::ip::udp::endpoint;

/// One received datagram. Valid as long as the batch it came from.
struct datagram {
  const udp_endpoint& from;
  const uint8_t* data;
  size_t size;
  /// The datagram was longer than the socket's max_datagram and was cut.
  bool truncated;
  /// Where it was sent, from IP_PKTINFO or IPV6_PKTINFO
  /// (udp_options::packet_info): the
  /// destination address of its IP header, i.e. the group for multicast, and
  /// the index of the interface it came in on. A socket joined to several
  /// groups, or to one group on several interfaces, tells them apart by
  /// these. Unspecified and 0 when the socket does not receive packet info
  /// (or for datagrams queued before it was turned on).
  boost::asio::ip::address destination;
  unsigned ifindex;
  /// With udp_options::gro: 0 for one datagram, else this entry joins a
  /// run of datagrams of this size (the last may be shorter), to be cut
  /// apart by the owner (for_each_segment).
  size_t segment_size = 0;

  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(data), size};
  }
};

/// Calls f(const uint8_t*, size_t) for each datagram an entry holds: the
/// entry itself, or the datagrams of a run UDP GRO joined.
template <class F>
void for_each_segment(const datagram& d, F f) {
  if (d.segment_size == 0 || d.segment_size >= d.size) {
    f(d.data, d.size);
    return;
  }
  for (size_t at = 0; at < d.size; at += d.segment_size)
    f(d.data + at, std::min(d.segment_size, d.size - at));
}

class udp_batch;

/// Iterates the datagrams of a batch.
class datagram_range {
public:
  class iterator {
  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = datagram;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = datagram;

    iterator(const udp_batch* b, size_t i) : batch_(b), i_(i) {}
    inline datagram operator*() const;
    iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }
    bool operator!=(const iterator& o) const { return i_ != o.i_; }

  private:
    const udp_batch* batch_;
    size_t i_;
  };

  explicit datagram_range(const udp_batch* b) : batch_(b) {}
  inline iterator begin() const;
  inline iterator end() const;

private:
  const udp_batch* batch_;
};

class udp_batch {
public:
  udp_batch() noexcept = default;

  /// A view of slots [first, first + count) of `block`; takes a reference.
  udp_batch(batch_block* block, uint32_t first, uint32_t count) noexcept
      : block_(block), first_(first), count_(count) {
    if (block_)
      block_->add_ref();
  }

  udp_batch(const udp_batch& o) noexcept
      : udp_batch(o.block_, o.first_, o.count_) {}

  udp_batch(udp_batch&& o) noexcept
      : block_(o.block_), first_(o.first_), count_(o.count_) {
    o.block_ = nullptr;
    o.count_ = 0;
  }

  udp_batch& operator=(udp_batch o) noexcept {
    std::swap(block_, o.block_);
    std::swap(first_, o.first_);
    std::swap(count_, o.count_);
    return *this;
  }

  ~udp_batch() {
    if (block_)
      block_->release();
  }

  size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }

  datagram operator[](size_t i) const noexcept {
    auto k = first_ + i;
    return {block_->peer(k),        block_->data(k),        block_->length(k),
            block_->truncated(k),   block_->destination(k), block_->ifindex(k),
            block_->segment_size(k)};
  }

  /// For range-for: `for (auto d : batch.datagrams())`. Not begin()/end()
  /// on the batch itself, or CAF would treat it as a container.
  datagram_range datagrams() const noexcept;

  /// Sum of the datagram sizes.
  size_t bytes() const noexcept {
    size_t n = 0;
    for (size_t i = 0; i < count_; ++i)
      n += block_->length(first_ + i);
    return n;
  }

private:
  batch_block* block_ = nullptr;
  uint32_t first_ = 0;
  uint32_t count_ = 0;
};

inline datagram datagram_range::iterator::operator*() const {
  return (*batch_)[i_];
}

inline datagram_range::iterator datagram_range::begin() const {
  return {batch_, 0};
}

inline datagram_range::iterator datagram_range::end() const {
  return {batch_, batch_->size()};
}

inline datagram_range udp_batch::datagrams() const noexcept {
  return datagram_range{this};
}

} // namespace castor::net

// Batches only travel between actors of one process: they point into local
// memory and must never be serialized.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(castor::net::udp_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(boost::asio::ip::udp::endpoint)
