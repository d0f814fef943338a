#include "castor/bus/publisher.hpp"

#include <algorithm>
#include <deque>
#include <type_traits>
#include <utility>

#include <caf/actor_companion.hpp>

#include "actor_support.hpp"

#include "castor/net/shard_actor.hpp"
#include "castor/net/udp_credit.hpp"

namespace castor::bus {

namespace {

// The publisher runs on its socket's io shard (make_udp_socket_on_shard),
// as the subscriber does: a publish from another thread wakes that one
// thread, and the publisher's datagrams reach its socket as a post on the
// same thread, where a scheduled publisher took two wake-ups (its own, then
// the socket's) per burst.
using owner_ptr = caf::actor_companion*;

// One start of a publisher: the protocol core, the socket it sends on and
// the flow control between them (publisher.hpp).
struct publisher_state {
  publisher_state(const publisher_options& o, const topic_endpoint& ep,
                  publisher_config cfg, const net::udp_socket& s,
                  std::shared_ptr<net::send_buffers> sent)
      : sent_buffers(std::move(sent)), opts(o), topic(ep),
        group(detail::to_endpoint(ep.group, ep.port)),
        core(cfg, bus_clock::now()), sock(s), credit(s, o.socket_credit),
        announce(o, ep, cfg.origin, 0),
        window(std::clamp<uint32_t>(o.socket_window, 2, 4096)),
        max_backlog(std::max<size_t>(o.max_backlog, 1)),
        rate(o.max_rate, rate_burst(o, cfg), bus_clock::now()) {}

  // At least one datagram, or the bucket would never let one go.
  static uint64_t rate_burst(const publisher_options& o,
                             const publisher_config& cfg) {
    return std::max<uint64_t>(o.max_rate_burst, cfg.max_datagram);
  }

  struct out_item {
    net::udp_endpoint to;
    std::vector<uint8_t> dg;
  };

  // A publish request waiting for room in the backlog.
  struct waiting_batch {
    caf::response_promise rp;
    message_pack msgs;
    // What the answer says: the messages the request sent.
    uint32_t count;
  };

  // The datagram buffers the socket has sent (udp_options::recycle), for
  // the core to write the next ones into: no allocation per datagram.
  std::shared_ptr<net::send_buffers> sent_buffers;
  std::vector<std::vector<uint8_t>> refill;
  publisher_options opts;
  topic_endpoint topic;
  net::udp_endpoint group;
  publisher_core core;
  net::udp_socket sock;
  net::udp_credit credit;
  detail::announcer announce;
  detail::wakeup timer;
  uint64_t raw_sent = 0;
  datagrams out;
  // Flow control: the backlog, datagrams handed to the socket, how many of
  // those it reported sent (or dropped, or failed), whether a stats request
  // is out, and the requests waiting for room.
  uint32_t window;
  size_t max_backlog;
  std::deque<out_item> backlog;
  uint64_t handed = 0;
  uint64_t left = 0;
  bool asking = false;
  time_point ask_after;
  int stalls = 0;
  std::deque<waiting_batch> waiting;
  // A flush_when_idle flush is in the mailbox (one at a time).
  bool flush_queued = false;
  uint64_t refused = 0;
  // Messages of a waiting request too long for a pack's record.
  uint64_t oversize_waiting = 0;
  // The send rate limit (max_rate) and how often it held the backlog.
  token_bucket rate;
  uint64_t rate_waits = 0;

  bool has_room() const noexcept { return backlog.size() < max_backlog; }

  // Tops up the core's spare datagram buffers from those the socket sent:
  // one lock a publish, not one a datagram.
  void refill_spares() {
    if (topic.raw)
      return;
    auto held = core.spare_buffers();
    if (held >= publisher_core::max_spare / 2)
      return;
    sent_buffers->take(refill, publisher_core::max_spare - held);
    core.add_spare_buffers(refill);
  }

  void queue(const net::udp_endpoint& to, std::vector<uint8_t> dg) {
    backlog.push_back({to, std::move(dg)});
  }

