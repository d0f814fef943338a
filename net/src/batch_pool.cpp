#include "castor/net/detail/batch_pool.hpp"

#include <cstring>

#include <arpa/inet.h>
#include <netinet/udp.h>

namespace castor::net {

// -- batch_block ---------------------------------------------------------------

batch_block::batch_block(batch_pool* pool, size_t slots, size_t slot_size)
    : pool_(pool), slot_size_(slot_size), msgs_(slots), iov_(slots),
      peers_(slots), control_(slots), info_(slots),
      data_(new uint8_t[slots * slot_size]) {
  // The pointers never change: set them once, reset only the fields the
  // kernel writes (prepare).
  for (size_t i = 0; i < slots; ++i) {
    iov_[i].iov_base = data_.get() + i * slot_size;
    iov_[i].iov_len = slot_size;
    std::memset(&msgs_[i], 0, sizeof(mmsghdr));
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_name = peers_[i].data();
    msgs_[i].msg_hdr.msg_control = control_[i].buf;
  }
}

void batch_block::prepare(size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) {
    auto& h = msgs_[i].msg_hdr;
    h.msg_namelen = static_cast<socklen_t>(peers_[i].capacity());
    h.msg_controllen = sizeof(control_slot);
    h.msg_flags = 0;
    msgs_[i].msg_len = 0;
  }
}

void batch_block::complete(size_t n) {
  for (size_t i = 0; i < n; ++i) {
    auto& h = msgs_[i].msg_hdr;
    peers_[i].resize(h.msg_namelen);
    info_[i] = slot_info{};
    // Without IP_PKTINFO / IPV6_RECVPKTINFO on the socket the kernel writes
    // no control message and sets msg_controllen to 0: this loop does not
    // run.
    for (auto* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        info_[i].ifindex = static_cast<uint32_t>(pi.ipi_ifindex);
        std::memcpy(info_[i].dst.data(), &pi.ipi_addr, 4);
        info_[i].v6 = false;
      } else if (c->cmsg_level == IPPROTO_IPV6
                 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo pi;
        std::memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        info_[i].ifindex = pi.ipi6_ifindex;
        std::memcpy(info_[i].dst.data(), &pi.ipi6_addr, 16);
        info_[i].v6 = true;
      } else if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
        int seg = 0;
        std::memcpy(&seg, CMSG_DATA(c), sizeof(seg));
        // Written only for a joined run; a lone datagram has none.
        if (seg > 0 && static_cast<size_t>(seg) < msgs_[i].msg_len)
          info_[i].segment = static_cast<uint16_t>(seg);
      }
    }
  }
}

boost::asio::ip::address batch_block::destination(size_t i) const noexcept {
  const auto& x = info_[i];
  if (x.v6)
    return boost::asio::ip::address_v6{x.dst};
  uint32_t be;
  std::memcpy(&be, x.dst.data(), 4);
  return boost::asio::ip::address_v4{ntohl(be)};
}

void batch_block::release() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    pool_->give_back(this);
}

// -- batch_pool ----------------------------------------------------------------

batch_pool::batch_pool(size_t slots, size_t slot_size, size_t max_cached)
    : slots_(slots), slot_size_(slot_size), max_cached_(max_cached) {
  // nop
}

batch_pool::~batch_pool() {
  free_list(cache_);
  free_list(returned_.exchange(nullptr, std::memory_order_acquire));
}

batch_pool* batch_pool::create(size_t slots, size_t slot_size,
                               size_t max_cached) {
  return new batch_pool(slots, slot_size, max_cached);
}

batch_block* batch_pool::acquire() {
  if (!cache_) {
    // Take everything returned so far in one exchange; trim what exceeds the
    // cache limit (a burst in active-true mode may have needed many blocks).
    cache_ = returned_.exchange(nullptr, std::memory_order_acquire);
    size_t kept = 0;
    for (auto* b = cache_; b; b = b->next_) {
      if (++kept == max_cached_) {
        free_list(b->next_);
        b->next_ = nullptr;
        break;
      }
    }
  }
  batch_block* b = cache_;
  if (b) {
    cache_ = b->next_;
    b->next_ = nullptr;
  } else {
    b = new batch_block(this, slots_, slot_size_);
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  loaned_.fetch_add(1);
  // A block on loan keeps the pool alive.
  refs_.fetch_add(1, std::memory_order_relaxed);
  return b;
}

void batch_pool::recycle(batch_block* b) noexcept {
  b->next_ = cache_;
  cache_ = b;
  loaned_.fetch_sub(1);
  unref();
}

void batch_pool::give_back(batch_block* b) noexcept {
  auto* head = returned_.load(std::memory_order_relaxed);
  do {
    b->next_ = head;
  } while (!returned_.compare_exchange_weak(head, b, std::memory_order_release,
                                            std::memory_order_relaxed));
  loaned_.fetch_sub(1);
  // The load first keeps the common case (nobody waits) free of a second
  // locked instruction.
  if (waiting_.load() && waiting_.exchange(false)) {
    std::lock_guard<std::mutex> guard{waker_mtx_};
    if (waker_)
      waker_();
  }
  // Last: the block's reference is what keeps this pool alive until here.
  unref();
}

void batch_pool::set_waker(std::function<void()> f) {
  std::lock_guard<std::mutex> guard{waker_mtx_};
  waker_ = std::move(f);
}

void batch_pool::clear_waker() {
  std::lock_guard<std::mutex> guard{waker_mtx_};
  waker_ = nullptr;
}

bool batch_pool::wait_for_return(size_t limit) noexcept {
  waiting_.store(true);
  return loaned_.load() < limit;
}

void batch_pool::unref() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete this;
}

void batch_pool::free_list(batch_block* head) noexcept {
  while (head) {
    auto* next = head->next_;
    delete head;
    live_.fetch_sub(1, std::memory_order_relaxed);
    head = next;
  }
}

} // namespace castor::net
