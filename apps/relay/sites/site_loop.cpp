// The engine thread of the cross-site data path (site_engine.hpp): reads
// exports and the data socket, batches records into frames per peer,
// checks and emits what peers send, forwards spread = "log" shares and
// probes each peer's round-trip time. It owns every socket but the data
// socket, and reads the control side's plan when its version changes.

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>

#include "model/rule_validator.hpp"
#include "sites/site_engine_state.hpp"
#include "sites/site_frame.hpp"
#include "sites/site_spread.hpp"
#include <netinet/udp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::relay::sites {

namespace {

using clock_type = std::chrono::steady_clock;

uint64_t now_ns() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      clock_type::now().time_since_epoch())
      .count());
}

} // namespace

struct site_engine::loop {
  struct export_socket {
    site_export spec;
    int fd = -1;
    std::vector<std::size_t> peers; ///< indexes into `peers`
    site_group key;
    /// spread = "log": the peers this site sends to and the spread block
    /// each gets (whom it forwards to), planned over the listed peers that
    /// are up and want the group.
    std::vector<std::pair<std::size_t, std::string>> hops;
  };
  struct emit_target {
    int fd;
    socket_address to;
  };

  loop(site_engine& e, int fd) : eng(e), data_fd(fd) {}

  site_engine& eng;
  int data_fd;
  uint64_t version = ~uint64_t{0};
  std::string self;
  std::vector<peer_state> peers;
  std::vector<frame_builder> frames;
  std::vector<export_socket> exports;
  std::vector<site_import> imports;
  std::vector<int> output_fds;
  std::vector<std::vector<emit_target>> import_targets;
  /// (peer index, group) -> where to emit.
  std::map<std::pair<std::size_t, site_group>, std::vector<emit_target>> routes;
  std::map<uint64_t, dedup_window> dedup;
  uint64_t seq = 0;
  clock_type::time_point next_retry{};
  clock_type::time_point next_probe{};

  ~loop() {
    for (auto& e : exports)
      if (e.fd >= 0)
        close(e.fd);
    for (auto fd : output_fds)
      close(fd);
  }

  std::size_t peer_index(const std::string& name) const {
    for (std::size_t i = 0; i < peers.size(); ++i)
      if (peers[i].name == name)
        return i;
    return peers.size();
  }

  void sync() {
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
    sync_exports(*p);
    sync_imports(*p);
    open_missing(true);
  }

