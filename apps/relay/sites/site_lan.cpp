// The LAN side of the engine thread (site_loop.hpp): exports read from
// their groups and handed to the WAN side (site_wan.cpp) as records; what
// peers sent emitted as multicast on the imports' outputs, batched.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "sites/site_loop.hpp"
#include <netinet/udp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace castor::relay::sites {

void site_engine::loop::read_export(export_socket& e, int fd) {
  auto& sl = *slots;
  for (int round = 0; round < 4; ++round) {
    for (unsigned k = 0; k < batch; ++k) {
      sl.iov[k] = iovec{sl.bufs.data() + k * 65536, 65536};
      sl.msgs[k] = mmsghdr{};
      sl.msgs[k].msg_hdr.msg_iov = &sl.iov[k];
      sl.msgs[k].msg_hdr.msg_iovlen = 1;
      sl.msgs[k].msg_hdr.msg_name = &sl.from[k];
      sl.msgs[k].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    auto got = recvmmsg(fd, sl.msgs.data(), batch, MSG_DONTWAIT, nullptr);
    if (got <= 0)
      return;
    for (int k = 0; k < got; ++k) {
      if (fd == e.repair_fd && !from_publisher(e, sl.from[k])) {
        eng.unknown_source_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      export_one(e, sl.from[k], sl.bufs.data() + k * 65536, sl.msgs[k].msg_len);
    }
    if (static_cast<unsigned>(got) < batch)
      return;
  }
}

void site_engine::loop::export_one(export_socket& e,
                                   const sockaddr_storage& from,
                                   const uint8_t* data, std::size_t n) {
  if (e.spec.input.source && !sent_by(from, *e.spec.input.source))
    return;
  learn_publisher(e, from, data, n);
  record_view r;
  r.origin = eng.incarnation_;
  r.seq = seq++;
  r.group = e.spec.input.group;
  r.port = e.spec.input.port;
  r.data = data;
  r.len = static_cast<uint16_t>(n);
  for (auto i : e.peers)
    if (!peers[i].up)
      peers[i].c->drop(site_drop::peer_down);
    else if (e.spec.spread == site_spread::all
             && peers[i].wants.count(e.key) > 0)
      enqueue(i, r);
  for (auto& [i, block] : e.hops)
    enqueue(i, r, &block);
}

void site_engine::loop::emit_pending() {
  // An import with several outputs, or several streams, queues its emits
  // interleaved (t1, t2, t1, t2...): grouped by socket and destination,
  // each socket gets one sendmmsg and each destination its GSO runs. The
  // sort is stable, so every destination keeps its datagrams' order; one
  // output's emits are sorted already and cost only the check.
  auto by_target = [](const pending_emit& a, const pending_emit& b) {
    return a.target->fd != b.target->fd ? a.target->fd < b.target->fd
                                        : std::less<>{}(a.target, b.target);
  };
  if (!std::is_sorted(emits.begin(), emits.end(), by_target))
    std::stable_sort(emits.begin(), emits.end(), by_target);
  std::size_t at = 0;
  while (at < emits.size()) {
    auto fd = emits[at].target->fd;
    auto end = at;
    while (end < emits.size() && emits[end].target->fd == fd)
      ++end;
    emit_run(fd, at, end);
    at = end;
  }
  emits.clear();
}

void site_engine::loop::add_message(std::size_t k, std::size_t j,
                                    std::size_t& used) {
  auto& x = emits[k];
  emit_msgs.emplace_back();
  auto& h = emit_msgs.back().msg_hdr;
  h.msg_name = const_cast<sockaddr*>(x.target->to.get());
  h.msg_namelen = x.target->to.length;
  if (j - k == 1) {
    emit_iov.push_back(iovec{const_cast<uint8_t*>(x.data), x.len});
  } else {
    auto* dst = gso_buf.data() + used;
    std::size_t total = 0;
    for (auto m = k; m < j; ++m) {
      std::memcpy(dst + total, emits[m].data, emits[m].len);
      total += emits[m].len;
    }
    used += total;
    emit_iov.push_back(iovec{dst, total});
    emit_ctl.emplace_back();
    h.msg_control = emit_ctl.back().data();
    h.msg_controllen = sizeof(control_space);
    auto* cm = CMSG_FIRSTHDR(&h);
    cm->cmsg_level = IPPROTO_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t size = x.len;
    std::memcpy(CMSG_DATA(cm), &size, sizeof(size));
  }
  h.msg_iov = &emit_iov.back();
  h.msg_iovlen = 1;
  emit_first.push_back(k);
  emit_count.push_back(static_cast<uint16_t>(j - k));
}

void site_engine::loop::emit_run(int fd, std::size_t at, std::size_t end) {
  auto n = end - at;
  // No reallocation while messages point into these.
  emit_msgs.clear();
  emit_iov.clear();
  emit_ctl.clear();
  emit_count.clear();
  emit_first.clear();
  emit_msgs.reserve(n);
  emit_iov.reserve(n);
  emit_ctl.reserve(n);
  std::size_t used = 0;
  for (auto k = at; k < end;) {
    auto j = k + 1;
    if (gso) {
      // Equal sizes to one address, and one shorter last; within the
      // buffer (a batch's records fit it), 64 segments, 64 KiB and the
      // output's MTU.
      std::size_t total = emits[k].len;
      while (j < end && j - k < 64 && same_to(emits[j], emits[k])
             && emits[j].len <= emits[k].len && emits[k].len > 0
             && emits[k].len <= emits[k].target->max_segment
             && total + emits[j].len <= max_gso_bytes
             && used + total + emits[j].len <= gso_buf.size()) {
        total += emits[j].len;
        if (emits[j++].len < emits[k].len)
          break;
      }
    }
    add_message(k, j, used);
    k = j;
  }
  std::size_t sent = 0;
  while (sent < emit_msgs.size()) {
    auto rc =
      sendmmsg(fd, emit_msgs.data() + sent,
               static_cast<unsigned>(emit_msgs.size() - sent), MSG_DONTWAIT);
    if (rc > 0) {
      sent += static_cast<std::size_t>(rc);
      continue;
    }
    // A refused GSO send goes out one by one (and GSO stays off); any
    // other message that failed is dropped; the rest are tried again.
    auto first = emit_first[sent];
    auto count = emit_count[sent];
    if (count > 1 && (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP)) {
      spdlog::warn("sites: UDP GSO refused ({}); emitting one by one",
                   errno_text());
      gso = false;
      for (auto m = first; m < first + count; ++m)
        if (sendto(fd, emits[m].data, emits[m].len, MSG_DONTWAIT,
                   emits[m].target->to.get(), emits[m].target->to.length)
            < 0)
          emits[m].owner->drop(site_drop::emit_error);
    } else
      emits[first].owner->drop(site_drop::emit_error, count);
    ++sent;
  }
}

} // namespace castor::relay::sites
