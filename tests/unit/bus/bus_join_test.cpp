// Where a subscriber's stream starts (bus_sim.hpp, a virtual clock): a
// late joiner starts from live, but a subscriber that was listening when
// the publisher started gets the session's first datagrams even when they
// were the ones lost, or hears of them as a gap. Never silently without.

#define CAF_SUITE bus_join

#include <caf/test/unit_test.hpp>

#include "bus_sim.hpp"

using namespace bus_test;

namespace {

bool original(const dg_info& d, uint64_t seq) {
  return d.type == msg_type::data && !d.repair && d.seq == seq;
}

subscriber_config recovering(uint64_t datagrams) {
  subscriber_config sc;
  sc.join_recovery = datagrams;
  return sc;
}

} // namespace

CAF_TEST(a late joiner starts from live and asks for nothing older) {
  sim s{2, {}, recovering(4)};
  s.joined[1] = false;
  s.publish_each(0, 5);
  s.joined[1] = true;
  s.publish_each(5, 8); // first heard: seq 6, past join_recovery + 1
  s.advance(50ms);
  CAF_CHECK_EQUAL(s.payloads(1), range_of(5, 8));
  CAF_CHECK(s.naks[1].empty());
  CAF_CHECK(s.gaps[1].empty());
  CAF_CHECK_EQUAL(s.subs[1].next_of(42), 9u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 8));
}

CAF_TEST(a late joiner that hears a heartbeat first starts at its lead) {
  sim s{2, {}, recovering(4)};
  s.joined[1] = false;
  s.publish_each(0, 5);
  s.joined[1] = true;
  s.advance(3ms); // heartbeat: next seq 6
  CAF_CHECK_EQUAL(s.subs[1].next_of(42), 6u);
  s.publish_each(5, 6);
  CAF_CHECK_EQUAL(s.payloads(1), range_of(5, 6));
  CAF_CHECK(s.naks[1].empty());
}

CAF_TEST(the first datagrams of a session are repaired like any other) {
  // The subscriber listened before the publisher's first datagram, which
  // the network dropped: it first hears seq 3 and must still get m0..m4.
  sim s{1};
  s.drop = [](size_t, const dg_info& d) {
    return original(d, 1) || original(d, 2);
  };
  s.publish_each(0, 5);
  CAF_CHECK(s.got[0].empty()); // m2..m4 held for m0 and m1
  s.advance(5ms);
  CAF_REQUIRE_EQUAL(s.naks[0].size(), 1u);
  CAF_CHECK_EQUAL(s.naks[0][0].first, 1u);
  CAF_CHECK_EQUAL(s.naks[0][0].count, 2u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 5));
  CAF_CHECK(s.gaps[0].empty());
}

CAF_TEST(a session heard first by its heartbeat is asked for from its start) {
  // Every data datagram of a short burst lost; the heartbeat after it
  // (next seq 4) is the first thing heard.
  sim s{1};
  s.drop = [](size_t, const dg_info& d) {
    return d.type == msg_type::data && !d.repair;
  };
  s.publish_each(0, 3);
  s.advance(10ms);
  CAF_REQUIRE(!s.naks[0].empty());
  CAF_CHECK_EQUAL(s.naks[0][0].first, 1u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 3));
}

CAF_TEST(what the publisher no longer holds of a session start is a gap) {
  // The first datagram lost and out of the publisher's ring (one datagram)
  // by the time it is asked for: the subscriber is told, not left unaware.
  publisher_config pc;
  pc.ring_datagrams = 1;
  sim s{1, pc};
  s.drop = [](size_t, const dg_info& d) { return original(d, 1); };
  s.publish_each(0, 3);
  s.advance(50ms);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(1, 3));
  CAF_REQUIRE_EQUAL(s.gaps[0].size(), 1u);
  CAF_CHECK_EQUAL(s.gaps[0][0].first, 1u);
  CAF_CHECK_EQUAL(s.gaps[0][0].last, 1u);
}

CAF_TEST(join recovery 0 starts every stream from live) {
  sim s{1, {}, recovering(0)};
  s.drop = [](size_t, const dg_info& d) { return original(d, 1); };
  s.publish_each(0, 3);
  s.advance(50ms);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(1, 3));
  CAF_CHECK(s.naks[0].empty());
  CAF_CHECK(s.gaps[0].empty());
}
