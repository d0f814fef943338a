// The bounded pieces around the protocol, without a clock or sockets: the
// subscriber's delivery queue under {active, N} credit (delivery_queue.hpp)
// and the token bucket that bounds repair and send rates (token_bucket.hpp).

#define CAF_SUITE bus_queue

#include <caf/test/unit_test.hpp>

#include "bus_sim.hpp"

#include "castor/bus/delivery_queue.hpp"
#include "castor/bus/token_bucket.hpp"

using namespace bus_test;

// -- delivery under credit ---------------------------------------------------

namespace {

/// One step's output holding messages "m<first>".."m<last-1>".
subscriber_output msgs(int first, int last) {
  subscriber_output out;
  for (int i = first; i < last; ++i) {
    auto p = "m" + std::to_string(i);
    out.add(1, static_cast<uint64_t>(i), 0,
            reinterpret_cast<const uint8_t*>(p.data()), p.size());
  }
  return out;
}

void push(delivery_queue& q, int first, int last) {
  auto out = msgs(first, last);
  q.push(out);
}

} // namespace

CAF_TEST(a passive queue delivers nothing and drops beyond its bound) {
  delivery_queue q{3, 10};
  push(q, 0, 2);
  push(q, 2, 5);
  bool passive = false;
  CAF_CHECK(q.take(passive).empty());
  CAF_CHECK_EQUAL(q.size(), 3u);
  CAF_CHECK_EQUAL(q.dropped(), 2u);
}

CAF_TEST(credit bounds each delivery and its end is told once) {
  delivery_queue q{100, 4};
  push(q, 0, 3);
  push(q, 3, 10);
  CAF_CHECK(!q.add(6));
  bool passive = false;
  auto a = q.take(passive); // max_batch 4
  CAF_CHECK_EQUAL(a.size(), 4u);
  CAF_CHECK(!passive);
  auto b = q.take(passive); // the credit's last 2
  CAF_CHECK_EQUAL(b.size(), 2u);
  CAF_CHECK(passive);
  CAF_CHECK_EQUAL(std::string{b[1].payload}, "m5");
  CAF_CHECK(q.take(passive).empty());
  CAF_CHECK(!passive);
  CAF_CHECK_EQUAL(q.delivered(), 6u);
  CAF_CHECK(q.add(-3)); // clamped at 0: passive
  CAF_CHECK_EQUAL(q.credit(), 0);
  q.always(true);
  CAF_CHECK_EQUAL(q.take(passive).size(), 4u);
  CAF_CHECK(!passive);
  CAF_CHECK_EQUAL(q.size(), 0u);
}

CAF_TEST(a delivery keeps its payloads after the queue and the steps are gone) {
  message_batch d;
  {
    delivery_queue q{4, 10};
    push(q, 0, 2);
    // Two of three fit: the newest is dropped, and the step keeps the
    // bytes of the queued two only.
    push(q, 2, 5);
    CAF_CHECK_EQUAL(q.dropped(), 1u);
    q.always(true);
    bool passive = false;
    d = q.take(passive); // spans both steps
  }
  CAF_REQUIRE_EQUAL(d.size(), 4u);
  CAF_CHECK_EQUAL(d.storage.size(), 2u);
  std::vector<std::string> got;
  for (auto& m : d.messages)
    got.emplace_back(m.payload);
  CAF_CHECK_EQUAL(got, range_of(0, 4));
  CAF_CHECK_EQUAL(d[3].seq, 3u);
  // A copy shares the buffers: its views stay valid without the original.
  auto copy = d;
  d = {};
  CAF_CHECK_EQUAL(std::string{copy[2].payload}, "m2");
}

// -- token bucket --------------------------------------------------------------

CAF_TEST(a token bucket gives its burst and then its rate) {
  auto t = sim::t0();
  token_bucket b{1000, 300, t}; // 1000 bytes/s, 300 at once
  CAF_CHECK(b.take(200, t));
  CAF_CHECK(b.take(100, t));
  CAF_CHECK(!b.take(1, t));       // empty: nothing taken
  auto ready = b.ready_at(50, t); // 50 bytes at 1000/s
  CAF_CHECK(ready >= t + 50ms && ready <= t + 50ms + 1us);
  CAF_CHECK(!b.take(50, t + 40ms));
  CAF_CHECK(b.take(50, t + 60ms));
  // Idle for long, it refills to the burst and no further.
  CAF_CHECK(b.ready_at(300, t + 10s) == t + 10s);
  CAF_CHECK(b.take(300, t + 10s));
  CAF_CHECK(!b.take(1, t + 10s));
  token_bucket unlimited;
  CAF_CHECK(!unlimited.limited());
  CAF_CHECK(unlimited.take(uint64_t{1} << 40, t));
}
