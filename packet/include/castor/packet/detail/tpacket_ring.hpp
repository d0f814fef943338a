#pragma once

// Internal: ingress_socket.hpp holds one as a member (and ingress_options
// uses its ring_geometry), so it is installed, but only ring_geometry is
// part of castor::packet's API.
//
// A TPACKET_V3 receive ring: the kernel writes frames into blocks of a
// shared mapping and hands over whole blocks, so one poll wake-up and no
// syscall at all deliver hundreds of frames. The kernel hands a block over
// when it is full or when its retire timer (milliseconds) fires, which is
// the latency price of the ring at low rates; recvmmsg has no such floor.
//
// drain() walks the blocks the kernel has handed over, calls back for each
// frame, and gives each fully walked block back. A frame's bytes are valid
// only during its callback: the block is returned right after.

#include <cstddef>
#include <cstdint>

#include <linux/if_packet.h>
#include <sys/socket.h>

namespace castor::packet {

// Sizing. At low rates every block is retired by the timer after
// retire_timeout_ms holding only a few frames, so the ring buffers
// block_count x retire_timeout_ms of time, not its byte size: 32 blocks of
// 1 ms lost frames whenever the owner was descheduled for 32 ms on a busy
// 2-core machine. Many small blocks fix that: 256 x 64 KiB (16 MiB) rides
// out 256 ms at low rates and holds ~150,000 small frames at high rates.
struct ring_geometry {
  /// Bytes per block: a multiple of the page size and a power of two. Also
  /// bounds the largest frame (block size minus headers).
  uint32_t block_size = 1u << 16;
  uint32_t block_count = 256;
  /// Hand a partly filled block to user space after this many ms: the
  /// ring's latency floor when traffic is light.
  uint32_t retire_timeout_ms = 1;
};

class tpacket_ring {
public:
  tpacket_ring() = default;
  ~tpacket_ring();
  tpacket_ring(const tpacket_ring&) = delete;
  tpacket_ring& operator=(const tpacket_ring&) = delete;

  /// PACKET_VERSION, PACKET_RX_RING and mmap on an unbound AF_PACKET
  /// socket that will be bound to `ifindex` (0: any). Throws io_error.
  void setup(int fd, const ring_geometry& geometry, unsigned ifindex = 0);

  bool ready() const noexcept { return map_ != nullptr; }

  /// Calls f(const uint8_t* net, uint32_t captured, uint32_t wire_length)
  /// for at most `max_frames` frames; returns how many it took (foreign
  /// ones included, see ours()). When the budget runs out inside a block,
  /// the next call resumes there. `f` must not throw.
  template <class F>
  std::size_t drain(F&& f, std::size_t max_frames) noexcept {
    std::size_t n = 0;
    while (n < max_frames) {
      auto* block = block_at(current_);
      auto& bh = block->hdr.bh1;
      // Acquire: the frame bytes the kernel wrote before setting the
      // status must be visible before we read them.
      if (!(__atomic_load_n(&bh.block_status, __ATOMIC_ACQUIRE)
            & TP_STATUS_USER))
        break;
      const uint32_t frames = bh.num_pkts;
      if (walked_ == 0)
        cursor_ = reinterpret_cast<uint8_t*>(block) + bh.offset_to_first_pkt;
      while (walked_ < frames && n < max_frames) {
        auto* h = reinterpret_cast<const tpacket3_hdr*>(cursor_);
        if (ours(h))
          f(static_cast<const uint8_t*>(cursor_ + h->tp_net), h->tp_snaplen,
            h->tp_len);
        else
          ++foreign_;
        cursor_ += h->tp_next_offset;
        ++walked_;
        ++n;
      }
      if (walked_ < frames)
        break;
      // Release: we are done reading before the kernel may overwrite.
      __atomic_store_n(&bh.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      walked_ = 0;
      current_ = (current_ + 1) % geometry_.block_count;
    }
    return n;
  }

  /// Frames taken but not handed to `f` since the last call, then forgets
  /// them.
  uint64_t take_foreign() noexcept {
    const auto n = foreign_;
    foreign_ = 0;
    return n;
  }

private:
  // The belt to the kernel filter's braces (bpf_filter.hpp), at the price
  // of the header bytes next to the frame's: a frame that was VLAN-tagged,
  // or for another host, or this host's own output, or moved here from
  // another interface, is not the input's, whatever filter let it in.
  bool ours(const tpacket3_hdr* h) const noexcept {
    if (h->tp_status & TP_STATUS_VLAN_VALID)
      return false;
    const auto* ll = reinterpret_cast<const sockaddr_ll*>(
      reinterpret_cast<const uint8_t*>(h)
      + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
    return ll->sll_pkttype <= PACKET_MULTICAST
           && (ifindex_ == 0 || ll->sll_ifindex == static_cast<int>(ifindex_));
  }

  tpacket_block_desc* block_at(uint32_t i) const noexcept {
    return reinterpret_cast<tpacket_block_desc*>(
      map_ + static_cast<std::size_t>(i) * geometry_.block_size);
  }

  uint8_t* map_ = nullptr;
  std::size_t map_size_ = 0;
  ring_geometry geometry_;
  uint32_t current_ = 0; ///< block to look at next
  uint32_t walked_ = 0;  ///< frames of the current block already delivered
  uint8_t* cursor_ = nullptr;
  unsigned ifindex_ = 0; ///< the bound interface (0: any)
  uint64_t foreign_ = 0; ///< frames not handed over, see take_foreign()
};

} // namespace castor::packet
