#include "castor/bus/publisher.hpp"

#include <utility>

#include "actor_support.hpp"

#include "castor/net/udp_credit.hpp"

namespace castor::bus {

namespace {

// One start of a publisher: the protocol core and the socket it sends on.
struct publisher_state {
  publisher_state(const publisher_options& o, const topic_endpoint& ep,
                  publisher_config cfg, const net::udp_socket& s)
      : opts(o), topic(ep), group(detail::to_endpoint(ep.group, ep.port)),
        core(cfg, bus_clock::now()), sock(s), credit(s, 256),
        announce(o, ep, cfg.origin, 0) {}

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

  void send(caf::event_based_actor* self, const net::udp_endpoint& to,
            std::vector<uint8_t> dg) {
    self->send(sock.actor, net::send_atom::value, to, std::move(dg));
  }

  // Sends what the core produced to the group, then re-arms the timer.
  void flush_out(caf::event_based_actor* self, time_point now) {
    for (auto& dg : out)
      send(self, group, std::move(dg));
    out.clear();
    auto at = core.next_wakeup();
    if (announce.enabled())
      at = std::min(at, announce.due());
    timer.arm(self, at, now);
  }

  void publish(caf::event_based_actor* self, const std::string& msg,
               time_point now) {
    announce.count(1, msg.size());
    if (topic.raw) {
      ++raw_sent;
      send(self, group, {msg.begin(), msg.end()});
      return;
    }
    core.publish(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), now,
                 out);
  }

  void on_nak(caf::event_based_actor* self, const net::datagram& d,
              time_point now) {
    auto h = decode_header(d.data, d.size);
    if (!h || h->type != msg_type::nak)
      return;
    auto count = range_count(d.data, d.size);
    if (!count)
      return;
    auto ans = core.on_nak(*h, *count, now);
    if (!ans.ncf.empty())
      send(self, group, std::move(ans.ncf));
    auto& repair_to = opts.multicast_repairs ? group : d.from;
    for (auto& dg : ans.repairs)
      send(self, repair_to, std::move(dg));
    if (!ans.unavailable.empty())
      send(self, d.from, std::move(ans.unavailable));
  }

  publisher_report report() const {
    publisher_report r;
    r.topic = topic.name;
    r.origin = core.config().origin;
    r.session = core.config().session;
    r.core = core.stats();
    r.raw_sent = raw_sent;
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
  auto child = net::make_udp_socket(
    std::move(id), shards, std::move(sock_opts),
    [opts, ep, info](caf::event_based_actor* self, const net::udp_socket& s) {
      auto cfg = opts.core;
      cfg.origin = info->origin();
      cfg.session = info->started(self->address());
      cfg.topic_hash = ep.hash;
      auto st = std::make_shared<publisher_state>(opts, ep, cfg, s);
      st->flush_out(self, bus_clock::now());
      return caf::behavior{
        [self, st](publish_atom, const std::string& msg) {
          auto now = bus_clock::now();
          st->publish(self, msg, now);
          st->flush_out(self, now);
        },
        [self, st](publish_atom, const std::vector<std::string>& msgs) {
          auto now = bus_clock::now();
          for (auto& m : msgs)
            st->publish(self, m, now);
          st->flush_out(self, now);
        },
        [self, st](flush_atom) {
          auto now = bus_clock::now();
          st->core.flush(now, st->out);
          st->flush_out(self, now);
        },
        [self, st](bus_tick_atom, uint64_t gen) {
          if (!st->timer.fired(gen))
            return;
          auto now = bus_clock::now();
          if (!st->topic.raw)
            st->core.tick(now, st->out);
          if (auto a = st->announce.poll(now, 0, 0); !a.empty())
            st->send(self, st->announce.destination(), std::move(a));
          st->flush_out(self, now);
        },
        [self, st](net::udp_atom, const net::udp_batch& b) {
          auto now = bus_clock::now();
          if (!st->topic.raw)
            for (auto d : b.datagrams())
              st->on_nak(self, d, now);
          st->credit.consumed(self, b.size());
          st->flush_out(self, now);
        },
        [](net::udp_passive_atom) {},
        [](net::udp_error_atom, const caf::error&) {},
        [st](bus_stats_atom) { return st->report(); },
      };
    });
  return {std::move(child.spec), std::move(info)};
}

} // namespace castor::bus
