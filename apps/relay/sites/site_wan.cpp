// The WAN side of the engine thread (site_loop.hpp): records batched into
// frames per peer and sent on the data socket; frames read from it,
// checked (MAC, duplicate window), delivered to the imports' outputs
// (site_lan.cpp) and, for spread = "log", forwarded on.

#include <algorithm>
#include <cstring>

#include "sites/site_loop.hpp"
#include "sites/site_spread.hpp"
#include <sys/socket.h>

namespace castor::relay::sites {

void site_engine::loop::send_to(std::size_t i, const std::vector<uint8_t>& buf,
                                uint64_t n) {
  auto& p = peers[i];
  auto rc = sendto(data_fd, buf.data(), buf.size(), MSG_DONTWAIT, p.addr.get(),
                   p.addr.length);
  if (rc < 0)
    p.c->drop(site_drop::send_error, n);
  else if (n > 0) {
    p.c->tx_frames.fetch_add(1, std::memory_order_relaxed);
    p.c->tx_datagrams.fetch_add(n, std::memory_order_relaxed);
    p.c->tx_bytes.fetch_add(buf.size(), std::memory_order_relaxed);
  }
}

void site_engine::loop::send_frame(std::size_t i) {
  auto& f = frames[i];
  if (f.empty())
    return;
  auto n = f.count();
  send_to(i, f.seal(peers[i].tx_key), n);
  f.clear();
}

void site_engine::loop::flush() {
  for (std::size_t i = 0; i < frames.size() && i < peers.size(); ++i)
    send_frame(i);
}

void site_engine::loop::enqueue(std::size_t i, const record_view& r,
                                const std::string* spread) {
  if (!frames[i].fits(r.len, spread))
    send_frame(i);
  frames[i].add(r.origin, r.seq, r.group_be, r.port, r.data, r.len, spread);
}

void site_engine::loop::read_data() {
  static thread_local uint8_t buf[65536];
  std::vector<record_view> records;
  for (int k = 0; k < 64; ++k) {
    sockaddr_storage from{};
    socklen_t len = sizeof(from);
    auto n = recvfrom(data_fd, buf, sizeof(buf), MSG_DONTWAIT,
                      reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0)
      return;
    std::size_t i = 0;
    while (i < peers.size() && !peers[i].addr.same(from))
      ++i;
    if (i == peers.size()) {
      eng.unknown_source_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    auto size = static_cast<std::size_t>(n);
    auto type = frame_type_of(buf, size);
    if (type == frame_type_ping || type == frame_type_pong) {
      on_probe(i, buf, size);
      continue;
    }
    auto& p = peers[i];
    uint64_t sender = 0;
    auto err = parse_frame(buf, size, p.rx_key, sender, records);
    if (err != frame_error::none) {
      p.c->drop(err == frame_error::auth ? site_drop::auth
                                         : site_drop::malformed);
      continue;
    }
    p.c->rx_frames.fetch_add(1, std::memory_order_relaxed);
    p.c->rx_bytes.fetch_add(size, std::memory_order_relaxed);
    p.c->rx_datagrams.fetch_add(records.size(), std::memory_order_relaxed);
    for (auto& r : records)
      deliver(i, r);
    // The records point into `buf`: out before the next frame comes in.
    emit_pending();
  }
}

bool site_engine::loop::fresh(peer_counters& c, const record_view& r) {
  if (r.origin == eng.incarnation_) {
    c.duplicates.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  auto w = dedup.find(r.origin);
  if (w == dedup.end()) {
    // Bounded: origins are per run of each site.
    if (dedup.size() >= 1024)
      dedup.erase(dedup.begin());
    w = dedup.emplace(r.origin, dedup_window{}).first;
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
  ipv4 g;
  g.be = r.group_be;
  auto route = routes.find({origin, site_group_key(g, r.port)});
  if (route == routes.end() || route->second.empty()) {
    // Not taken here: neither emitted nor forwarded (a site relays only
    // the groups an import of it takes from that origin).
    c.drop(site_drop::no_rule);
    return;
  }
  for (auto& t : route->second)
    emits.push_back(pending_emit{&t, r.data, r.len, &c});
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
