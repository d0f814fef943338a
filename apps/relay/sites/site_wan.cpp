// The WAN side of the engine thread (site_loop.hpp): records batched into
// frames per peer, frames batched per peer and sent on the data socket
// (runs of equal sizes as one UDP GSO send); frames read from it
// (recvmmsg, UDP_GRO), checked (MAC, duplicate window), delivered to the
// imports' outputs (site_lan.cpp) and, for spread = "log", forwarded on.

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sites/site_loop.hpp"
#include "sites/site_spread.hpp"
#include <netinet/udp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace castor::relay::sites {

namespace {

/// The largest frame a GSO send to a peer may carry: what a frame holds on
/// a 1500-byte path of the peer's family. Larger frames go one by one.
std::size_t max_wan_segment(const socket_address& to) {
  return frame_capacity_for(to.storage.ss_family == AF_INET6);
}

} // namespace

void site_engine::loop::enable_gro() {
  // A kernel without UDP_GRO hands over frames one by one, as before.
  int one = 1;
  static_cast<void>(
    setsockopt(data_fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one)));
}

void site_engine::loop::send_to(std::size_t i,
                                const std::vector<uint8_t>& buf) {
  // A probe the kernel refuses is one round-trip sample fewer; nothing to
  // count.
  auto& p = peers[i];
  static_cast<void>(sendto(data_fd, buf.data(), buf.size(), MSG_DONTWAIT,
                           p.addr.get(), p.addr.length));
}

void site_engine::loop::send_frame(std::size_t i) {
  auto& f = frames[i];
  if (f.empty())
    return;
  auto n = f.count();
  const auto& frame = f.seal(peers[i].tx_key);
  auto& b = batches[i];
  if (b.sizes.size() >= batch_frames
      || b.bytes.size() + frame.size() > batch_bytes)
    send_batch(i);
  b.bytes.insert(b.bytes.end(), frame.begin(), frame.end());
  b.sizes.push_back(static_cast<uint32_t>(frame.size()));
  b.datagrams.push_back(static_cast<uint32_t>(n));
  f.clear();
}

void site_engine::loop::send_singly(std::size_t i, std::size_t first,
                                    std::size_t count) {
  auto& p = peers[i];
  auto& b = batches[i];
  std::size_t at = 0;
  for (std::size_t k = 0; k < first; ++k)
    at += b.sizes[k];
  for (auto k = first; k < first + count; ++k) {
    if (sendto(data_fd, b.bytes.data() + at, b.sizes[k], MSG_DONTWAIT,
               p.addr.get(), p.addr.length)
        < 0)
      p.c->drop(site_drop::send_error, b.datagrams[k]);
    else {
      p.c->tx_frames.fetch_add(1, std::memory_order_relaxed);
      p.c->tx_datagrams.fetch_add(b.datagrams[k], std::memory_order_relaxed);
      p.c->tx_bytes.fetch_add(b.sizes[k], std::memory_order_relaxed);
    }
    at += b.sizes[k];
  }
}

