#include "sites/site_engine.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "model/rule_validator.hpp"
#include "sites/site_frame.hpp"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::relay::sites {

const char* to_string(site_drop x) {
  switch (x) {
  case site_drop::peer_down:
    return "peer_down";
  case site_drop::send_error:
    return "send_error";
  case site_drop::auth:
    return "auth";
  case site_drop::malformed:
    return "malformed";
  case site_drop::stale:
    return "stale";
  case site_drop::no_rule:
    return "no_rule";
  case site_drop::emit_error:
    return "emit_error";
  default:
    return "?";
  }
}

struct site_engine::peer_counters {
  std::atomic<uint64_t> tx_frames{0}, tx_datagrams{0}, tx_bytes{0};
  std::atomic<uint64_t> rx_frames{0}, rx_datagrams{0}, rx_bytes{0};
  std::atomic<uint64_t> duplicates{0}, reconnects{0};
  std::array<std::atomic<uint64_t>, site_drop_count> drops{};

  void drop(site_drop why, uint64_t n = 1) {
    drops[static_cast<std::size_t>(why)].fetch_add(n,
                                                   std::memory_order_relaxed);
  }
};

struct site_engine::peer_state {
  std::string name;
  sockaddr_in addr{};
  bool up = false;
  bool was_up = false;
  std::set<uint64_t> wants;
  std::string tx_key;
  std::string rx_key;
  std::shared_ptr<peer_counters> c;
};

struct site_engine::plan {
  std::vector<peer_state> peers;
  std::vector<site_export> exports;
  std::vector<site_import> imports;
};

namespace {

sockaddr_in to_sockaddr(ipv4 host, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = host.be;
  sa.sin_port = htons(port);
  return sa;
}

void big_buffers(int fd) {
  int size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

std::string errno_text() {
  return std::strerror(errno);
}

/// A non-blocking UDP socket for `interface`, whose index goes to
/// `ifindex`; -1 and `why` on failure.
int udp_socket_on(const std::string& interface, unsigned& ifindex,
                  std::string& why) {
  ifindex = if_nametoindex(interface.c_str());
  if (ifindex == 0) {
    why = "no interface " + interface;
    return -1;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    why = errno_text();
  return fd;
}

/// A socket joined to an export's group on its input interface; -1 and
/// `why` on failure.
int open_export(const site_export& e, std::string& why) {
  unsigned ifindex = 0;
  int fd = udp_socket_on(e.input.interface, ifindex, why);
  if (fd < 0)
    return -1;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
  big_buffers(fd);
  auto sa = to_sockaddr(e.input.group.v4(), e.input.port);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  if (ok && e.input.source) {
    group_source_req req{};
    req.gsr_interface = ifindex;
    auto g = to_sockaddr(e.input.group.v4(), 0);
    auto s = to_sockaddr(e.input.source->v4(), 0);
    std::memcpy(&req.gsr_group, &g, sizeof(g));
    std::memcpy(&req.gsr_source, &s, sizeof(s));
    ok = setsockopt(fd, IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP, &req, sizeof(req))
         == 0;
  } else if (ok) {
    ip_mreqn req{};
    req.imr_multiaddr.s_addr = e.input.group.v4_be();
    req.imr_ifindex = static_cast<int>(ifindex);
    ok = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof(req)) == 0;
  }
  if (!ok) {
    why = errno_text();
    close(fd);
    return -1;
  }
  return fd;
}

/// A socket that emits an import's output; never loops back to this host,
/// so a local export of the same group cannot send it on to peers.
int open_output(const rule_output& o, std::string& why) {
  unsigned ifindex = 0;
  int fd = udp_socket_on(o.interface, ifindex, why);
  if (fd < 0)
    return -1;
  int one = 1, zero = 0;
  int ttl = o.ttl_decrement ? 1 : o.ttl;
  int tos = o.tos_preserve ? 0 : o.tos;
  ip_mreqn req{};
  req.imr_ifindex = static_cast<int>(ifindex);
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &req, sizeof(req));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
  setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof(zero));
  big_buffers(fd);
  if (o.source_port != 0) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    auto sa = to_sockaddr(ipv4{}, o.source_port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      why = errno_text();
      close(fd);
      return -1;
    }
  }
  return fd;
}

