#pragma once

// Internal to castor::net: udp_batch.hpp holds a batch_block, so this header
// is installed, but it is no part of the API.
//
// Receive buffers for recvmmsg, recycled without locks.
//
// A batch_block is one recvmmsg worth of memory: `slots` message headers,
// iovecs, peer addresses, a control-message buffer (for IP_PKTINFO) and
// slot_size bytes of payload per slot, allocated once. The socket's io
// thread acquires a block, fills it with one recvmmsg, and hands views of it
// (udp_batch) to actors. The block goes back to its pool when the last view
// is dropped, on whatever thread that happens.
//
// The return path is a multi-producer, single-consumer stack: any thread
// pushes with a CAS, and only the io thread takes, always the whole stack at
// once with an exchange. Taking everything at once is what makes the stack
// immune to ABA: no thread ever pops a single node.
//
// The pool counts the blocks on loan, so that the socket can bound the memory
// its owner pins (udp_options::max_pinned_bytes). A socket that reached its
// bound stops reading and asks to be woken (wait_for_return); the thread that
// gives back the next block runs the socket's waker. Only that slow path
// takes a lock.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/ip/udp.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace castor::net {

class batch_pool;

class batch_block {
public:
  batch_block(batch_pool* pool, size_t slots, size_t slot_size);

  batch_block(const batch_block&) = delete;
  batch_block& operator=(const batch_block&) = delete;

  size_t slots() const noexcept { return msgs_.size(); }
  size_t slot_size() const noexcept { return slot_size_; }

  /// The recvmmsg vector. Call prepare() before each use.
  mmsghdr* msgs() noexcept { return msgs_.data(); }

  /// Resets the in/out fields the kernel overwrites (name length, flags).
  void prepare(size_t n) noexcept;

  /// After recvmmsg returned `n`: fixes up the peer endpoint sizes and
  /// takes the IP_PKTINFO of each datagram out of its control message.
  void complete(size_t n);

  const uint8_t* data(size_t i) const noexcept {
    return data_.get() + i * slot_size_;
  }
  size_t length(size_t i) const noexcept { return msgs_[i].msg_len; }
  bool truncated(size_t i) const noexcept {
    return (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  const boost::asio::ip::udp::endpoint& peer(size_t i) const noexcept {
    return peers_[i];
  }
  /// UDP_GRO's segment size of slot i: 0 for one datagram, else the
  /// size of each datagram the slot joins (the last may be shorter).
  uint16_t segment_size(size_t i) const noexcept { return info_[i].segment; }
  /// IP_PKTINFO (or IPV6_PKTINFO) of slot i: the interface the datagram
  /// came in on and the destination address of its IP header. 0 and
  /// 0.0.0.0 when the socket does not ask for it.
  unsigned ifindex(size_t i) const noexcept { return info_[i].ifindex; }
  boost::asio::ip::address destination(size_t i) const noexcept;

  // -- reference counting (any thread) ---------------------------------------

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }

  /// Drops one reference; the last one gives the block back to its pool.
  void release() noexcept;

  uint32_t use_count() const noexcept {
    return refs_.load(std::memory_order_acquire);
  }

private:
  friend class batch_pool;

  /// Room for the control messages the socket may ask for: IP_PKTINFO or
  /// IPV6_PKTINFO, and UDP_GRO's segment size.
  union control_slot {
    cmsghdr align;
    uint8_t buf[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int))];
  };

  struct slot_info {
    uint32_t ifindex = 0;
    uint16_t segment = 0;
    bool v6 = false;
    std::array<uint8_t, 16> dst{}; ///< network order; IPv4 in the first 4
  };

  std::atomic<uint32_t> refs_{0};
  batch_block* next_ = nullptr;
  batch_pool* pool_;
  size_t slot_size_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<boost::asio::ip::udp::endpoint> peers_;
  std::vector<control_slot> control_;
  std::vector<slot_info> info_;
  std::unique_ptr<uint8_t[]> data_;
};

/// The blocks of one socket. Reference counted: the socket holds one
/// reference and every block out on loan holds one, so blocks may come back
/// after the socket closed.
class batch_pool {
public:
  /// A new pool with one reference, owned by the caller.
  static batch_pool* create(size_t slots, size_t slot_size,
                            size_t max_cached = 8);

  batch_pool(const batch_pool&) = delete;
  batch_pool& operator=(const batch_pool&) = delete;

  /// A block with no references. Owner thread only. Allocates only when no
  /// block is free.
  batch_block* acquire();

  /// Gives back a block that was acquired but never referenced (nothing was
  /// received). Owner thread only.
  void recycle(batch_block* b) noexcept;

  /// The owner drops its reference (the socket closed).
  void release_owner() noexcept { unref(); }

  /// Blocks that exist now: on loan, cached or waiting to be taken back
  /// (for tests and stats). Bounded by the owner's backlog, not by traffic.
  size_t live_blocks() const noexcept {
    return live_.load(std::memory_order_relaxed);
  }

  /// Blocks acquired and not yet given back or recycled: what the socket's
  /// owner (and whoever it passed batches to) pins now.
  size_t loaned_blocks() const noexcept { return loaned_.load(); }

  /// Payload bytes of one block (slots × slot_size).
  size_t block_bytes() const noexcept { return slots_ * slot_size_; }

  /// Owner thread: installs the function that the next give_back runs after
  /// wait_for_return. It runs on the returning thread, so it may only post.
  void set_waker(std::function<void()> f);

  /// Owner thread: no waker runs after this returns.
  void clear_waker();

  /// Owner thread: asks the waker to run on the next give_back, then checks
  /// again. True if fewer than `limit` blocks are on loan (a block came back
  /// meanwhile: go on without waiting; the waker may still run once).
  bool wait_for_return(size_t limit) noexcept;

  size_t slots() const noexcept { return slots_; }
  size_t slot_size() const noexcept { return slot_size_; }

private:
  friend class batch_block;

  batch_pool(size_t slots, size_t slot_size, size_t max_cached);
  ~batch_pool();

  /// Any thread: push `b` on the return stack, then drop its pool reference.
  void give_back(batch_block* b) noexcept;
  void unref() noexcept;
  void free_list(batch_block* head) noexcept;

  std::atomic<size_t> refs_{1};
  std::atomic<batch_block*> returned_{nullptr};
  std::atomic<size_t> live_{0};
  // Sequentially consistent, as is waiting_: a give_back that does not see
  // waiting_ set is ordered before wait_for_return's store, so the owner's
  // re-check sees its decrement (no lost wake-up).
  std::atomic<size_t> loaned_{0};
  std::atomic<bool> waiting_{false};
  std::mutex waker_mtx_;
  std::function<void()> waker_;
  size_t slots_;
  size_t slot_size_;
  size_t max_cached_;
  // Owner thread only.
  batch_block* cache_ = nullptr;
};

} // namespace castor::net