void site_engine::loop::send_batch(std::size_t i) {
  auto& p = peers[i];
  auto& b = batches[i];
  auto n = b.sizes.size();
  if (n == 0)
    return;
  // No reallocation while messages point into these.
  wan_msgs.clear();
  wan_iov.clear();
  wan_ctl.clear();
  wan_first.clear();
  wan_count.clear();
  wan_msgs.reserve(n);
  wan_iov.reserve(n);
  wan_ctl.reserve(n);
  auto max_segment = max_wan_segment(p.addr);
  std::size_t at = 0;
  for (std::size_t k = 0; k < n;) {
    // Equal sizes, and one shorter last (the kernel's rule for a GSO
    // send); the batch's bounds keep it within 64 segments and 64 KiB.
    auto j = k + 1;
    std::size_t total = b.sizes[k];
    if (b.gso && b.sizes[k] <= max_segment)
      while (j < n && b.sizes[j] <= b.sizes[k]) {
        total += b.sizes[j];
        if (b.sizes[j++] < b.sizes[k])
          break;
      }
    wan_msgs.emplace_back();
    auto& h = wan_msgs.back().msg_hdr;
    h.msg_name = const_cast<sockaddr*>(p.addr.get());
    h.msg_namelen = p.addr.length;
    wan_iov.push_back(iovec{b.bytes.data() + at, total});
    h.msg_iov = &wan_iov.back();
    h.msg_iovlen = 1;
    if (j - k > 1) {
      wan_ctl.emplace_back();
      h.msg_control = wan_ctl.back().data();
      h.msg_controllen = wan_ctl.back().size();
      auto* cm = CMSG_FIRSTHDR(&h);
      cm->cmsg_level = IPPROTO_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      auto segment = static_cast<uint16_t>(b.sizes[k]);
      std::memcpy(CMSG_DATA(cm), &segment, sizeof(segment));
    }
    wan_first.push_back(k);
    wan_count.push_back(j - k);
    at += total;
    k = j;
  }
  std::size_t sent = 0;
  while (sent < wan_msgs.size()) {
    auto rc =
      sendmmsg(data_fd, wan_msgs.data() + sent,
               static_cast<unsigned>(wan_msgs.size() - sent), MSG_DONTWAIT);
    auto done = rc > 0 ? static_cast<std::size_t>(rc) : 0;
    for (auto m = sent; m < sent + done; ++m) {
      uint64_t datagrams = 0;
      for (auto k = wan_first[m]; k < wan_first[m] + wan_count[m]; ++k)
        datagrams += b.datagrams[k];
      p.c->tx_frames.fetch_add(wan_count[m], std::memory_order_relaxed);
      p.c->tx_datagrams.fetch_add(datagrams, std::memory_order_relaxed);
      p.c->tx_bytes.fetch_add(wan_iov[m].iov_len, std::memory_order_relaxed);
    }
    sent += done;
    if (rc > 0)
      continue;
    // The message at `sent` failed. A refused GSO send goes out frame by
    // frame (and GSO stays off for this peer: a path whose MTU is below
    // 1500, a kernel or device without UDP segmentation); any other
    // failure (a full socket buffer, no route) drops its frames.
    auto first = wan_first[sent];
    auto count = wan_count[sent];
    if (count > 1 && (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP)) {
      spdlog::warn("sites: UDP GSO to peer {} refused ({}); sending its "
                   "frames one by one",
                   p.name, errno_text());
      b.gso = false;
      send_singly(i, first, count);
    } else {
      uint64_t datagrams = 0;
      for (auto k = first; k < first + count; ++k)
        datagrams += b.datagrams[k];
      p.c->drop(site_drop::send_error, datagrams);
    }
    ++sent;
  }
  b.bytes.clear();
  b.sizes.clear();
  b.datagrams.clear();
}

void site_engine::loop::flush() {
  for (std::size_t i = 0; i < frames.size() && i < peers.size(); ++i) {
    send_frame(i);
    send_batch(i);
  }
}

void site_engine::loop::enqueue(std::size_t i, const record_view& r,
                                const std::string* spread) {
  if (!frames[i].fits(r.len, r.group, spread))
    send_frame(i);
  frames[i].add(r, spread);
}

void site_engine::loop::read_data() {
  auto& sl = *data_in;
  for (int round = 0; round < 4; ++round) {
    for (unsigned k = 0; k < batch_in; ++k) {
      sl.iov[k] = iovec{sl.bufs.data() + k * 65536, 65536};
      sl.msgs[k] = mmsghdr{};
      auto& h = sl.msgs[k].msg_hdr;
      h.msg_iov = &sl.iov[k];
      h.msg_iovlen = 1;
      h.msg_name = &sl.from[k];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_control = sl.ctl[k].data();
      h.msg_controllen = sl.ctl[k].size();
    }
    auto got =
      recvmmsg(data_fd, sl.msgs.data(), batch_in, MSG_DONTWAIT, nullptr);
    if (got <= 0)
      return;
    for (int k = 0; k < got; ++k) {
      auto& h = sl.msgs[k].msg_hdr;
      const auto* buf = sl.bufs.data() + k * 65536;
      std::size_t size = sl.msgs[k].msg_len;
      // With UDP_GRO, one read may hold several frames of one sender, cut
      // at `segment` bytes (the last may be shorter).
      std::size_t segment = size;
      for (auto* cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(&h, cm))
        if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
          int gro = 0;
          std::memcpy(&gro, CMSG_DATA(cm), sizeof(gro));
          if (gro > 0)
            segment = static_cast<std::size_t>(gro);
        }
      std::size_t i = 0;
      while (i < peers.size() && !peers[i].addr.same(sl.from[k]))
        ++i;
      std::size_t at = 0;
      do { // once at least: an empty datagram is a malformed frame
        auto part = std::min(segment, size - at);
        if (i == peers.size())
          eng.unknown_source_.fetch_add(1, std::memory_order_relaxed);
        else
          on_frame(i, buf + at, part);
        at += part;
      } while (at < size);
    }
    // The records point into the slots: out before the next read.
    emit_pending();
    if (static_cast<unsigned>(got) < batch_in)
      return;
  }
}

