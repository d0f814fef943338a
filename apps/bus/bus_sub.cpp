// castor-bus sub: a topic's messages, one a line, under {active, N}; a
// summary on stderr at the end (--count, --timeout, --idle or a signal).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "bus_host.hpp"
#include "commands.hpp"
#include "thread_cpu.hpp"

#include "castor/bus/subscriber.hpp"
#include "castor/net/atoms.hpp"
#include "castor/net/shard_actor.hpp"

namespace castor_bus_cli {

using namespace castor::bus;

namespace {

// The decimal number a payload starts with (0 if none). Payloads are views
// into a shared buffer, not NUL-terminated strings: no atol.
int64_t leading_number(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// What the printing actor saw; read by main's thread.
struct sub_tally {
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> gaps{0};
  std::atomic<uint64_t> gap_datagrams{0};
  std::atomic<uint64_t> repeated{0};
  std::atomic<uint64_t> out_of_order{0};
  std::atomic<int64_t> first_ns{0};
  std::atomic<int64_t> last_ns{0};
};

// pub --stamp's send time, parsed once per run of messages that carry the
// same text: a generated batch shares one stamp, and at millions of
// messages a second parsing every copy was a tenth of the subscriber's CPU.
class stamp_reader {
public:
  int64_t parse(std::string_view s) {
    auto n = s.find(' ');
    if (n != std::string_view::npos)
      s = s.substr(0, n);
    if (s.size() > sizeof text_)
      return leading_number(s);
    if (s.size() != len_ || std::memcmp(s.data(), text_, len_) != 0) {
      value_ = leading_number(s);
      len_ = s.size();
      std::memcpy(text_, s.data(), len_);
    }
    return value_;
  }

private:
  char text_[24];
  size_t len_ = 0;
  int64_t value_ = 0;
};

struct printer_state {
  // --latency: one sample per message, in ns.
  std::vector<int64_t> latencies;
  stamp_reader stamp;
  // --check: the indices seen and the highest, per publisher.
  std::map<uint64_t, std::set<long>> seen;
  std::map<uint64_t, long> highest;
};

// The user actor. With --quiet it runs on the io shard, the subscriber's
// thread (the host has one shard): a delivery reaches it as a post on that
// thread, with no wake-up of a scheduler thread, which was the largest
// share of a message's latency (docs/bus.md, "Latency"). Printing may
// block on stdout, which must not hold up the shard (its NAKs, heartbeats
// and reads), so a printing printer runs on CAF's scheduler.
template <class Self>
caf::behavior printer(Self* self, std::shared_ptr<sub_tally> tally,
                      sub_options o) {
  auto state = std::make_shared<printer_state>();
  // The samples' room up front (up to 32M, 256 MiB): a vector that doubles
  // while messages arrive copies all it holds, and at millions a second
  // that pause overflows the subscriber's queue.
  if (o.latency && o.count > 0)
    state->latencies.reserve(
      static_cast<size_t>(std::min<long>(o.count, long{1} << 25)));
  return {
    [=](bus_atom, const bus_delivery& d) {
      auto& st = *state;
      // When the delivery reached this actor: its messages came together,
      // so one clock read serves all of them.
      auto arrived =
        o.latency ? std::chrono::steady_clock::now().time_since_epoch().count()
                  : 0;
      for (auto& m : d.messages) {
        if (!o.quiet)
          std::fwrite(m.payload.data(), 1, m.payload.size(), stdout),
            std::fputc('\n', stdout);
        if (o.latency) {
          auto sp = m.payload.find(' ');
          if (sp != std::string_view::npos)
            st.latencies.push_back(arrived
                                   - st.stamp.parse(m.payload.substr(sp + 1)));
        }
        if (o.check) {
          auto idx = static_cast<long>(leading_number(m.payload));
          if (!st.seen[m.origin].insert(idx).second)
            ++tally->repeated;
          auto& hi = st.highest[m.origin];
          if (idx < hi)
            ++tally->out_of_order;
          hi = std::max(hi, idx);
        }
      }
      if (!o.quiet)
        std::fflush(stdout);
      tally->messages += d.messages.size();
      auto t = std::chrono::steady_clock::now().time_since_epoch().count();
      if (tally->first_ns == 0)
        tally->first_ns = t;
      tally->last_ns = t;
      // Top-up: grant back what was used.
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 castor::net::active_atom::value,
                 static_cast<int32_t>(d.messages.size()));
    },
    [](bus_passive_atom) {},
    [state](caf::get_atom) {
      auto& v = state->latencies;
      std::sort(v.begin(), v.end());
      auto pct = [&v](double p) -> long long {
        if (v.empty())
          return 0;
        return static_cast<long long>(
                 v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))])
               / 1000;
      };
      char buf[160];
      std::snprintf(buf, sizeof(buf),
                    ",\"p50_us\":%lld,\"p90_us\":%lld,\"p99_us\":%lld,"
                    "\"max_us\":%lld",
                    pct(0.5), pct(0.9), pct(0.99), pct(1.0));
      return std::string{buf};
    },
    [=](bus_gap_atom, const bus_gap& g) {
      ++tally->gaps;
      tally->gap_datagrams += g.gap.last - g.gap.first + 1;
      std::fprintf(
        stderr, "castor-bus: unrecoverable gap from %016llx: %llu..%llu\n",
        (unsigned long long)g.gap.origin, (unsigned long long)g.gap.first,
        (unsigned long long)g.gap.last);
    },
  };
}

} // namespace

