#pragma once

// A simulated network for the bus's protocol cores: one publisher_core,
// several subscriber_cores, a virtual clock, and a loss function that
// decides per subscriber and datagram. NAKs reach the publisher at once;
// its NCFs and repairs go through the same lossy group.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "castor/bus/publisher_core.hpp"
#include "castor/bus/subscriber_core.hpp"

namespace bus_test {

using namespace castor::bus;
using namespace std::chrono_literals;

/// What a datagram is, for loss functions.
struct dg_info {
  msg_type type;
  bool repair;
  uint64_t seq;
};

inline dg_info info_of(const std::vector<uint8_t>& dg) {
  auto h = decode_header(dg.data(), dg.size());
  return {h->type, (h->flags & flag_repair) != 0, h->seq};
}

/// A message a simulated subscriber got, with its payload copied out of
/// the step's buffer.
struct got_message {
  uint64_t origin;
  uint64_t seq;
  uint16_t index;
  std::string payload;
};

struct sim {
  static constexpr uint32_t topic = 0x1234;

  explicit sim(size_t n_subs, publisher_config pc = {},
               subscriber_config sc = {})
      : pub(with_ids(pc), t0()) {
    sc.topic_hash = topic;
    for (size_t i = 0; i < n_subs; ++i) {
      sc.seed = static_cast<uint32_t>(i + 7);
      subs.emplace_back(sc);
    }
    got.resize(n_subs);
    gaps.resize(n_subs);
    naks.resize(n_subs);
  }

  static time_point t0() { return time_point{} + 1s; }

  static publisher_config with_ids(publisher_config pc) {
    pc.origin = 42;
    pc.session = 1;
    pc.topic_hash = topic;
    return pc;
  }

  publisher_core pub;
  std::vector<subscriber_core> subs;
  time_point now = t0();
  std::vector<std::vector<got_message>> got;
  std::vector<std::vector<gap_notice>> gaps;
  std::vector<std::vector<nak_request>> naks;
  /// True drops the datagram on its way to subscriber `i`.
  std::function<bool(size_t i, const dg_info&)> drop =
    [](size_t, const dg_info&) { return false; };
  /// Which subscribers are on the group now (late join).
  std::vector<bool> joined = std::vector<bool>(16, true);
  /// True: advance() ticks a subscriber only once its next_wakeup() has
  /// come, as the subscriber actor does; false: at every step.
  bool tick_on_wakeup = false;

  void multicast(const std::vector<uint8_t>& dg) {
    auto inf = info_of(dg);
    for (size_t i = 0; i < subs.size(); ++i)
      if (joined[i] && !drop(i, inf))
        feed(i, dg);
  }

  void send_all(datagrams& out) {
    for (auto& dg : out)
      multicast(dg);
    out.clear();
  }

  void feed(size_t i, const std::vector<uint8_t>& dg) {
    subscriber_output out;
    subs[i].on_datagram(dg.data(), dg.size(), now, out);
    handle(i, out);
  }

  void handle(size_t i, subscriber_output& out) {
    for (auto& m : out.messages)
      got[i].push_back({m.origin, m.seq, m.index, std::string{out.payload(m)}});
    for (auto& g : out.gaps)
      gaps[i].push_back(g);
    auto requests = out.naks;
    out.clear();
    for (auto& n : requests) {
      naks[i].push_back(n);
      header h;
      h.origin = n.origin;
      h.session = n.session;
      h.topic = topic;
      h.seq = n.first;
      auto ans = pub.on_nak(h, n.count, now);
      if (!ans.ncf.empty())
        multicast(ans.ncf);
      for (auto& r : ans.repairs)
        multicast(r);
      if (!ans.unavailable.empty())
        feed(i, ans.unavailable); // unicast to the NAKer
    }
  }

  void publish(const std::string& m) {
    datagrams out;
    pub.publish(reinterpret_cast<const uint8_t*>(m.data()), m.size(), now, out);
    send_all(out);
  }

  void flush() {
    datagrams out;
    pub.flush(now, out);
    send_all(out);
  }

  /// Publishes messages "m<first>".."m<last-1>", one datagram each.
  void publish_each(int first, int last) {
    for (int i = first; i < last; ++i) {
      publish("m" + std::to_string(i));
      flush();
    }
  }

  /// Moves the clock in steps of `step`, running every timer.
  void advance(duration total, duration step = 100us) {
    for (duration d{}; d < total; d += step) {
      now += step;
      datagrams out;
      pub.tick(now, out);
      send_all(out);
      for (size_t i = 0; i < subs.size(); ++i) {
        if (tick_on_wakeup && now < subs[i].next_wakeup())
          continue;
        subscriber_output sout;
        subs[i].tick(now, sout);
        handle(i, sout);
      }
    }
  }

  std::vector<std::string> payloads(size_t i) const {
    std::vector<std::string> xs;
    for (auto& m : got[i])
      xs.push_back(m.payload);
    return xs;
  }

  size_t total_naks() const {
    size_t n = 0;
    for (auto& v : naks)
      n += v.size();
    return n;
  }
};

inline std::vector<std::string> range_of(int first, int last) {
  std::vector<std::string> xs;
  for (int i = first; i < last; ++i)
    xs.push_back("m" + std::to_string(i));
  return xs;
}

} // namespace bus_test