void site_engine::loop::on_frame(std::size_t i, const uint8_t* buf,
                                 std::size_t size) {
  auto type = frame_type_of(buf, size);
  if (type == frame_type_ping || type == frame_type_pong) {
    on_probe(i, buf, size);
    return;
  }
  auto& p = peers[i];
  uint64_t sender = 0;
  auto err = parse_frame(buf, size, p.rx_key, sender, records);
  if (err != frame_error::none) {
    p.c->drop(err);
    return;
  }
  p.c->rx_frames.fetch_add(1, std::memory_order_relaxed);
  p.c->rx_bytes.fetch_add(size, std::memory_order_relaxed);
  if (type == frame_type_nak) {
    for (auto& r : records)
      on_upstream(i, r);
    return;
  }
  p.c->rx_datagrams.fetch_add(records.size(), std::memory_order_relaxed);
  for (auto& r : records)
    deliver(i, r);
}

bool site_engine::loop::fresh(peer_counters& c, const record_view& r) {
  if (r.origin == eng.incarnation_) {
    c.duplicates.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return first_time(dedup, c, r);
}

bool site_engine::loop::first_time(std::map<uint64_t, dedup_window>& windows,
                                   peer_counters& c, const record_view& r) {
  auto w = windows.find(r.origin);
  if (w == windows.end()) {
    // Bounded: origins are per run of each site.
    if (windows.size() >= 1024)
      windows.erase(windows.begin());
    w = windows.emplace(r.origin, dedup_window{}).first;
  }
  switch (w->second.check(r.seq)) {
  case dedup_window::verdict::duplicate:
    c.duplicates.fetch_add(1, std::memory_order_relaxed);
    return false;
  case dedup_window::verdict::stale:
    c.drop(site_drop::stale);
    return false;
  case dedup_window::verdict::fresh:
    break;
  }
  return true;
}

void site_engine::loop::deliver(std::size_t i, const record_view& r) {
  auto& c = *peers[i].c;
  // A record with a spread block names its origin site, which may be
  // another than the peer that sent it; without one, the sender is the
  // origin.
  auto origin = i;
  std::string origin_name;
  std::vector<std::string> share;
  if (r.spread) {
    if (!decode_spread(r.spread, r.spread_len, origin_name, share)) {
      c.drop(site_drop::malformed);
      return;
    }
    origin = peer_index(origin_name);
  }
  if (!fresh(c, r))
    return;
  auto route = routes.find({origin, site_group{r.group, r.port}});
  if (route == routes.end() || route->second.targets.empty()) {
    // Not taken here: neither emitted nor forwarded (a site relays only
    // the groups an import of it takes from that origin).
    c.drop(site_drop::no_rule);
    return;
  }
  for (auto& t : route->second.targets)
    emits.push_back(pending_emit{&t, r.data, r.len, &c});
  if (route->second.repair)
    route->second.repair->keep(r.data, r.len);
  if (!share.empty())
    forward(i, origin, origin_name, r, share);
}

void site_engine::loop::forward(std::size_t from, std::size_t origin,
                                const std::string& origin_name,
                                const record_view& r,
                                const std::vector<std::string>& share) {
  std::vector<std::size_t> live;
  for (auto& name : share) {
    auto j = peer_index(name);
    if (j == peers.size() || j == from || j == origin
        || std::find(live.begin(), live.end(), j) != live.end())
      continue;
    if (peers[j].up)
      live.push_back(j);
    else
      peers[j].c->drop(site_drop::peer_down);
  }
  for (auto& [j, block] : hops_over(live, &origin_name))
    enqueue(j, r, &block);
}

} // namespace castor::relay::sites
