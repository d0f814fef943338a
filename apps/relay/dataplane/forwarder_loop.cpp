#include "dataplane/forwarder_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "dataplane/source_port.hpp"
#include "service/logging.hpp"
#include "service/rate_limited_log.hpp"
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "castor/packet/error.hpp"

namespace castor::relay {

// The memory budget (service/memory_budget.hpp) prices a send slot at
// send_slot_overhead bytes besides its payload.
static_assert(packet::send_ring::slot_overhead_bytes <= send_slot_overhead);

namespace {

/// The "forwarder" component's logger (castorctl log-level forwarder ...).
std::shared_ptr<spdlog::logger> log() {
  return component_logger("forwarder");
}

/// Outputs that cannot be served are reported per output, per worker, per
/// table: a config with many of them, or rules changed in a loop, would
/// flood the log. Shared by every loop (it locks).
rate_limited_log& install_log() {
  static rate_limited_log limited{"forwarder", 1.0, 20};
  return limited;
}

/// How often a loop without rtnetlink looks its output interfaces up.
constexpr auto link_check_interval = std::chrono::seconds{1};

void add_counts(packet::output_counters& into,
                const packet::output_counters& from) {
  into.packets += from.packets;
  into.bytes += from.bytes;
  into.queue_full += from.queue_full;
  into.too_big += from.too_big;
  into.qdisc_drop += from.qdisc_drop;
  into.send_error += from.send_error;
  into.ttl_expired += from.ttl_expired;
  if (from.last_error != 0)
    into.last_error = from.last_error;
}

} // namespace

forwarder_loop::forwarder_loop(forwarder_options options,
                               failure_handler on_failure)
    : opts_(std::move(options)), on_failure_(std::move(on_failure)) {
  if (opts_.ingress == ingress_mode::packet) {
    packet::ingress_options in;
    in.ifindex = opts_.ifindex;
    in.mode = opts_.mode;
    in.max_frame = opts_.max_frame;
    // Empty filter: nothing passes until the first table is installed, so
    // a fresh worker never sees traffic it has no rules for.
    in.filter = packet::build_filter({});
    ingress_ = std::make_unique<packet::ingress_socket>(in);
  } else {
    // The same datagrams as the AF_PACKET path: payloads of frames up to
    // max_frame.
    sockets_ = std::make_unique<socket_ingress>(
      opts_.interface, 64, opts_.max_frame - udp_ip_headers);
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    throw packet::io_error("eventfd for forwarder " + opts_.worker, errno);
}

forwarder_loop::~forwarder_loop() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void forwarder_loop::start() {
  thread_ = std::thread([this] { run(); });
  // Named after its worker ("fwd-eth0-1"), so that top -H, perf and
  // /proc/PID/task/*/comm tell the forwarders apart. Linux keeps 15 bytes.
  const auto name = opts_.worker.substr(0, 15);
  ::pthread_setname_np(thread_.native_handle(), name.c_str());
}

void forwarder_loop::stop() {
  stopping_ = true;
  if (wake_fd_ >= 0)
    wake();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

void forwarder_loop::post(std::function<void()> command) {
  {
    std::lock_guard<std::mutex> guard{commands_mtx_};
    commands_.push_back(std::move(command));
  }
  wake();
}

void forwarder_loop::wake() noexcept {
  // An eventfd write only fails when the counter would overflow, and then
  // the loop is awake anyway.
  const uint64_t one = 1;
  const auto n = ::write(wake_fd_, &one, sizeof one);
  static_cast<void>(n);
}

void forwarder_loop::install(std::shared_ptr<const rule_table> table) {
  post([this, table = std::move(table)]() mutable {
    install_now(std::move(table));
    // The table was built on the actor's thread: an output interface may
    // have changed since, and its event may already be read.
    refresh_outputs();
  });
}

void forwarder_loop::snapshot(snapshot_handler done) {
  post([this, done = std::move(done)] { done(take_snapshot()); });
}

void forwarder_loop::run_commands() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> guard{commands_mtx_};
    batch.swap(commands_);
  }
  for (auto& f : batch)
    f();
}

void forwarder_loop::fail(const std::string& reason) {
  if (stopping_.exchange(true))
    return;
  log()->error("{}: forwarding stopped: {}", opts_.worker, reason);
  if (on_failure_)
    on_failure_(reason);
}

void forwarder_loop::carry(const std::string& key,
                           const packet::output_counters& c) {
  add_counts(carried_[key], c);
}

void forwarder_loop::install_now(std::shared_ptr<const rule_table> table,
                                 bool outputs_only) {
  // Datagrams queued for the old outputs leave first, so that no slot is
  // reused while a datagram of its previous owner still sits in the ring.
  flush_all();
  // What unusable outputs counted (as send errors) stays theirs.
  for (std::size_t i = 0; i < bindings_.size(); ++i)
    if (bindings_[i].unusable_drops != 0 || bindings_[i].ttl_expired != 0) {
      packet::output_counters c;
      c.send_error = bindings_[i].unusable_drops;
      c.ttl_expired = bindings_[i].ttl_expired;
      carry(table_->outputs()[i].key, c);
    }
  std::vector<binding> bindings(table->outputs().size());
  std::map<egress_key, std::set<std::string>> wanted;
  egress_failed_ = false;
  for (std::size_t i = 0; i < table->outputs().size(); ++i) {
    const auto& out = table->outputs()[i];
    if (!out.usable) {
      install_log().warn("{}: output {} of rule {}: no interface {}; its "
                         "datagrams count as send errors",
                         opts_.worker, i, out.key, out.spec.interface);
      continue;
    }
    const auto& key = table->egresses()[out.egress];
    auto e = egresses_.find(key);
    if (e == egresses_.end()) {
      packet::egress_options eo;
      eo.ifindex = key.ifindex;
      eo.ttl = key.ttl;
      eo.tos = key.tos;
      eo.ip_marks = key.marks;
      eo.slots = opts_.egress_slots;
      eo.slot_bytes = opts_.max_frame;
      eo.payload_bytes = opts_.egress_payload_frames * opts_.max_frame;
      eo.max_outputs = opts_.max_outputs_per_egress;
      eo.ipv6 = key.ipv6;
      try {
        eo.source_port =
          key.source_port != 0 ? key.source_port : shared_source_port();
        if (key.ipv6) {
          // A stable global or ULA address, never link-local.
          auto source = packet::stable_ipv6_source(key.ifindex);
          if (!source)
            throw packet::io_error("IPv6 egress on " + out.spec.interface,
                                   EADDRNOTAVAIL,
                                   "the interface has no stable global or "
                                   "unique-local IPv6 address to send from");
          eo.source6 = *source;
        }
        egress_entry entry;
        entry.socket = std::make_unique<packet::udp_egress>(eo);
        e = egresses_.emplace(key, std::move(entry)).first;
      } catch (const std::exception& ex) {
        // The key is "RULE|ADDRESS:PORT@INTERFACE".
        const auto bar = out.key.find('|');
        install_log().error("{}: rule '{}', output {}: cannot open its "
                            "egress socket; its datagrams count as send "
                            "errors: {}",
                            opts_.worker, out.key.substr(0, bar),
                            out.key.substr(bar + 1), ex.what());
        egress_failed_ = true;
        continue;
      }
    }
    auto& entry = e->second;
    auto s = entry.slots.find(out.key);
    if (s == entry.slots.end()) {
      uint32_t slot;
      if (!entry.free_slots.empty()) {
        slot = entry.free_slots.back();
        entry.free_slots.pop_back();
      } else {
        // Any number of outputs may share a socket (10,000 channels on one
        // interface): its ring's counters grow with them, 48 bytes each.
        slot = static_cast<uint32_t>(entry.slots.size());
        entry.socket->ring().reserve_outputs(slot + 1);
      }
      s = entry.slots.emplace(out.key, slot).first;
    }
    wanted[key].insert(out.key);
    bindings[i].socket = entry.socket.get();
    bindings[i].slot = s->second;
  }
  // Slots of outputs that are gone are zeroed and reused; sockets no output
  // needs any more are closed.
  for (auto e = egresses_.begin(); e != egresses_.end();) {
    auto& entry = e->second;
    const auto& keep = wanted[e->first];
    for (auto s = entry.slots.begin(); s != entry.slots.end();) {
      if (keep.count(s->first) != 0) {
        ++s;
        continue;
      }
      // The output may live on, on another socket (a re-created
      // interface): it keeps what it counted here.
      carry(s->first, entry.socket->ring().counters(s->second));
      entry.socket->ring().reset_counters(s->second);
      entry.free_slots.push_back(s->second);
      s = entry.slots.erase(s);
    }
    if (entry.slots.empty())
      e = egresses_.erase(e);
    else
      ++e;
  }
  if (!carried_.empty()) { // what removed outputs counted goes with them
    std::set<std::string> live;
    for (const auto& o : table->outputs())
      live.insert(o.key);
    for (auto c = carried_.begin(); c != carried_.end();)
      c = live.count(c->first) != 0 ? std::next(c) : carried_.erase(c);
  }
  bindings_ = std::move(bindings);
  if (outputs_only) {
    // The same rules with their outputs looked up again: the rule
    // counters and the ingress stay as they are.
    table_ = std::move(table);
    return;
  }
  // Rule counters follow their rule by name (a map: tables of 10,000
  // rules are swapped on every add).
  std::vector<rule_counts> counts(table->rules().size());
  if (table_) {
    std::unordered_map<std::string_view, std::size_t> old_index;
    old_index.reserve(table_->rules().size());
    for (std::size_t j = 0; j < table_->rules().size(); ++j)
      old_index.emplace(table_->rules()[j].spec.name, j);
    for (std::size_t i = 0; i < table->rules().size(); ++i) {
      auto j = old_index.find(table->rules()[i].spec.name);
      if (j != old_index.end())
        counts[i] = counts_[j->second];
    }
  }
  table_ = std::move(table);
  counts_ = std::move(counts);
  // The filter (or the set of sockets) changes last: a datagram it now
  // passes finds its rule.
  apply_ingress();
  log()->debug("{}: rule table epoch {} installed ({} rules)", opts_.worker,
               table_->epoch(), table_->rules().size());
}

void forwarder_loop::apply_ingress() {
  // A change the kernel refuses (e.g. the filter does not fit the socket's
  // net.core.optmem_max) leaves the previous filter or sockets in place:
  // the rules they pass keep forwarding with the new table, and the
  // failure is logged and shown by `castorctl workers`. It must not end
  // the loop: its restart would fail the same way, again and again, and
  // take the supervisors and the process down.
  try {
    if (ingress_) {
      auto tier = packet::filter_tier::exact;
      packet::filter_options fo;
      // Only the input's own frames: not its VLAN sub-interfaces'.
      fo.ifindex = opts_.ifindex;
      // Fragments to a ruled group reach the parser, which counts them as
      // `fragment`; none is relayed (bpf_filter.hpp).
      fo.fragments = packet::fragment_policy::count_in_user;
      auto program = packet::build_filter(table_->filter_matches(), fo, &tier);
      ingress_->set_filter(program);
      // IPv6 rules: the ETH_P_IPV6 socket, opened at the first one and
      // kept (with a filter that passes nothing) when they are gone.
      if (table_->has_ipv6_inputs() || ingress6_) {
        open_ingress6();
        auto tier6 = packet::filter_tier::exact;
        ingress6_->set_filter(
          packet::build_filter6(table_->filter_matches6(), fo, &tier6));
        tier = std::max(tier, tier6);
      }
      if (tier != filter_tier_ || !filter_error_.empty())
        log()->info("{}: kernel filter for {} rules: {} ({} instructions)",
                    opts_.worker, table_->rules().size(),
                    packet::to_string(tier), program.size());
      filter_tier_ = tier;
    } else {
      sockets_->set_inputs(table_->filter_matches(), table_->filter_matches6());
    }
    filter_error_.clear();
  } catch (const std::exception& ex) {
    filter_error_ = ex.what();
    ++filter_failures_;
    install_log().error("{}: rule table epoch {}: cannot change the ingress, "
                        "the previous one stays in place: {}",
                        opts_.worker, table_->epoch(), ex.what());
  }
}

void forwarder_loop::refresh_outputs() {
  next_link_check_ = std::chrono::steady_clock::now() + link_check_interval;
  if (!table_)
    return;
  std::map<std::string, link_status> now;
  for (const auto& out : table_->outputs())
    if (now.count(out.spec.interface) == 0)
      now.emplace(out.spec.interface, probe_link(out.spec.interface));
  for (const auto& [name, st] : now) {
    auto before = output_links_.find(name);
    if (before != output_links_.end() && before->second != st)
      log()->info("{}: output interface {} is {} (ifindex {} before, {} now)",
                  opts_.worker, name, to_string(st.state),
                  before->second.ifindex, st.ifindex);
  }
  output_links_ = std::move(now);
  const auto& outs = table_->outputs();
  // An egress that failed to open (an IPv6 source address missing) is
  // tried again at every link check, as if its interface had changed.
  const bool stale =
    egress_failed_ || std::any_of(outs.begin(), outs.end(), [&](const auto& o) {
      const unsigned have = o.usable ? table_->egresses()[o.egress].ifindex : 0;
      return have != output_links_[o.spec.interface].ifindex;
    });
  if (!stale)
    return;
  log()->info("{}: output interfaces changed; rebinding the outputs of rule "
              "table epoch {}",
              opts_.worker, table_->epoch());
  install_now(table_->rebuilt([this](const std::string& name) {
    auto i = output_links_.find(name);
    return i == output_links_.end() ? 0u : i->second.ifindex;
  }),
              true);
}

void forwarder_loop::open_ingress6() {
  if (ingress6_)
    return;
  packet::ingress_options in;
  in.ifindex = opts_.ifindex;
  in.protocol = 0x86DD; // ETH_P_IPV6
  in.mode = opts_.mode;
  in.max_frame = opts_.max_frame;
  in.filter = packet::build_filter6({});
  ingress6_ = std::make_unique<packet::ingress_socket>(in);
}

void forwarder_loop::forward(const packet::udp_datagram& d) noexcept {
  const auto r =
    table_ ? table_->find(d.dst_be, d.dst_port, d.src_be) : rule_table::no_rule;
  if (r == rule_table::no_rule) {
    ++no_rule_;
    return;
  }
  relay(r, d.ttl, d.tos, d.payload, d.payload_size);
}

void forwarder_loop::forward(const packet::udp6_datagram& d) noexcept {
  const auto r =
    table_ ? table_->find6(d.dst, d.dst_port, d.src) : rule_table::no_rule;
  if (r == rule_table::no_rule) {
    ++no_rule_;
    return;
  }
  relay(r, d.hop_limit, d.traffic_class, d.payload, d.payload_size);
}

void forwarder_loop::relay(uint32_t r, uint8_t ttl, uint8_t tos,
                           const uint8_t* payload, std::size_t size) noexcept {
  auto& c = counts_[r];
  ++c.packets;
  c.bytes += size;
  const auto& tr = table_->rules()[r];
  const auto* outs = table_->outputs().data() + tr.first_output;
  auto* binds = bindings_.data() + tr.first_output;
  for (uint32_t i = 0; i < tr.output_count; ++i) {
    auto& b = binds[i];
    if (b.socket == nullptr) {
      ++b.unusable_drops;
      continue;
    }
    // The datagram's own TTL and TOS where the output asks for them.
    packet::ip_marks marks;
    const auto& spec = outs[i].spec;
    if (spec.ttl_decrement) {
      if (ttl <= 1) {
        ++b.ttl_expired;
        continue;
      }
      marks.ttl = static_cast<int16_t>(ttl - 1);
    }
    if (spec.tos_preserve)
      marks.tos = tos;
    // A full ring drops and counts this copy only (queue_full).
    b.socket->enqueue(b.slot, outs[i].destination, payload, size, marks);
  }
}

void forwarder_loop::flush_all(bool more_waiting) noexcept {
  for (auto& [key, entry] : egresses_) {
    if (entry.socket->ring().queued() == 0) {
      entry.blocked = false;
      continue;
    }
    if (more_waiting && entry.socket->ring().worth_holding())
      continue;
    entry.blocked = entry.socket->flush().blocked;
  }
}

void forwarder_loop::run() noexcept {
  std::vector<pollfd> fds;
  fds.reserve(16);
  while (!stopping_) {
    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    if (ingress_)
      fds.push_back(pollfd{ingress_->fd(), POLLIN, 0});
    if (ingress6_)
      fds.push_back(pollfd{ingress6_->fd(), POLLIN, 0});
    if (!ingress_)
      sockets_->poll_fds(fds);
    const std::size_t egress_slot = fds.size();
    for (auto& [key, entry] : egresses_)
      if (entry.blocked)
        fds.push_back(pollfd{entry.socket->fd(), POLLOUT, 0});
    const std::size_t link_slot = fds.size();
    if (link_events_.fd() >= 0)
      fds.push_back(pollfd{link_events_.fd(), POLLIN, 0});
    // The timeout only bounds how long a silent error could go unnoticed.
    if (::poll(fds.data(), fds.size(), 500) < 0 && errno != EINTR) {
      fail(std::string{"poll: "} + std::strerror(errno));
      break;
    }
    // A blocked egress socket with entries on its error queue (IP_RECVERR)
    // is POLLERR at once: empty the queue, or poll() would spin.
    for (std::size_t i = egress_slot; i < link_slot; ++i)
      if (fds[i].revents & POLLERR)
        for (auto& [key, entry] : egresses_)
          if (entry.socket->fd() == fds[i].fd)
            entry.socket->drain_errors();
    // An output interface changed (or, without rtnetlink, it is time to
    // look): re-resolve before this round's datagrams are queued.
    if (link_events_.fd() >= 0
          ? fds[link_slot].revents != 0 && link_events_.drain()
          : std::chrono::steady_clock::now() >= next_link_check_)
      refresh_outputs();
    if (fds[0].revents & POLLIN) {
      uint64_t ignored;
      const auto n = ::read(wake_fd_, &ignored, sizeof ignored);
      static_cast<void>(n);
      run_commands();
      if (stopping_)
        break;
      // A new table may have changed the socket set, and `fds` describes
      // the old one: poll again before reading.
      if (sockets_)
        continue;
    }
    if (ingress_ && ingress_failed(fds, false))
      break;
    // Drain while full batches keep coming, but come back to poll() (and
    // so to the commands) after a bounded number of them. A full read says
    // more is waiting: rings of interleaved streams then hold their flush
    // for the next read, so that grouping can join more (send_ring.hpp);
    // a ring fills and flushes itself, and the last read flushes all.
    constexpr int rounds = 16;
    // With both AF_PACKET sockets, each is read while poll() said so and
    // its reads come back full: no empty read per round for the family
    // that is quiet. Alone, the IPv4 socket is read as it always was.
    bool read4 = ingress_ && (!ingress6_ || (fds[1].revents & POLLIN) != 0);
    bool read6 = ingress6_ && fds.size() > 2 && fds[2].fd == ingress6_->fd()
                 && (fds[2].revents & POLLIN) != 0;
    for (int round = 0; round < rounds; ++round) {
      auto on_datagram = [this](const auto& d) { forward(d); };
      std::size_t n4 = 0;
      std::size_t n6 = 0;
      if (!ingress_)
        n4 = sockets_->drain(fds.data() + 1, on_datagram, opts_.batch);
      else if (read4)
        n4 = ingress_->drain(on_datagram, opts_.batch);
      if (read6)
        n6 = ingress6_->drain6(on_datagram, opts_.batch);
      read4 = n4 == opts_.batch;
      read6 = n6 == opts_.batch;
      const bool more = (read4 || read6) && round + 1 < rounds;
      flush_all(more);
      if (!more)
        break;
    }
    // A read may have taken the interface's ENETDOWN before poll() saw it
    // (woken by something else, e.g. a link event): poll() would never
    // report it again, and the worker would wait on a dead socket.
    if (ingress_ && ingress_failed(fds, true))
      break;
  }
}

bool forwarder_loop::ingress_failed(const std::vector<pollfd>& fds,
                                    bool after_read) {
  // fds[1] is the IPv4 socket's entry, fds[2] the IPv6 one's (if polled).
  std::size_t slot = 1;
  for (auto* in : {ingress_.get(), ingress6_.get()}) {
    if (in == nullptr)
      continue;
    // A socket opened since this poll() has no entry yet.
    const bool polled = slot < fds.size() && fds[slot].fd == in->fd();
    const bool flagged =
      polled && (fds[slot].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
    slot += polled ? 1 : 0;
    const int err = after_read ? in->read_error()
                    : flagged  ? in->pending_error()
                               : 0;
    if (err != 0) {
      fail("ingress socket on " + opts_.interface + ": " + std::strerror(err));
      return true;
    }
  }
  return false;
}

worker_snapshot forwarder_loop::take_snapshot() {
  worker_snapshot s;
  s.worker = opts_.worker;
  s.interface = opts_.interface;
  if (table_) {
    s.epoch = table_->epoch();
    for (std::size_t i = 0; i < table_->rules().size(); ++i) {
      const auto& tr = table_->rules()[i];
      rule_snapshot rs;
      rs.name = tr.spec.name;
      rs.packets = counts_[i].packets;
      rs.bytes = counts_[i].bytes;
      for (uint32_t j = 0; j < tr.output_count; ++j) {
        const auto& out = table_->outputs()[tr.first_output + j];
        const auto& b = bindings_[tr.first_output + j];
        output_snapshot os;
        os.key = out.key;
        os.interface = out.spec.interface;
        os.address = out.spec.address.to_string();
        os.port = out.spec.port;
        packet::output_counters c;
        if (auto k = carried_.find(out.key); k != carried_.end())
          c = k->second;
        if (b.socket != nullptr)
          add_counts(c, b.socket->ring().counters(b.slot));
        c.send_error += b.unusable_drops;
        c.ttl_expired += b.ttl_expired;
        os.packets = c.packets;
        os.bytes = c.bytes;
        os.drops.queue_full = c.queue_full;
        os.drops.send_error = c.send_error;
        os.drops.too_big = c.too_big;
        os.drops.ttl_expired = c.ttl_expired;
        os.drops.qdisc_drop = c.qdisc_drop;
        auto link = output_links_.find(out.spec.interface);
        os.state = to_string(link == output_links_.end() ? link_state::missing
                                                         : link->second.state);
        rs.outputs.push_back(std::move(os));
      }
      s.rules.push_back(std::move(rs));
    }
  }
  s.ingress.no_rule = no_rule_;
  if (ingress_)
    s.filter = packet::to_string(filter_tier_);
  s.filter_error = filter_error_;
  s.filter_failures = filter_failures_;
  if (ingress_) {
    for (auto* in : {ingress_.get(), ingress6_.get()}) {
      if (in == nullptr)
        continue;
      in->update_kernel_stats();
      const auto& c = in->counters();
      s.ingress.frames += c.frames;
      for (std::size_t k = 0; k < c.dropped.size(); ++k)
        s.ingress.malformed[k] += c.dropped[k];
      s.ingress.kernel_drops += c.kernel_drops;
    }
  } else {
    s.ingress.frames = sockets_->datagrams() + sockets_->truncated();
    s.ingress.malformed[packet::index(packet::drop_reason::truncated)] =
      sockets_->truncated();
    s.ingress.kernel_drops = sockets_->kernel_drops();
  }
  for (auto& [key, entry] : egresses_) {
    s.queued += entry.socket->ring().queued();
    // The errors were counted where the sends failed; the queue only
    // holds memory (up to the socket's receive buffer).
    entry.socket->drain_errors();
  }
  for (const auto& [name, st] : output_links_)
    s.output_links[name] = to_string(st.state);
  return s;
}

} // namespace castor::relay