std::string random_key() {
  std::string key(32, '\0');
  std::size_t got = 0;
  while (got < key.size()) {
    auto n = getrandom(key.data() + got, key.size() - got, 0);
    if (n > 0)
      got += static_cast<std::size_t>(n);
  }
  return key;
}

} // namespace

// -- the engine thread ----------------------------------------------------------

struct site_engine::loop {
  struct export_socket {
    site_export spec;
    int fd = -1;
    std::vector<std::size_t> peers; ///< indexes into `peers`
    uint64_t key = 0;
  };
  struct emit_target {
    int fd;
    sockaddr_in to;
  };

  loop(site_engine& e, int fd) : eng(e), data_fd(fd) {}

  site_engine& eng;
  int data_fd;
  uint64_t version = ~uint64_t{0};
  std::vector<peer_state> peers;
  std::vector<frame_builder> frames;
  std::vector<export_socket> exports;
  std::vector<site_import> imports;
  std::vector<int> output_fds;
  std::vector<std::vector<emit_target>> import_targets;
  /// (peer index, group key) -> where to emit.
  std::map<std::pair<std::size_t, uint64_t>, std::vector<emit_target>> routes;
  std::map<uint64_t, dedup_window> dedup;
  uint64_t seq = 0;
  std::chrono::steady_clock::time_point next_retry{};

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
    peers = p->peers;
    frames.clear();
    for (std::size_t i = 0; i < peers.size(); ++i)
      frames.emplace_back(eng.incarnation_);
    // Exports: keep the sockets of unchanged ones.
    std::vector<export_socket> next;
    for (auto& spec : p->exports) {
      export_socket s;
      s.spec = spec;
      s.key = site_group_key(spec.input.group.v4(), spec.input.port);
      for (auto& e : exports)
        if (e.spec == spec && e.fd >= 0) {
          s.fd = e.fd;
          e.fd = -1;
        }
      for (auto& name : spec.peers)
        if (auto i = peer_index(name); i < peers.size())
          s.peers.push_back(i);
      next.push_back(std::move(s));
    }
    for (auto& e : exports)
      if (e.fd >= 0)
        close(e.fd);
    exports = std::move(next);
    if (imports != p->imports) {
      for (auto fd : output_fds)
        close(fd);
      output_fds.clear();
      imports = p->imports;
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
          import_targets[k].push_back(
            emit_target{fd, to_sockaddr(o.address.v4(), o.port)});
        }
    }
    // Peers may have been renumbered: the index is rebuilt every time.
    routes.clear();
    for (std::size_t k = 0; k < imports.size(); ++k) {
      auto& imp = imports[k];
      auto& targets =
        routes[{peer_index(imp.peer), site_group_key(imp.group, imp.port)}];
      targets.insert(targets.end(), import_targets[k].begin(),
                     import_targets[k].end());
    }
    open_missing(true);
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
    next_retry = std::chrono::steady_clock::now() + std::chrono::seconds{1};
  }

  void send_frame(std::size_t i) {
    auto& f = frames[i];
    if (f.empty())
      return;
    auto& p = peers[i];
    auto n = f.count();
    const auto& buf = f.seal(p.tx_key);
    auto rc =
      sendto(data_fd, buf.data(), buf.size(), MSG_DONTWAIT,
             reinterpret_cast<const sockaddr*>(&p.addr), sizeof(p.addr));
    if (rc < 0)
      p.c->drop(site_drop::send_error, n);
    else {
      p.c->tx_frames.fetch_add(1, std::memory_order_relaxed);
      p.c->tx_datagrams.fetch_add(n, std::memory_order_relaxed);
      p.c->tx_bytes.fetch_add(buf.size(), std::memory_order_relaxed);
    }
    f.clear();
  }

  void flush() {
    for (std::size_t i = 0; i < frames.size() && i < peers.size(); ++i)
      send_frame(i);
  }

  void read_export(export_socket& e) {
    uint8_t buf[65536];
    for (int k = 0; k < 64; ++k) {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      auto n = recvfrom(e.fd, buf, sizeof(buf), MSG_DONTWAIT,
                        reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0)
        return;
      if (e.spec.input.source
          && from.sin_addr.s_addr != e.spec.input.source->v4_be())
        continue;
      auto s = seq++;
      for (auto i : e.peers) {
        auto& p = peers[i];
        if (!p.up) {
          p.c->drop(site_drop::peer_down);
          continue;
        }
        if (p.wants.count(e.key) == 0)
          continue;
        auto size = static_cast<std::size_t>(n);
        if (!frames[i].fits(size))
          send_frame(i);
        frames[i].add(eng.incarnation_, s, e.spec.input.group.v4_be(),
                      e.spec.input.port, buf, static_cast<uint16_t>(size));
      }
    }
  }

  void read_data() {
    static thread_local uint8_t buf[65536];
    std::vector<record_view> records;
    for (int k = 0; k < 64; ++k) {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      auto n = recvfrom(data_fd, buf, sizeof(buf), MSG_DONTWAIT,
                        reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0)
        return;
      std::size_t i = 0;
      while (i < peers.size()
             && (peers[i].addr.sin_addr.s_addr != from.sin_addr.s_addr
                 || peers[i].addr.sin_port != from.sin_port))
        ++i;
      if (i == peers.size()) {
        eng.unknown_source_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      auto& p = peers[i];
      uint64_t sender = 0;
      auto err = parse_frame(buf, static_cast<std::size_t>(n), p.rx_key, sender,
                             records);
      if (err != frame_error::none) {
        p.c->drop(err == frame_error::auth ? site_drop::auth
                                           : site_drop::malformed);
        continue;
      }
      p.c->rx_frames.fetch_add(1, std::memory_order_relaxed);
      p.c->rx_bytes.fetch_add(static_cast<uint64_t>(n),
                              std::memory_order_relaxed);
      p.c->rx_datagrams.fetch_add(records.size(), std::memory_order_relaxed);
      for (auto& r : records)
        deliver(i, r);
    }
  }

  void deliver(std::size_t i, const record_view& r) {
    auto& c = *peers[i].c;
    if (r.origin == eng.incarnation_) {
      c.duplicates.fetch_add(1, std::memory_order_relaxed);
      return;
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
      return;
    case dedup_window::verdict::stale:
      c.drop(site_drop::stale);
      return;
    case dedup_window::verdict::fresh:
      break;
    }
    ipv4 g;
    g.be = r.group_be;
    auto route = routes.find({i, site_group_key(g, r.port)});
    if (route == routes.end() || route->second.empty()) {
      c.drop(site_drop::no_rule);
      return;
    }
    for (auto& t : route->second)
      if (sendto(t.fd, r.data, r.len, MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&t.to), sizeof(t.to))
          < 0)
        c.drop(site_drop::emit_error);
  }

  void run() {
    std::vector<pollfd> fds;
    while (eng.running_.load()) {
      if (eng.version_.load() != version)
        sync();
      if (std::chrono::steady_clock::now() >= next_retry)
        open_missing(false);
      fds.clear();
      fds.push_back(pollfd{eng.wake_fd_, POLLIN, 0});
      fds.push_back(pollfd{data_fd, POLLIN, 0});
      for (auto& e : exports)
        fds.push_back(pollfd{e.fd, POLLIN, 0}); // -1 is ignored by poll
      if (poll(fds.data(), fds.size(), 200) <= 0)
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

// -- the control side -----------------------------------------------------------

site_engine::site_engine(uint64_t incarnation)
    : incarnation_(incarnation), plan_(std::make_shared<plan>()) {}

site_engine::~site_engine() {
  stop();
}

std::string site_engine::start(const site_endpoint& listen) {
  data_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (data_fd_ < 0)
    return "data socket: " + errno_text();
  big_buffers(data_fd_);
  auto sa = to_sockaddr(listen.host, listen.port);
  if (bind(data_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    auto why = "cannot bind UDP " + listen.to_string() + ": " + errno_text();
    close(data_fd_);
    data_fd_ = -1;
    return why;
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  running_ = true;
  thread_ = std::thread([this] {
    loop l(*this, data_fd_);
    l.run();
  });
  return {};
}

void site_engine::stop() {
  if (running_.exchange(false)) {
    bump();
    thread_.join();
  }
  if (data_fd_ >= 0)
    close(data_fd_);
  if (wake_fd_ >= 0)
    close(wake_fd_);
  data_fd_ = wake_fd_ = -1;
}

void site_engine::bump() {
  version_.fetch_add(1);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    static_cast<void>(write(wake_fd_, &one, sizeof(one)));
  }
}

std::string site_engine::rx_key(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& k = rx_keys_[name];
  if (k.empty())
    k = random_key();
  return k;
}

void site_engine::configure(const sites_config& config) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto next = std::make_shared<plan>();
    for (auto& ps : config.peers) {
      peer_state p;
      p.name = ps.name;
      p.addr = to_sockaddr(ps.address.host, ps.address.port);
      for (auto& old : plan_->peers)
        if (old.name == ps.name) {
          p.up = old.up;
          p.was_up = old.was_up;
          p.wants = old.wants;
          p.tx_key = old.tx_key;
        }
      auto& c = counters_[ps.name];
      if (!c)
        c = std::make_shared<peer_counters>();
      p.c = c;
      auto& k = rx_keys_[ps.name];
      if (k.empty())
        k = random_key();
      p.rx_key = k;
      next->peers.push_back(std::move(p));
    }
    for (auto i = counters_.begin(); i != counters_.end();)
      if (!config.find_peer(i->first))
        i = counters_.erase(i);
      else
        ++i;
    next->exports = config.exports;
    next->imports = config.imports;
    plan_ = std::move(next);
  }
  bump();
}

void site_engine::set_interest(const std::string& name,
                               std::vector<uint64_t> groups,
                               std::string tx_key) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto next = std::make_shared<plan>(*plan_);
    for (auto& p : next->peers)
      if (p.name == name) {
        if (!p.up && p.was_up)
          p.c->reconnects.fetch_add(1, std::memory_order_relaxed);
        p.up = p.was_up = true;
        p.wants = std::set<uint64_t>(groups.begin(), groups.end());
        p.tx_key = std::move(tx_key);
      }
    plan_ = std::move(next);
  }
  bump();
}

