#include "castor/bus/subscriber.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include <caf/actor_companion.hpp>

#include "actor_support.hpp"

#include "castor/bus/delivery_queue.hpp"
#include "castor/net/udp_credit.hpp"

namespace castor::bus {

namespace {

// The subscriber runs on its socket's io shard (make_udp_socket_on_shard):
// a receive batch reaches it as a post on the same thread, and it parses,
// repairs and hands the messages to the user in that step. One thread and
// one mailbox hop (to the user) per batch, where a scheduled owner took
// three threads and two hops.
using owner_ptr = caf::actor_companion*;

// The core's stream timeouts run at least this often.
constexpr auto housekeeping = std::chrono::seconds{1};

// One start of a subscriber.
struct subscriber_state {
  subscriber_state(const subscriber_options& o, const topic_endpoint& ep,
                   const net::udp_socket& s)
      : opts(o), topic(ep), core(core_config(o, ep)), sock(s),
        sock_credit(s, o.socket_credit),
        announce(o, ep, detail::random_origin(), flag_subscriber),
        queue(o.max_queue, o.max_batch) {
    switch (o.active.mode) {
    case net::active_mode::kind::passive:
      break;
    case net::active_mode::kind::once:
      queue.add(1);
      break;
    case net::active_mode::kind::always:
      queue.always(true);
      break;
    case net::active_mode::kind::counted:
      queue.add(o.active.count);
      break;
    }
  }

  static subscriber_config core_config(const subscriber_options& o,
                                       const topic_endpoint& ep) {
    auto cfg = o.core;
    cfg.topic_hash = ep.hash;
    if (cfg.seed == 1)
      cfg.seed = static_cast<uint32_t>(detail::random_origin());
    return cfg;
  }

  subscriber_options opts;
  topic_endpoint topic;
  subscriber_core core;
  net::udp_socket sock;
  net::udp_credit sock_credit;
  detail::announcer announce;
  detail::wakeup timer;
  subscriber_output out;
  // Where each publisher's NAKs go: the source of its datagrams.
  std::unordered_map<uint64_t, net::udp_endpoint> publishers;
  // Raw mode: a sequence number per sender.
  std::unordered_map<uint64_t, uint64_t> raw_seq;
  delivery_queue queue;
  uint64_t gaps_reported = 0;

  // One entry of a receive batch: a datagram, or with gro a run of them
  // from one sender (net::for_each_segment).
  void on_entry(const net::datagram& d, time_point now) {
    if (topic.raw) {
      auto origin = detail::raw_origin(d.from);
      net::for_each_segment(d, [&](const uint8_t* data, size_t size) {
        out.add(origin, ++raw_seq[origin], 0, data, size);
      });
      return;
    }
    bool learn = false;
    uint64_t origin = 0;
    net::for_each_segment(d, [&](const uint8_t* data, size_t size) {
      auto h = core.on_datagram(data, size, now, out);
      if (h && (h->type == msg_type::data || h->type == msg_type::heartbeat)) {
        learn = true;
        origin = h->origin;
      }
    });
    if (learn)
      publishers[origin] = d.from;
  }

  // Acts on what the core produced: messages to the queue, gaps to the
  // user, NAKs to their publishers.
  void drain_core(owner_ptr self) {
    announce.count(out.messages.size(), out.bytes.size());
    queue.push(out);
    for (auto& g : out.gaps) {
      ++gaps_reported;
      self->send(opts.user, bus_gap_atom::value, bus_gap{topic.name, g});
    }
    for (auto& n : out.naks) {
      auto i = publishers.find(n.origin);
      if (i == publishers.end())
        continue;
      header h;
      h.origin = n.origin;
      h.session = n.session;
      h.topic = topic.hash;
      h.seq = n.first;
      self->send(sock.actor, net::send_atom::value, i->second,
                 make_range(msg_type::nak, h, n.count));
    }
    out.clear();
  }

  // Hands queued messages to the user as far as the credit goes.
  void deliver(owner_ptr self) {
    for (;;) {
      bool passive = false;
      auto msgs = queue.take(passive);
      if (msgs.empty())
        return;
      self->send(opts.user, bus_atom::value,
                 bus_delivery{topic.name, std::move(msgs.messages),
                              std::move(msgs.storage)});
      if (passive)
        self->send(opts.user, bus_passive_atom::value);
    }
  }

  void settle(owner_ptr self, time_point now) {
    drain_core(self);
    deliver(self);
    auto at = std::min(core.next_wakeup(), now + housekeeping);
    if (announce.enabled())
      at = std::min(at, announce.due());
    timer.arm(self, at, now);
  }

  subscriber_report report() const {
    subscriber_report r;
    r.topic = topic.name;
    r.core = core.stats();
    r.delivered = queue.delivered();
    r.queued = queue.size();
    r.dropped = queue.dropped();
    r.gaps_reported = gaps_reported;
    return r;
  }
};

} // namespace

subscriber_child make_subscriber(std::string id, net::io_shards& shards,
                                 subscriber_options opts) {
  auto ep = opts.map.resolve(opts.topic);
  auto info = std::make_shared<child_info>();
  auto sock_opts = detail::socket_options(opts, ep, true);
  if (opts.gro) {
    // A joined run is up to 64 KB a slot: fewer slots keep a block small.
    sock_opts.socket.gro = true;
    sock_opts.socket.max_datagram = 65536;
    sock_opts.socket.read_packets = std::min<uint32_t>(opts.read_packets, 8);
  }
  auto child = net::make_udp_socket_on_shard(
    std::move(id), shards, std::move(sock_opts),
    [opts, ep, info](owner_ptr self, const net::udp_socket& s) {
      info->started(self->address());
      auto st = std::make_shared<subscriber_state>(opts, ep, s);
      st->settle(self, bus_clock::now());
      return caf::behavior{
        [self, st](net::udp_atom, const net::udp_batch& b) {
          auto now = bus_clock::now();
          // The payloads of this step, in one buffer of about their size.
          st->out.bytes.reserve(b.bytes());
          for (auto d : b.datagrams())
            st->on_entry(d, now);
          st->sock_credit.consumed(self, b.size());
          st->settle(self, now);
        },
        [self, st](bus_tick_atom, uint64_t gen) {
          if (!st->timer.fired(gen))
            return;
          auto now = bus_clock::now();
          st->core.tick(now, st->out);
          auto s = st->core.stats();
          if (auto a = st->announce.poll(now, s.gaps, st->queue.dropped());
              !a.empty())
            self->send(st->sock.actor, net::send_atom::value,
                       st->announce.destination(), std::move(a));
          st->settle(self, now);
        },
        [self, st](net::active_atom, int32_t n) {
          if (st->queue.add(n))
            self->send(st->opts.user, bus_passive_atom::value);
          st->deliver(self);
        },
        [self, st](net::active_atom, bool on) {
          st->queue.always(on);
          st->deliver(self);
        },
        [](net::udp_passive_atom) {},
        [](net::udp_error_atom, const caf::error&) {},
        [st](bus_stats_atom) { return st->report(); },
      };
    });
  return {std::move(child.spec), std::move(info)};
}

} // namespace castor::bus
