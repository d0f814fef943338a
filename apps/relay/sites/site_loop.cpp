// The engine thread of the cross-site data path (site_loop.hpp): the plan
// the control side hands over, the spreading plan, round-trip probes and
// the poll loop. The WAN side is site_wan.cpp, the LAN side site_lan.cpp.

#include "sites/site_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "model/rule_validator.hpp"
#include "sites/site_spread.hpp"
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace castor::relay::sites {

namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now().time_since_epoch())
      .count());
}

} // namespace

site_engine::loop::~loop() {
  for (auto& e : exports) {
    if (e.fd >= 0)
      close(e.fd);
    if (e.repair_fd >= 0)
      close(e.repair_fd);
  }
  for (auto fd : output_fds)
    close(fd);
}

std::size_t site_engine::loop::peer_index(const std::string& name) const {
  for (std::size_t i = 0; i < peers.size(); ++i)
    if (peers[i].name == name)
      return i;
  return peers.size();
}

void site_engine::loop::sync() {
  std::shared_ptr<plan> p;
  {
    std::lock_guard<std::mutex> guard{eng.mtx_};
    p = eng.plan_;
    version = eng.version_.load();
  }
  // Frames in progress go out to the peers they were built for.
  flush();
  self = p->self;
  peers = p->peers;
  frames.clear();
  for (std::size_t i = 0; i < peers.size(); ++i)
    frames.emplace_back(eng.incarnation_,
                        frame_capacity_for(peers[i].endpoint.v6));
  batches.assign(peers.size(), wan_batch{});
  sync_exports(*p);
  sync_imports(*p);
  open_missing(true);
}

void site_engine::loop::sync_exports(const plan& p) {
  // Keep the sockets of unchanged exports.
  std::vector<export_socket> next;
  for (auto& spec : p.exports) {
    export_socket s;
    s.spec = spec;
    s.key = site_group{spec.input.group, spec.input.port};
    for (auto& e : exports)
      if (e.spec == spec && e.fd >= 0) {
        s.fd = e.fd;
        e.fd = -1;
        s.repair_fd = e.repair_fd;
        e.repair_fd = -1;
        // The map's nodes move with it: last_publisher stays valid.
        s.publishers = std::move(e.publishers);
        s.last_origin = e.last_origin;
        s.last_publisher = e.last_publisher;
      }
    for (auto& name : spec.peers)
      if (auto i = peer_index(name); i < peers.size())
        s.peers.push_back(i);
    if (spec.spread == site_spread::log)
      s.hops = spread_hops(s.peers, s.key);
    next.push_back(std::move(s));
  }
  for (auto& e : exports) {
    if (e.fd >= 0)
      close(e.fd);
    if (e.repair_fd >= 0)
      close(e.repair_fd);
  }
  exports = std::move(next);
}

std::vector<std::pair<std::size_t, std::string>>
site_engine::loop::spread_hops(const std::vector<std::size_t>& listed,
                               const site_group& key) const {
  std::vector<std::size_t> live;
  for (auto i : listed)
    if (peers[i].up && peers[i].wants.count(key) > 0)
      live.push_back(i);
  return hops_over(live);
}

std::vector<std::pair<std::size_t, std::string>>
site_engine::loop::hops_over(const std::vector<std::size_t>& sites,
                             const std::string* origin) const {
  std::vector<std::pair<std::size_t, std::string>> out;
  for (auto& hop : spread_plan(sites.size())) {
    std::vector<std::string> share;
    for (auto k : hop.share)
      share.push_back(peers[sites[k]].name);
    out.emplace_back(sites[hop.target],
                     encode_spread(origin ? *origin : self, share));
  }
  return out;
}