void site_engine::peer_down(const std::string& name) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto next = std::make_shared<plan>(*plan_);
    for (auto& p : next->peers)
      if (p.name == name) {
        p.up = false;
        p.wants.clear();
      }
    plan_ = std::move(next);
  }
  bump();
}

site_engine_stats site_engine::stats() const {
  site_engine_stats out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& p : plan_->peers) {
    site_peer_stats s;
    s.name = p.name;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &p.addr.sin_addr, text, sizeof(text));
    s.address =
      std::string{text} + ":" + std::to_string(ntohs(p.addr.sin_port));
    s.up = p.up;
    s.interest = p.wants.size();
    auto& c = *p.c;
    s.reconnects = c.reconnects.load();
    s.tx_frames = c.tx_frames.load();
    s.tx_datagrams = c.tx_datagrams.load();
    s.tx_bytes = c.tx_bytes.load();
    s.rx_frames = c.rx_frames.load();
    s.rx_datagrams = c.rx_datagrams.load();
    s.rx_bytes = c.rx_bytes.load();
    s.duplicates = c.duplicates.load();
    for (std::size_t i = 0; i < site_drop_count; ++i)
      s.drops[i] = c.drops[i].load();
    out.peers.push_back(std::move(s));
  }
  out.unknown_source = unknown_source_.load();
  return out;
}

} // namespace castor::relay::sites