  // Hands the socket what its window and the rate limit allow, one
  // message per run of datagrams to one destination (not one per
  // datagram: each message is a mailbox hop), and asks how much left once half of the window is in
  // flight (or the backlog waits for it).
  void pump(owner_ptr self, const std::shared_ptr<publisher_state>& me,
            time_point now) {
    bool held_by_rate = false;
    while (!backlog.empty() && handed - left < window) {
      if (!rate.take(backlog.front().dg.size(), now)) {
        ++rate_waits;
        held_by_rate = true;
        break;
      }
      auto to = backlog.front().to;
      std::vector<std::vector<uint8_t>> run;
      run.reserve(std::min<size_t>(backlog.size(), window - (handed - left)));
      while (!backlog.empty() && handed - left < window
             && backlog.front().to == to
             && (run.empty() || rate.take(backlog.front().dg.size(), now))) {
        run.push_back(std::move(backlog.front().dg));
        backlog.pop_front();
        ++handed;
      }
      self->send(sock.actor, net::send_atom::value, to, std::move(run));
    }
    // A backlog held by the rate, not by the window, needs no answer yet.
    if (asking || now < ask_after
        || (handed - left < window / 2 && (backlog.empty() || held_by_rate)))
      return;
    asking = true;
    net::request_on_shard(
      self, sock.actor,
      caf::behavior{
        [self, me](const net::udp_stats& s) {
          me->asking = false;
          auto before = me->left;
          me->left = s.sent + s.send_dropped + s.send_errors;
          auto now = bus_clock::now();
          // Nothing left since the last answer. Once may be the socket's
          // send not having run yet (it flushes after its mailbox); twice
          // in a row, its kernel send buffer is full and it waits for
          // room: ask again a little later rather than at once, in a loop.
          if (me->left != before)
            me->stalls = 0;
          else if (++me->stalls >= 2)
            me->ask_after = now + std::chrono::microseconds{200};
          me->settle(self, me, now);
        },
        [me](const caf::error&) {
          // The socket is gone; the publisher goes with it (linked).
          me->asking = false;
        },
      },
      net::stats_atom::value);
  }

  // Sends what the core produced (through the backlog), admits waiting
  // requests the backlog has room for, then re-arms the timer.
  void settle(owner_ptr self, const std::shared_ptr<publisher_state>& me,
              time_point now) {
    for (auto& dg : out)
      queue(group, std::move(dg));
    out.clear();
    pump(self, me, now);
    while (!waiting.empty() && has_room()) {
      auto w = std::move(waiting.front());
      waiting.pop_front();
      publish(w.msgs, now);
      w.rp.deliver(w.count);
      for (auto& dg : out)
        queue(group, std::move(dg));
      out.clear();
      pump(self, me, now);
    }
    // The flush goes to the back of the mailbox, so that publishes queued
    // before it join the datagram first: it seals what arrived in one
    // burst, with no timer. While the backlog holds datagrams the socket is
    // busy and the open one keeps filling (max_delay still bounds it).
    if (opts.flush_when_idle && !flush_queued && core.pending() > 0
        && backlog.empty()) {
      flush_queued = true;
      self->send(self, flush_atom::value);
    }
    auto at = core.next_wakeup();
    if (announce.enabled())
      at = std::min(at, announce.due());
    if (!asking && ask_after > now)
      at = std::min(at, ask_after);
    if (rate.limited() && !backlog.empty() && handed - left < window) {
      // Held by the rate: wake when a quarter of the burst is back (or the
      // datagram in front fits), not for every datagram's worth.
      auto want = std::max<uint64_t>(backlog.front().dg.size(),
                                     rate_burst(opts, core.config()) / 4);
      at = std::min(at, rate.ready_at(want, now));
    }
    timer.arm(self, at, now);
  }

  void publish(const uint8_t* data, size_t size, time_point now) {
    announce.count(1, size);
    if (topic.raw) {
      ++raw_sent;
      queue(group, {data, data + size});
      return;
    }
    core.publish(data, size, now, out);
  }

  void publish(const message_pack& msgs, time_point now) {
    if (topic.raw) {
      msgs.for_each(
        [&](const uint8_t* data, size_t size) { publish(data, size, now); });
      return;
    }
    announce.count(msgs.size(), msgs.payload_bytes());
    core.publish(msgs, now, out);
  }

  // (publish_atom, ...): a request waits for room; anything else is
  // dropped and counted while the backlog is full. `Msgs`: a message_pack
  // or a std::vector<std::string>.
  template <class Msgs>
  void on_publish(owner_ptr self, const std::shared_ptr<publisher_state>& me,
                  Msgs& msgs) {
    auto now = bus_clock::now();
    refill_spares();
    auto* elem = self->current_mailbox_element();
    if (elem != nullptr && elem->mid.is_request()) {
      auto rp = self->make_response_promise();
      if (!waiting.empty() || !has_room()) {
        auto count = static_cast<uint32_t>(msgs.size());
        waiting.push_back({std::move(rp), to_pack(std::move(msgs)), count});
        return;
      }
      if constexpr (std::is_same_v<Msgs, message_pack>)
        publish(msgs, now);
      else
        for (auto& m : msgs)
          publish(bytes_of(m), m.size(), now);
      rp.deliver(static_cast<uint32_t>(msgs.size()));
    } else {
      auto one = [&](const uint8_t* data, size_t size) {
        if (!has_room()) {
          ++refused;
          return;
        }
        publish(data, size, now);
        // Sealed datagrams count against the backlog at once, and go to
        // the socket as its window allows: messages sent together are
        // taken as the same messages sent one by one would be.
        if (!out.empty()) {
          for (auto& dg : out)
            queue(group, std::move(dg));
          out.clear();
          pump(self, me, now);
        }
      };
      if constexpr (std::is_same_v<Msgs, message_pack>)
        msgs.for_each(one);
      else
        for (auto& m : msgs)
          one(bytes_of(m), m.size());
    }
    settle(self, me, now);
  }

