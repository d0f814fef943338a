#include "castor/packet/send_ring.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace castor::packet {

namespace {

// A power of two at least twice `slots`: the grouping table's load stays
// at or below one half.
std::size_t table_size(std::size_t slots) {
  std::size_t n = 16;
  while (n < 2 * slots)
    n *= 2;
  return n;
}

uint64_t destination_key(const destination& d) noexcept {
  return d.key();
}

// Payloads start on 16-byte boundaries, where memcpy is fastest.
constexpr std::size_t payload_align = 16;

std::size_t aligned(std::size_t n) noexcept {
  return (n + payload_align - 1) & ~(payload_align - 1);
}

} // namespace

send_ring::send_ring(std::size_t slots, std::size_t slot_bytes,
                     std::size_t max_outputs, std::size_t max_batch,
                     std::size_t payload_bytes)
    : slots_(slots), slot_bytes_(slot_bytes), max_batch_(max_batch),
      payload_bytes_(payload_bytes != 0 ? payload_bytes
                                        : slots * aligned(slot_bytes)),
      buffers_(new uint8_t[payload_bytes_]), msgs_(slots), iovs_(slots),
      dests_(slots), owners_(slots), counters_(max_outputs), joined_(max_batch),
      controls_(max_batch), joined_count_(max_batch),
      group_table_(table_size(slots)), group_next_(slots), group_of_(slots),
      scratch_iovs_(slots), scratch_dests_(slots), scratch_owners_(slots) {
  static_assert(sizeof(group_slot) == 16, "slot_overhead_bytes counts two "
                                          "16-byte table entries a slot");
  if (slots == 0 || slot_bytes == 0 || max_batch == 0)
    throw std::invalid_argument("send_ring: slots, slot size and batch must "
                                "be positive");
  if (payload_bytes_ < slot_bytes)
    throw std::invalid_argument("send_ring: the payload arena must hold the "
                                "largest payload");
  // The message headers point at their slot's iovec and destination once
  // and for all; enqueue fills in where in the arena the payload went.
  for (std::size_t i = 0; i < slots; ++i) {
    iovs_[i].iov_base = nullptr;
    iovs_[i].iov_len = 0;
    msgs_[i] = mmsghdr{};
    msgs_[i].msg_hdr.msg_name = &dests_[i];
    msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

bool send_ring::enqueue(uint32_t output, const destination& dest,
                        const uint8_t* data, std::size_t size,
                        ip_marks marks) noexcept {
  if (output >= counters_.size())
    return false;
  auto& c = counters_[output];
  if (size > slot_bytes_) {
    ++c.too_big;
    return false;
  }
  if (count_ == slots_ || !payload_fits(size)) {
    ++c.queue_full;
    return false;
  }
  std::size_t i = head_ + count_;
  if (i >= slots_)
    i -= slots_;
  uint8_t* at = buffers_.get() + payload_used_;
  payload_used_ += aligned(size);
  if (payload_used_ > payload_bytes_)
    payload_used_ = payload_bytes_; // the last, unaligned tail
  std::memcpy(at, data, size);
  iovs_[i].iov_base = at;
  iovs_[i].iov_len = size;
  if (count_ > 0) {
    const std::size_t prev = i == 0 ? slots_ - 1 : i - 1;
    switches_ += destination_key(dests_[prev]) != destination_key(dest);
  }
  dests_[i] = dest;
  msgs_[i].msg_hdr.msg_namelen = dest.size();
  owners_[i] = output;
  if (marking())
    mark(i, marks);
  ++count_;
  return true;
}

bool send_ring::enqueue(uint32_t output, const destination& dest,
                        const uint8_t* data, std::size_t size,
                        send_batch_fn send, void* context,
                        ip_marks marks) noexcept {
  if ((count_ == slots_ || !payload_fits(size)) && !blocked_
      && output < counters_.size() && size <= slot_bytes_)
    flush(send, context);
  return enqueue(output, dest, data, size, marks);
}

void send_ring::enable_ip_marks(bool ipv6) {
  marks_v6_ = ipv6;
  marks_.assign(slots_, ip_marks{});
  slot_controls_.assign(slots_, marks_control{});
  scratch_marks_.assign(slots_, ip_marks{});
}

void send_ring::mark(std::size_t i, ip_marks marks) noexcept {
  marks_[i] = marks;
  auto& h = msgs_[i].msg_hdr;
  unsigned char* at = slot_controls_[i].bytes;
  std::size_t used = 0;
  auto add = [&](int type, int value) {
    if (value < 0)
      return;
    auto* c = reinterpret_cast<cmsghdr*>(at + used);
    c->cmsg_level = marks_v6_ ? IPPROTO_IPV6 : IPPROTO_IP;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &value, sizeof value);
    used += CMSG_SPACE(sizeof(int));
  };
  add(marks_v6_ ? IPV6_HOPLIMIT : IP_TTL, marks.ttl);
  add(marks_v6_ ? IPV6_TCLASS : IP_TOS, marks.tos);
  h.msg_control = used != 0 ? at : nullptr;
  h.msg_controllen = used;
}

void send_ring::release(std::size_t n) noexcept {
  head_ += n;
  if (head_ >= slots_)
    head_ -= slots_;
  count_ -= n;
  switches_ = switches_ > n ? switches_ - n : 0;
  if (count_ == 0) {
    // Empty: the arena starts over. (While datagrams stay queued, which
    // only EAGAIN leaves, their bytes may lie anywhere in it: grouping
    // permutes slots, so the arena is not freed piecewise.)
    payload_used_ = 0;
    switches_ = 0;
    head_ = 0;
  }
}

void send_ring::enable_segmentation(std::size_t max_segment_bytes,
                                    std::size_t max_segments,
                                    std::size_t max_message_bytes) noexcept {
  gso_max_bytes_ = max_segment_bytes;
  gso_max_segments_ = max_segments;
  gso_max_message_ = max_message_bytes;
}

void send_ring::group_run(std::size_t run) noexcept {
  if (run < 3)
    return; // two slots are in order, or the same destination already
  // One stream, the common case: all to one destination, nothing to
  // group, and no hash table probe per datagram to find that out.
  const uint64_t first = destination_key(dests_[head_]);
  std::size_t same = 1;
  while (same < run && destination_key(dests_[head_ + same]) == first)
    ++same;
  if (same == run)
    return;
  if (++group_stamp_ == 0) { // the stamps wrapped: forget every entry
    for (auto& e : group_table_)
      e.stamp = 0;
    group_stamp_ = 1;
  }
  const std::size_t mask = group_table_.size() - 1;
  uint32_t groups = 0;
  std::size_t changes = 0; // neighbours with different destinations
  for (std::size_t k = 0; k < run; ++k) {
    const uint64_t key = destination_key(dests_[head_ + k]);
    std::size_t h = (key * 0x9e3779b97f4a7c15ull) >> 32 & mask;
    while (group_table_[h].stamp == group_stamp_ && group_table_[h].key != key)
      h = (h + 1) & mask;
    auto& e = group_table_[h];
    if (e.stamp != group_stamp_) {
      e = group_slot{key, group_stamp_, groups};
      group_next_[groups++] = 0;
    }
    group_of_[k] = e.group;
    ++group_next_[e.group];
    changes += k > 0 && group_of_[k] != group_of_[k - 1];
  }
  // Each destination in one piece already (one stream, or runs that are
  // grouped from an earlier flush): nothing to move.
  if (changes + 1 == groups)
    return;
  uint32_t start = 0;
  for (uint32_t g = 0; g < groups; ++g) {
    const uint32_t n = group_next_[g];
    group_next_[g] = start;
    start += n;
  }
  for (std::size_t k = 0; k < run; ++k) {
    const uint32_t to = group_next_[group_of_[k]]++;
    scratch_iovs_[to] = iovs_[head_ + k];
    scratch_dests_[to] = dests_[head_ + k];
    scratch_owners_[to] = owners_[head_ + k];
    if (marking())
      scratch_marks_[to] = marks_[head_ + k];
  }
  // The payloads stay where they are in the arena; their iovecs move.
  std::memcpy(&iovs_[head_], scratch_iovs_.data(), run * sizeof(iovec));
  std::memcpy(static_cast<void*>(&dests_[head_]), scratch_dests_.data(),
              run * sizeof(destination));
  std::memcpy(&owners_[head_], scratch_owners_.data(), run * sizeof(uint32_t));
  // A slot's name length goes with its destination's family.
  for (std::size_t k = 0; k < run; ++k)
    msgs_[head_ + k].msg_hdr.msg_namelen = dests_[head_ + k].size();
  // Each slot keeps its own control buffer: write the moved marks into it.
  if (marking())
    for (std::size_t k = 0; k < run; ++k)
      mark(head_ + k, scratch_marks_[k]);
}

unsigned send_ring::join_run(std::size_t run) noexcept {
  unsigned m = 0;
  std::size_t i = 0;
  while (i < run && m < max_batch_) {
    const std::size_t first = head_ + i;
    const std::size_t size = iovs_[first].iov_len;
    const auto& dest = dests_[first];
    std::size_t n = 1;
    if (size > 0 && size <= gso_max_bytes_) {
      std::size_t total = size;
      while (i + n < run && n < gso_max_segments_) {
        const std::size_t s = first + n;
        const std::size_t next = iovs_[s].iov_len;
        if (next == 0 || next > size || total + next > gso_max_message_
            || !(dests_[s] == dest)
            || (marking() && !(marks_[s] == marks_[first])))
          break;
        total += next;
        ++n;
        if (next < size)
          break; // only the last segment may be shorter
      }
    }
    // The slots' iovecs are contiguous, so a joined message points at the
    // run's first one.
    auto& h = joined_[m].msg_hdr;
    h = msgs_[first].msg_hdr;
    h.msg_iovlen = n;
    if (n > 1) {
      // The run's marks (its first slot's control), then the segment size.
      auto& ctl = controls_[m];
      const std::size_t marks = h.msg_controllen;
      if (marks != 0)
        std::memcpy(ctl.bytes, h.msg_control, marks);
      h.msg_control = ctl.bytes;
      h.msg_controllen = marks + CMSG_SPACE(sizeof(uint16_t));
      auto* c = reinterpret_cast<cmsghdr*>(ctl.bytes + marks);
      c->cmsg_level = IPPROTO_UDP;
      c->cmsg_type = udp_segment_option;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto gso_size = static_cast<uint16_t>(size);
      std::memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
    }
    joined_count_[m] = static_cast<uint32_t>(n);
    ++m;
    i += n;
  }
  return m;
}

flush_result send_ring::flush(send_batch_fn send, void* context) noexcept {
  flush_result result;
  blocked_ = false;
  while (count_ > 0) {
    // sendmmsg needs a contiguous array: send up to the ring's end, then
    // wrap around on the next pass.
    std::size_t run = slots_ - head_;
    if (run > count_)
      run = count_;
    const bool joining = segmenting() && !split_next_;
    unsigned messages;
    mmsghdr* msgs;
    if (joining) {
      group_run(run);
      messages = join_run(run);
      msgs = joined_.data();
    } else {
      messages = static_cast<unsigned>(run > max_batch_ ? max_batch_ : run);
      msgs = &msgs_[head_];
    }
    const int sent = send(context, msgs, messages);
    if (sent > 0) {
      std::size_t datagrams = 0;
      for (int k = 0; k < sent; ++k)
        datagrams += joining ? joined_count_[static_cast<std::size_t>(k)] : 1;
      for (std::size_t k = 0; k < datagrams; ++k) {
        const std::size_t i = head_ + k;
        auto& c = counters_[owners_[i]];
        ++c.packets;
        c.bytes += iovs_[i].iov_len;
      }
      result.sent += datagrams;
      release(datagrams);
      split_next_ = false;
      retried_ = false;
      // A short count means the next message failed; the next pass gets
      // its error as -1.
      continue;
    }
    if (sent < 0 && errno == EINTR)
      continue;
    if (sent == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
      result.blocked = true;
      blocked_ = true;
      break;
    }
    if (joining && joined_count_[0] > 1) {
      // A joined message was refused: either segmentation itself (then it
      // stays off) or a destination, which the unjoined resend finds out
      // datagram by datagram. Nothing is dropped here.
      if (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP
          || errno == ENOPROTOOPT)
        gso_max_segments_ = 0;
      split_next_ = true;
      continue;
    }
    if (!retried_
        && (errno == ECONNREFUSED || errno == EHOSTUNREACH
            || errno == ENETUNREACH || errno == EHOSTDOWN)) {
      // Maybe an earlier datagram's ICMP error, pending on the socket
      // (sk_err, cleared by this send): once more before dropping.
      retried_ = true;
      continue;
    }
    // This one datagram is refused (no route, EPERM from a firewall...):
    // drop it alone and go on with the rest. EMSGSIZE: larger than the
    // output interface's MTU (udp_egress never fragments); ENOBUFS: the
    // queue discipline or device dropped it.
    auto& c = counters_[owners_[head_]];
    if (errno == EMSGSIZE) {
      ++c.too_big;
    } else if (errno == ENOBUFS) {
      ++c.qdisc_drop;
    } else {
      ++c.send_error;
      c.last_error = errno;
    }
    retried_ = false;
    ++result.failed;
    release(1);
  }
  return result;
}

void send_ring::reserve_outputs(std::size_t n) {
  if (n > counters_.size())
    counters_.resize(n);
}

void send_ring::reset_counters(uint32_t output) noexcept {
  if (output < counters_.size())
    counters_[output] = output_counters{};
}

} // namespace castor::packet