void site_engine::loop::sync_imports(const plan& p) {
  if (imports != p.imports) {
    for (auto fd : output_fds)
      close(fd);
    output_fds.clear();
    imports = p.imports;
    import_targets.assign(imports.size(), {});
    for (std::size_t k = 0; k < imports.size(); ++k)
      for (auto& o : imports[k].outputs) {
        std::string why;
        auto fd = open_output(o, why);
        if (fd < 0) {
          spdlog::error("sites: rule '{}': cannot emit on {}: {}",
                        imports[k].name, o.interface, why);
          continue;
        }
        output_fds.push_back(fd);
        // A GSO segment must fit the interface's MTU (less the IP and
        // UDP headers: 28 bytes for IPv4, 48 for IPv6); when it cannot be
        // read, 1200 bytes, which fits any link that carries IPv6.
        auto mtu = interface_mtu(fd, o.interface);
        int headers = o.address.v6 ? 48 : 28;
        auto max_segment = static_cast<uint16_t>(
          mtu > headers ? std::min(mtu - headers, 65507) : 1200);
        import_targets[k].push_back(
          emit_target{fd, output_destination(o), max_segment});
      }
  }
  // Peers may have been renumbered: the index is rebuilt every time.
  routes.clear();
  for (std::size_t k = 0; k < imports.size(); ++k) {
    auto& imp = imports[k];
    auto& targets =
      routes[{peer_index(imp.peer), site_group{imp.group, imp.port}}].targets;
    targets.insert(targets.end(), import_targets[k].begin(),
                   import_targets[k].end());
  }
  sync_repairers();
}

void site_engine::loop::open_missing(bool log) {
  for (auto& e : exports)
    if (e.fd < 0) {
      std::string why;
      e.fd = open_export(e.spec, why);
      if (e.fd < 0 && log)
        spdlog::error("sites: rule '{}': cannot join {}: {} (retrying)",
                      e.spec.name, relay::to_string(e.spec.input), why);
    }
  next_retry = clock_type::now() + std::chrono::seconds{1};
}

void site_engine::loop::on_probe(std::size_t i, const uint8_t* buf,
                                 std::size_t size) {
  auto& p = peers[i];
  uint8_t type = 0;
  uint64_t stamp = 0;
  auto err = parse_probe(buf, size, p.rx_key, type, stamp);
  if (err != frame_error::none) {
    p.c->drop(err);
    return;
  }
  if (type == frame_type_ping) {
    if (p.up && !p.tx_key.empty())
      send_to(i,
              make_probe(frame_type_pong, eng.incarnation_, stamp, p.tx_key));
    return;
  }
  auto now = now_ns();
  if (stamp == 0 || stamp > now)
    return;
  // Smoothed as TCP does (RFC 6298): 7/8 of the old, 1/8 of the new.
  auto sample = now - stamp;
  auto old = p.c->rtt_ns.load(std::memory_order_relaxed);
  p.c->rtt_ns.store(old == 0 ? sample : (7 * old + sample) / 8,
                    std::memory_order_relaxed);
}

void site_engine::loop::probe() {
  for (std::size_t i = 0; i < peers.size(); ++i)
    if (peers[i].up && !peers[i].tx_key.empty())
      send_to(i, make_probe(frame_type_ping, eng.incarnation_, now_ns(),
                            peers[i].tx_key));
  next_probe = clock_type::now() + probe_interval;
}

void site_engine::loop::run() {
  std::vector<pollfd> fds;
  while (eng.running_.load()) {
    if (eng.version_.load() != version)
      sync();
    auto now = clock_type::now();
    if (now >= next_retry)
      open_missing(false);
    if (now >= next_probe)
      probe();
    fds.clear();
    fds.push_back(pollfd{eng.wake_fd_, POLLIN, 0});
    fds.push_back(pollfd{data_fd, POLLIN, 0});
    for (auto& e : exports)
      fds.push_back(pollfd{e.fd, POLLIN, 0}); // -1 is ignored by poll
    for (auto& e : exports)
      fds.push_back(pollfd{e.repair_fd, POLLIN, 0});
    for (auto& n : nak_sockets)
      fds.push_back(pollfd{n.target.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 100) <= 0)
      continue;
    if (fds[0].revents & POLLIN) {
      uint64_t x;
      static_cast<void>(read(eng.wake_fd_, &x, sizeof(x)));
    }
    if (fds[1].revents & POLLIN)
      read_data();
    auto at = std::size_t{2};
    for (auto& e : exports)
      if (fds[at++].revents & POLLIN)
        read_export(e, e.fd);
    for (auto& e : exports)
      if (fds[at++].revents & POLLIN)
        read_export(e, e.repair_fd);
    for (auto& n : nak_sockets)
      if (fds[at++].revents & POLLIN)
        read_naks(n);
    flush();
  }
}

void site_engine::run() {
  loop l(*this, data_fd_);
  l.enable_gro();
  l.run();
}

} // namespace castor::relay::sites
