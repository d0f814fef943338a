// castor::bus repair across sites, on the engine thread (site_loop.hpp).
// The importing side: a repairer per repairing import (site_bus_repair.hpp)
// answers the NAKs its subscribers send the import's output sockets, and
// sends what it lacks up to the exporting site in NAK frames. The exporting
// side: hands those NAKs to the publisher, whose address it learned from
// the datagrams it exported.

#include <algorithm>
#include <cerrno>

#include "sites/site_loop.hpp"
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "castor/bus/wire.hpp"

namespace castor::relay::sites {

void site_engine::loop::sync_repairers() {
  decltype(repairers) next;
  nak_sockets.clear();
  for (std::size_t k = 0; k < imports.size(); ++k) {
    auto& imp = imports[k];
    if (!imp.bus_repair)
      continue;
    site_group key{imp.group, imp.port};
    std::pair<std::string, site_group> id{imp.peer, key};
    auto& r = next[id];
    if (!r) {
      auto old = repairers.find(id);
      r = old != repairers.end() && old->second
            ? std::move(old->second)
            : std::make_unique<bus_repairer>();
    }
    if (auto route = routes.find({peer_index(imp.peer), key});
        route != routes.end())
      route->second.repair = r.get();
    for (auto& t : import_targets[k])
      nak_sockets.push_back(nak_socket{t, r.get(), imp.peer, key});
  }
  repairers = std::move(next);
}

void site_engine::loop::read_naks(nak_socket& s) {
  auto i = peer_index(s.peer);
  if (i == peers.size())
    return; // the import's peer is gone: the next sync drops the socket
  auto& c = *peers[i].c;
  std::array<uint8_t, 2048> buf;
  // A bounded turn: a flood of NAKs cannot starve the data path.
  for (int k = 0; k < 64; ++k) {
    auto n = recv(s.target.fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0)
      return;
    if (!s.repair->on_nak(buf.data(), static_cast<std::size_t>(n),
                          clock_type::now(), repair_answer))
      continue;
    auto& a = repair_answer;
    // The NCF first, so that the other subscribers hold their NAKs back
    // before the repairs reach them.
    if (!a.ncf.empty())
      emits.push_back(pending_emit{&s.target, a.ncf.data(),
                                   static_cast<uint16_t>(a.ncf.size()), &c});
    for (auto& [data, len] : a.repairs)
      emits.push_back(
        pending_emit{&s.target, data, static_cast<uint16_t>(len), &c});
    c.bus_repairs.fetch_add(a.repairs.size(), std::memory_order_relaxed);
    // Both point into the answer and the ring: out before the next NAK.
    emit_pending();
    for (auto& nak : a.upstream)
      send_upstream(i, s.key, nak);
  }
}

void site_engine::loop::send_upstream(std::size_t i, const site_group& key,
                                      const std::vector<uint8_t>& nak) {
  auto& p = peers[i];
  if (!p.up || p.tx_key.empty()) {
    p.c->drop(site_drop::peer_down);
    return;
  }
  frame_builder f{eng.incarnation_, frame_capacity_for(p.endpoint.v6),
                  frame_type_nak};
  record_view r;
  r.origin = eng.incarnation_;
  r.seq = ++nak_seq;
  r.group = key.group;
  r.port = key.port;
  r.data = nak.data();
  r.len = static_cast<uint16_t>(nak.size());
  f.add(r);
  send_to(i, f.seal(p.tx_key));
  p.c->bus_naks_up.fetch_add(1, std::memory_order_relaxed);
}

void site_engine::loop::on_upstream(std::size_t i, const record_view& r) {
  using namespace castor::bus;
  auto& c = *peers[i].c;
  auto h = decode_header(r.data, r.len);
  if (!h || h->type != msg_type::nak || !range_count(r.data, r.len)) {
    c.drop(site_drop::malformed);
    return;
  }
  // Each NAK record once, as data records are (a replayed frame MACs
  // fine): its own window per sender, apart from the data's, since the
  // sender numbers its NAKs on their own.
  if (!first_time(nak_dedup, c, r))
    return;
  // Only an export to that peer of that group: a peer cannot make this
  // site send to publishers of groups it is not given. Two exports of the
  // group (two interfaces) may both list the peer: the one that heard the
  // publisher answers.
  site_group key{r.group, r.port};
  for (auto& e : exports) {
    if (!(e.key == key)
        || std::find(e.peers.begin(), e.peers.end(), i) == e.peers.end())
      continue;
    auto pub = e.publishers.find(h->origin);
    if (pub == e.publishers.end())
      continue;
    if (e.repair_fd < 0) {
      std::string why;
      e.repair_fd = open_repair(e.spec, why);
      if (e.repair_fd < 0) {
        if (!e.repair_warned)
          spdlog::warn("sites: rule '{}': cannot open a socket for bus "
                       "NAKs: {} (counted as emit_error from now on)",
                       e.spec.name, why);
        e.repair_warned = true;
        c.drop(site_drop::emit_error);
        return;
      }
    }
    if (sendto(e.repair_fd, r.data, r.len, MSG_DONTWAIT, pub->second.get(),
               pub->second.length)
        < 0)
      c.drop(site_drop::emit_error);
    else
      c.bus_naks_in.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  c.drop(site_drop::no_publisher);
}

void site_engine::loop::learn_publisher(export_socket& e,
                                        const sockaddr_storage& from,
                                        const uint8_t* data, std::size_t n) {
  // A publisher's data and heartbeats name it (the header's origin). The
  // address is looked up only when the origin or its address changes: a
  // restarted publisher keeps its origin and binds a new port, as the
  // subscribers' NAKs follow it too.
  using namespace castor::bus;
  auto h = decode_header(data, n);
  if (!h || (h->type != msg_type::data && h->type != msg_type::heartbeat))
    return;
  auto origin = h->origin;
  if (origin == e.last_origin && e.last_publisher != nullptr
      && e.last_publisher->same(from))
    return;
  // Bounded: publishers come and go with their runs.
  if (e.publishers.size() >= 1024 && e.publishers.count(origin) == 0) {
    if (e.last_publisher == &e.publishers.begin()->second)
      e.last_publisher = nullptr;
    e.publishers.erase(e.publishers.begin());
  }
  auto& to = e.publishers[origin];
  to = socket_address::of(from);
  e.last_origin = origin;
  e.last_publisher = &to;
}

bool site_engine::loop::from_publisher(const export_socket& e,
                                       const sockaddr_storage& from) {
  for (auto& [origin, addr] : e.publishers)
    if (addr.same(from))
      return true;
  return false;
}

} // namespace castor::relay::sites