  void sync_exports(const plan& p) {
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
        }
      for (auto& name : spec.peers)
        if (auto i = peer_index(name); i < peers.size())
          s.peers.push_back(i);
      if (spec.spread == site_spread::log)
        s.hops = spread_hops(s.peers, s.key);
      next.push_back(std::move(s));
    }
    for (auto& e : exports)
      if (e.fd >= 0)
        close(e.fd);
    exports = std::move(next);
  }

  /// The origin's plan for a spread = "log" export: over the listed peers
  /// that are up and asked for the group, in the listed order.
  std::vector<std::pair<std::size_t, std::string>>
  spread_hops(const std::vector<std::size_t>& listed,
              const site_group& key) const {
    std::vector<std::size_t> live;
    for (auto i : listed)
      if (peers[i].up && peers[i].wants.count(key) > 0)
        live.push_back(i);
    return hops_over(live);
  }

  /// The sends that cover `sites` (peer indexes), each with its block.
  std::vector<std::pair<std::size_t, std::string>>
  hops_over(const std::vector<std::size_t>& sites,
            const std::string* origin = nullptr) const {
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

  void sync_imports(const plan& p) {
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
          import_targets[k].push_back(emit_target{fd, output_destination(o)});
        }
    }
    // Peers may have been renumbered: the index is rebuilt every time.
    routes.clear();
    for (std::size_t k = 0; k < imports.size(); ++k) {
      auto& imp = imports[k];
      auto& targets =
        routes[{peer_index(imp.peer), site_group{imp.group, imp.port}}];
      targets.insert(targets.end(), import_targets[k].begin(),
                     import_targets[k].end());
    }
  }

  void open_missing(bool log) {
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

  void send_to(std::size_t i, const std::vector<uint8_t>& buf, uint64_t n) {
    auto& p = peers[i];
    auto rc = sendto(data_fd, buf.data(), buf.size(), MSG_DONTWAIT,
                     p.addr.get(), p.addr.length);
    if (rc < 0)
      p.c->drop(site_drop::send_error, n);
    else if (n > 0) {
      p.c->tx_frames.fetch_add(1, std::memory_order_relaxed);
      p.c->tx_datagrams.fetch_add(n, std::memory_order_relaxed);
      p.c->tx_bytes.fetch_add(buf.size(), std::memory_order_relaxed);
    }
  }

  void send_frame(std::size_t i) {
    auto& f = frames[i];
    if (f.empty())
      return;
    auto n = f.count();
    send_to(i, f.seal(peers[i].tx_key), n);
    f.clear();
  }

  void flush() {
    for (std::size_t i = 0; i < frames.size() && i < peers.size(); ++i)
      send_frame(i);
  }

  void enqueue(std::size_t i, const record_view& r,
               const std::string* spread = nullptr) {
    if (!frames[i].fits(r.len, r.group, spread))
      send_frame(i);
    frames[i].add(r, spread);
  }

  /// Up to `batch` datagrams per recvmmsg: one system call for a burst.
  static constexpr unsigned batch = 16;
  struct receive_slots {
    std::vector<uint8_t> bufs = std::vector<uint8_t>(batch * 65536);
    std::array<iovec, batch> iov{};
    std::array<sockaddr_storage, batch> from{};
    std::array<mmsghdr, batch> msgs{};
  };
  std::unique_ptr<receive_slots> slots = std::make_unique<receive_slots>();

  void read_export(export_socket& e) {
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
      auto got = recvmmsg(e.fd, sl.msgs.data(), batch, MSG_DONTWAIT, nullptr);
      if (got <= 0)
        return;
      for (int k = 0; k < got; ++k)
        export_one(e, sl.from[k], sl.bufs.data() + k * 65536,
                   sl.msgs[k].msg_len);
      if (static_cast<unsigned>(got) < batch)
        return;
    }
  }

  void export_one(export_socket& e, const sockaddr_storage& from,
                  const uint8_t* data, std::size_t n) {
    if (e.spec.input.source && !sent_by(from, *e.spec.input.source))
      return;
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

  void read_data() {
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
        p.c->drop(err);
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

  /// A datagram to emit locally, gathered per frame and sent with one
  /// sendmmsg per run of the same socket; a run of equal-sized datagrams
  /// to one address goes as one UDP GSO send (UDP_SEGMENT): the kernel
  /// cuts it into the datagrams, at a fraction of the cost per datagram.
  struct pending_emit {
    const emit_target* target;
    const uint8_t* data;
    uint16_t len;
    peer_counters* owner;
  };
  using control_space = std::array<char, CMSG_SPACE(sizeof(uint16_t))>;
  std::vector<pending_emit> emits;
  std::vector<mmsghdr> emit_msgs;
  std::vector<iovec> emit_iov;
  std::vector<control_space> emit_ctl;
  /// The first emit and the number of datagrams of each message.
  std::vector<std::size_t> emit_first;
  std::vector<uint16_t> emit_count;
  std::vector<uint8_t> gso_buf = std::vector<uint8_t>(65536);
  /// Off for good once the kernel refuses a GSO send.
  bool gso = true;
  /// Larger datagrams are emitted one by one: a GSO segment must fit the
  /// output's MTU, which the engine does not know (1280: IPv6's minimum).
  static constexpr uint16_t max_gso_segment = 1200;

  static bool same_to(const pending_emit& x, const pending_emit& y) {
    return x.target == y.target;
  }

  void emit_pending() {
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

  /// One message for emits [k, j): a GSO send, or a single datagram.
  void add_message(std::size_t k, std::size_t j, std::size_t& used) {
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

  void emit_run(int fd, std::size_t at, std::size_t end) {
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
        // buffer (a frame's records fit it) and 64 segments.
        std::size_t total = emits[k].len;
        while (j < end && j - k < 64 && same_to(emits[j], emits[k])
               && emits[j].len <= emits[k].len && emits[k].len > 0
               && emits[k].len <= max_gso_segment
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
      if (count > 1
          && (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP)) {
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

  /// Whether the record is new here: each (origin, sequence number) is
  /// emitted (and forwarded) once.
  bool fresh(peer_counters& c, const record_view& r) {
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

  void deliver(std::size_t i, const record_view& r) {
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

  /// Sends `r` on to the sites of `share` this site reaches, halving the
  /// list again; a site of the share that is down here is left out and
  /// the rest of its part is covered by the others.
  void forward(std::size_t from, std::size_t origin,
               const std::string& origin_name, const record_view& r,
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

  void on_probe(std::size_t i, const uint8_t* buf, std::size_t size) {
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
        send_to(
          i, make_probe(frame_type_pong, eng.incarnation_, stamp, p.tx_key), 0);
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

  void probe() {
    for (std::size_t i = 0; i < peers.size(); ++i)
      if (peers[i].up && !peers[i].tx_key.empty())
        send_to(i,
                make_probe(frame_type_ping, eng.incarnation_, now_ns(),
                           peers[i].tx_key),
                0);
    next_probe = clock_type::now() + probe_interval;
  }

  void run() {
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
      if (poll(fds.data(), fds.size(), 100) <= 0)
        continue;
      if (fds[0].revents & POLLIN) {
        uint64_t x;
        static_cast<void>(read(eng.wake_fd_, &x, sizeof(x)));
      }
      if (fds[1].revents & POLLIN)
        read_data();
      for (std::size_t k = 0; k < exports.size(); ++k)
        if (fds[k + 2].revents & POLLIN)
          read_export(exports[k]);
      flush();
    }
  }
};

void site_engine::run() {
  loop l(*this, data_fd_);
  l.run();
}

} // namespace castor::relay::sites
