// The control side of the cross-site data path: what sites_actor tells the
// engine (peers, interest, keys) becomes a new plan for its thread
// (site_loop.hpp); the counters are read back for castorctl and /metrics.

#include "sites/site_engine.hpp"

#include "model/rule_validator.hpp"
#include "sites/site_engine_state.hpp"
#include <sys/eventfd.h>
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
  case site_drop::version:
    return "version";
  case site_drop::no_publisher:
    return "no_publisher";
  default:
    return "?";
  }
}

site_engine::site_engine(uint64_t incarnation)
    : incarnation_(incarnation), plan_(std::make_shared<plan>()) {}

site_engine::~site_engine() {
  stop();
}

std::string site_engine::start(const site_endpoint& listen) {
  std::string why;
  data_fd_ = open_data(listen, why);
  if (data_fd_ < 0)
    return why;
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  running_ = true;
  thread_ = std::thread([this] { run(); });
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
    if (config.node)
      next->self = config.node->name;
    for (auto& ps : config.peers) {
      peer_state p;
      p.name = ps.name;
      p.endpoint = ps.address;
      p.addr = socket_address::of(ps.address);
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
                               std::vector<site_group> groups,
                               std::string tx_key) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto next = std::make_shared<plan>(*plan_);
    for (auto& p : next->peers)
      if (p.name == name) {
        if (!p.up && p.was_up)
          p.c->reconnects.fetch_add(1, std::memory_order_relaxed);
        p.up = p.was_up = true;
        p.wants = std::set<site_group>(groups.begin(), groups.end());
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
        p.c->rtt_ns = 0; // measured again when it is back
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
    s.address = p.endpoint.to_string();
    s.up = p.up;
    s.interest = p.wants.size();
    for (auto& g : p.wants)
      s.wants.push_back(endpoint_text(g.group, g.port));
    auto& c = *p.c;
    s.reconnects = c.reconnects.load();
    s.tx_frames = c.tx_frames.load();
    s.tx_datagrams = c.tx_datagrams.load();
    s.tx_bytes = c.tx_bytes.load();
    s.rx_frames = c.rx_frames.load();
    s.rx_datagrams = c.rx_datagrams.load();
    s.rx_bytes = c.rx_bytes.load();
    s.duplicates = c.duplicates.load();
    s.bus_repairs = c.bus_repairs.load();
    s.bus_naks_up = c.bus_naks_up.load();
    s.bus_naks_in = c.bus_naks_in.load();
    s.rtt_ns = c.rtt_ns.load();
    for (std::size_t i = 0; i < site_drop_count; ++i)
      s.drops[i] = c.drops[i].load();
    out.peers.push_back(std::move(s));
  }
  out.unknown_source = unknown_source_.load();
  return out;
}

} // namespace castor::relay::sites