  static const uint8_t* bytes_of(const std::string& m) {
    return reinterpret_cast<const uint8_t*>(m.data());
  }

  // A request that waits is kept as a pack. A message too long for a
  // record is longer than any datagram: counted as the core counts it (and
  // still in the answer's count, as when the request is taken at once).
  message_pack to_pack(message_pack&& p) { return std::move(p); }
  message_pack to_pack(std::vector<std::string>&& msgs) {
    message_pack p;
    size_t bytes = 0;
    for (auto& m : msgs)
      bytes += m.size();
    p.reserve(msgs.size(), bytes);
    for (auto& m : msgs)
      if (!p.add(m))
        ++oversize_waiting;
    return p;
  }

  void on_nak(const net::datagram& d, time_point now) {
    auto h = decode_header(d.data, d.size);
    if (!h || h->type != msg_type::nak)
      return;
    auto count = range_count(d.data, d.size);
    if (!count)
      return;
    auto ans = core.on_nak(*h, *count, now);
    if (!ans.ncf.empty())
      queue(group, std::move(ans.ncf));
    auto& repair_to = opts.multicast_repairs ? group : d.from;
    for (auto& dg : ans.repairs)
      queue(repair_to, std::move(dg));
    if (!ans.unavailable.empty())
      queue(d.from, std::move(ans.unavailable));
  }

  publisher_report report() const {
    publisher_report r;
    r.topic = topic.name;
    r.origin = core.config().origin;
    r.session = core.config().session;
    r.core = core.stats();
    r.core.oversize += oversize_waiting;
    r.raw_sent = raw_sent;
    r.backlog = backlog.size();
    r.in_flight = handed - left;
    r.waiting_requests = waiting.size();
    r.refused = refused;
    r.rate_waits = rate_waits;
    return r;
  }
};

} // namespace

publisher_child make_publisher(std::string id, net::io_shards& shards,
                               publisher_options opts) {
  auto info = std::make_shared<publisher_info>(
    opts.origin != 0 ? opts.origin : detail::random_origin());
  auto ep = opts.map.resolve(opts.topic);
  auto sock_opts = detail::socket_options(opts, ep, false);
  sock_opts.socket.segmentation = opts.segmentation;
  // Shared by every start of the socket: it only holds spare buffers, as
  // many as the core takes at twice its bound, none larger than two
  // datagrams. A raw topic sends each message as it is: no spares.
  auto sent = std::make_shared<net::send_buffers>(2 * publisher_core::max_spare,
                                                  2 * opts.core.max_datagram);
  if (!ep.raw)
    sock_opts.socket.recycle = sent;
  auto child = net::make_udp_socket_on_shard(
    std::move(id), shards, std::move(sock_opts),
    [opts, ep, info, sent](owner_ptr self, const net::udp_socket& s) {
      auto cfg = opts.core;
      cfg.origin = info->origin();
      cfg.session = info->started(self->address());
      cfg.topic_hash = ep.hash;
      if (ep.group.is_v6() && cfg.max_datagram == ipv4_max_datagram)
        cfg.max_datagram = ipv6_max_datagram;
      auto st = std::make_shared<publisher_state>(opts, ep, cfg, s, sent);
      st->settle(self, st, bus_clock::now());
      return caf::behavior{
        [self, st](publish_atom, std::string& msg) {
          std::vector<std::string> one;
          one.push_back(std::move(msg));
          st->on_publish(self, st, one);
        },
        [self, st](publish_atom, std::vector<std::string>& msgs) {
          st->on_publish(self, st, msgs);
        },
        [self, st](publish_atom, message_pack& msgs) {
          st->on_publish(self, st, msgs);
        },
        [self, st](flush_atom) {
          st->flush_queued = false;
          auto now = bus_clock::now();
          st->core.flush(now, st->out);
          st->settle(self, st, now);
        },
        [self, st](bus_tick_atom, uint64_t gen) {
          if (!st->timer.fired(gen))
            return;
          auto now = bus_clock::now();
          if (!st->topic.raw)
            st->core.tick(now, st->out);
          if (auto a = st->announce.poll(now, 0, 0); !a.empty())
            st->queue(st->announce.destination(), std::move(a));
          st->settle(self, st, now);
        },
        [self, st](net::udp_atom, const net::udp_batch& b) {
          auto now = bus_clock::now();
          if (!st->topic.raw)
            for (auto d : b.datagrams())
              st->on_nak(d, now);
          st->credit.consumed(self, b.size());
          st->settle(self, st, now);
        },
        [](net::udp_passive_atom) {},
        [](net::udp_error_atom, const caf::error&) {},
        [st](bus_stats_atom) { return st->report(); },
      };
    });
  return {std::move(child.spec), std::move(info)};
}

} // namespace castor::bus