int run_sub(const sub_options& o) {
  subscriber_options so;
  so.topic = o.common.topic;
  if (!o.common.make_map(so.map))
    return 2;
  so.interface = o.common.interface;
  so.ttl = o.common.ttl;
  so.announce_interval = std::chrono::milliseconds{o.common.announce_ms};
  so.recv_buffer = o.common.rcvbuf;
  so.send_buffer = o.common.sndbuf;
  so.loop = !o.common.no_loop;
  so.active = castor::net::active_mode::counted(o.credit);
  so.max_queue = o.queue;
  so.gro = o.gro;
  so.core.nak_attempts = o.nak_attempts;
  bus_host host;
  auto tally = std::make_shared<sub_tally>();
  caf::actor user;
  if (o.quiet) {
    auto spawned = castor::net::spawn_on_shard(
      host.sys(), host.shards().at(0),
      [&](caf::actor_companion* self) { return printer(self, tally, o); });
    if (!spawned) {
      std::cerr << "castor-bus: " << host.sys().render(spawned.error()) << '\n';
      return 1;
    }
    user = *spawned;
  } else {
    user = host.sys().spawn(printer<caf::event_based_actor>, tally, o);
  }
  so.user = user;
  auto child = make_subscriber("sub", host.shards(), so);
  if (!host.start("castor-bus-sub", child.spec)) {
    caf::anon_send_exit(user, caf::exit_reason::user_shutdown);
    return 1;
  }
  std::cerr << "castor-bus: subscribed to " << so.topic << '\n';
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (!nap(std::chrono::milliseconds{20}))
      break;
    auto now = std::chrono::steady_clock::now();
    if (o.count > 0 && tally->messages >= static_cast<uint64_t>(o.count))
      break;
    if (o.timeout > 0
        && std::chrono::duration<double>(now - start).count() >= o.timeout)
      break;
    auto last = tally->last_ns.load();
    if (o.idle > 0 && last != 0
        && std::chrono::duration<double>(now.time_since_epoch()
                                         - std::chrono::nanoseconds{last})
               .count()
             >= o.idle)
      break;
  }
  // From the first message to the last.
  double first_to_last = 0;
  if (auto last = tally->last_ns.load(), first = tally->first_ns.load();
      last != 0 && first != 0)
    first_to_last = static_cast<double>(last - first) / 1e9;
  // The subscriber's counters, through the supervisor's only child.
  caf::scoped_actor self{host.sys()};
  subscriber_report rep;
  if (auto sub = child.info->wait_actor(std::chrono::seconds{5}))
    self->request(sub, std::chrono::seconds{5}, bus_stats_atom::value)
      .receive([&rep](const subscriber_report& r) { rep = r; },
               [](const caf::error&) {});
  std::string lat;
  if (o.latency)
    self->request(user, std::chrono::seconds{5}, caf::get_atom::value)
      .receive([&lat](const std::string& x) { lat = x; },
               [](const caf::error&) {});
  auto& c = rep.core;
  auto cpu = thread_cpu_json();
  std::fprintf(stderr,
               "{\"topic\":\"%s\",\"received\":%llu,\"gaps\":%llu,"
               "\"lost\":%llu,\"duplicates\":%llu,\"late\":%llu,"
               "\"repairs\":%llu,\"naks\":%llu,\"suppressed\":%llu,"
               "\"dropped\":%llu,\"repeated\":%llu,\"out_of_order\":%llu"
               "%s%s,\"seconds\":%.3f}\n",
               so.topic.c_str(), (unsigned long long)tally->messages.load(),
               (unsigned long long)tally->gaps.load(),
               (unsigned long long)tally->gap_datagrams.load(),
               (unsigned long long)c.duplicates, (unsigned long long)c.late,
               (unsigned long long)c.repairs, (unsigned long long)c.naks,
               (unsigned long long)c.suppressed,
               (unsigned long long)rep.dropped,
               (unsigned long long)tally->repeated.load(),
               (unsigned long long)tally->out_of_order.load(), lat.c_str(),
               cpu.c_str(), first_to_last);
  caf::anon_send_exit(user, caf::exit_reason::user_shutdown);
  return 0;
}

} // namespace castor_bus_cli
