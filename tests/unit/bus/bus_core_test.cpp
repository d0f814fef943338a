// The bus's protocol state machines, driven directly on a virtual clock
// (bus_sim.hpp): gaps and repair, NAK suppression, the ring running out,
// heartbeats revealing loss at the tail, duplicates. No sockets, no actors;
// the wire format and the topic map too. Late join: bus_join_test.cpp; the
// subscriber's queue and the repair rate's bucket: bus_queue_test.cpp.

#define CAF_SUITE bus_core
#include <random>

#include <caf/test/unit_test_impl.hpp>

#include "bus_sim.hpp"

#include "castor/bus/topic_map.hpp"

using namespace bus_test;

namespace {

bool original(const dg_info& d, uint64_t seq) {
  return d.type == msg_type::data && !d.repair && d.seq == seq;
}

} // namespace

// -- wire and map ------------------------------------------------------------

CAF_TEST(a header survives encoding and a bad one is refused) {
  header h;
  h.type = msg_type::heartbeat;
  h.flags = flag_repair;
  h.origin = 0x0102030405060708;
  h.session = 9;
  h.topic = 0xdeadbeef;
  h.seq = 1ull << 40;
  auto dg = make_heartbeat(h, 77);
  auto back = decode_header(dg.data(), dg.size());
  CAF_REQUIRE(back);
  CAF_CHECK(back->type == msg_type::heartbeat);
  CAF_CHECK_EQUAL(back->origin, h.origin);
  CAF_CHECK_EQUAL(back->session, 9u);
  CAF_CHECK_EQUAL(back->topic, 0xdeadbeefu);
  CAF_CHECK_EQUAL(back->seq, 1ull << 40);
  auto trail = heartbeat_trail(dg.data(), dg.size());
  CAF_REQUIRE(trail);
  CAF_CHECK_EQUAL(trail.value(), 77u);
  decode_error why{};
  dg[2] = 2; // another version
  CAF_CHECK(!decode_header(dg.data(), dg.size(), &why));
  CAF_CHECK(why == decode_error::bad_version);
  CAF_CHECK(!decode_header(dg.data(), 10, &why));
  CAF_CHECK(why == decode_error::short_datagram);
}

CAF_TEST(an announcement survives encoding) {
  header h;
  h.origin = 5;
  h.flags = flag_subscriber;
  announce_body b;
  b.topic = "prices.eu";
  b.group = ip_address::v4(0xefc10203);
  b.port = 24700;
  b.msgs_per_sec = 50000;
  b.bytes_per_sec = 1600000;
  b.gaps = 3;
  b.drops = 4;
  auto dg = make_announce(h, b);
  auto back = decode_announce(dg.data(), dg.size());
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->topic, "prices.eu");
  CAF_CHECK_EQUAL(back->group.to_v4(), 0xefc10203u);
  CAF_CHECK_EQUAL(back->msgs_per_sec, 50000u);
  CAF_CHECK_EQUAL(back->drops, 4u);
  CAF_CHECK(!decode_announce(dg.data(), dg.size() - 1));
}

CAF_TEST(topics map into 239.193 / 16 by hash unless configured) {
  topic_map m;
  auto a = m.resolve("a");
  auto b = m.resolve("b");
  CAF_CHECK_EQUAL(a.group.to_v4() >> 16, 0xefc1u);
  CAF_CHECK_EQUAL(a.port, topic_map::default_port);
  CAF_CHECK(a.group != b.group);
  CAF_CHECK_EQUAL(a.hash, topic_hash("a"));
  CAF_CHECK(!a.raw);
  CAF_CHECK(m.parse_entry("feed=239.9.9.9:5000,raw"));
  auto f = m.resolve("feed");
  CAF_CHECK_EQUAL(f.group.to_string(), "239.9.9.9");
  CAF_CHECK_EQUAL(f.port, 5000);
  CAF_CHECK(f.raw);
  CAF_CHECK(!m.parse_entry("x=239.1.1.1"));
  CAF_CHECK(!m.parse_entry("x=239.1.1:5"));
  CAF_CHECK(!m.parse_entry("x=239.1.1.1:5,cooked"));
  CAF_CHECK(!m.parse_entry("x=239.1.1.1:99999999999"));
  topic_map other{0xefc20000, 3000};
  CAF_CHECK_EQUAL(other.resolve("a").group.to_v4() >> 16, 0xefc2u);
}

CAF_TEST(the ring keeps the newest datagrams within both bounds) {
  retransmit_ring r{4, 100};
  for (uint64_t s = 1; s <= 6; ++s)
    r.push(s, std::vector<uint8_t>(10, static_cast<uint8_t>(s)));
  CAF_CHECK_EQUAL(r.size(), 4u);
  CAF_CHECK_EQUAL(r.trail(), 3u);
  CAF_CHECK_EQUAL(r.lead(), 6u);
  CAF_CHECK(r.find(2) == nullptr);
  CAF_REQUIRE(r.find(5) != nullptr);
  CAF_CHECK_EQUAL((*r.find(5))[0], 5);
  r.push(7, std::vector<uint8_t>(90, 7)); // over 100 bytes: oldest go
  CAF_CHECK_EQUAL(r.trail(), 6u);
  CAF_CHECK_EQUAL(r.bytes(), 100u);
}

CAF_TEST(a full ring copies each datagram into the buffer it evicts) {
  // The publisher's steady state: no allocation per datagram for the ring.
  retransmit_ring r{2};
  std::vector<uint8_t> d(50, 1);
  r.push(1, d);
  r.push(2, d);
  const auto* first = r.find(1)->data();
  d.assign(40, 3);
  r.push(3, d); // evicts 1 and takes its slot and buffer
  CAF_REQUIRE(r.find(3) != nullptr);
  CAF_CHECK(r.find(3)->data() == first);
  CAF_CHECK_EQUAL(r.find(3)->size(), 40u);
  CAF_CHECK_EQUAL((*r.find(3))[0], 3);
  CAF_CHECK(r.find(1) == nullptr);
  CAF_CHECK_EQUAL(r.bytes(), 90u);
}

// -- publisher ---------------------------------------------------------------

CAF_TEST(small messages are batched up to the datagram size) {
  publisher_config pc;
  pc.max_datagram = 100;
  pc.max_delay = 10ms;
  sim s{1, pc};
  std::vector<std::string> sent;
  for (int i = 0; i < 20; ++i)
    s.publish("m" + std::to_string(i));
  // 32 header + n x (2 + 2..3): ten or so fit in 100 bytes.
  CAF_CHECK(s.pub.stats().datagrams >= 1u);
  CAF_CHECK(s.pub.stats().datagrams < 5u);
  CAF_CHECK(s.pub.pending() > 0u);
  std::string big(100, 'x');
  datagrams out;
  CAF_CHECK(!s.pub.publish(reinterpret_cast<const uint8_t*>(big.data()),
                           big.size(), s.now, out));
  CAF_CHECK_EQUAL(s.pub.stats().oversize, 1u);
  // The time bound seals the rest.
  s.advance(11ms);
  CAF_CHECK_EQUAL(s.pub.pending(), 0u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 20));
}

CAF_TEST(datagrams written into spare buffers are those of fresh ones) {
  publisher_config pc;
  pc.max_datagram = 200;
  pc.origin = 7;
  pc.session = 9;
  publisher_core fresh{pc};
  publisher_core recycled{pc};
  // Buffers that held other datagrams: full of stale bytes, longer than
  // the datagrams to come. Ones too small or too large are not taken.
  std::vector<std::vector<uint8_t>> spares;
  for (int i = 0; i < 4; ++i)
    spares.emplace_back(200, uint8_t{0xee});
  spares.emplace_back(10, uint8_t{0xee});
  spares.emplace_back(1000, uint8_t{0xee});
  recycled.add_spare_buffers(spares);
  CAF_CHECK(spares.empty());
  CAF_CHECK_EQUAL(recycled.spare_buffers(), 4u);
  datagrams a;
  datagrams b;
  for (int i = 0; i < 100; ++i) {
    auto m = "message-" + std::to_string(i);
    auto* p = reinterpret_cast<const uint8_t*>(m.data());
    fresh.publish(p, m.size(), {}, a);
    recycled.publish(p, m.size(), {}, b);
  }
  fresh.flush({}, a);
  recycled.flush({}, b);
  CAF_CHECK_EQUAL(recycled.spare_buffers(), 0u);
  CAF_REQUIRE_GREATER(a.size(), 4u);
  CAF_CHECK(a == b);
}

// -- subscriber --------------------------------------------------------------

CAF_TEST(a gap is NAKed after the back - off and repaired in order) {
  sim s{1};
  s.drop = [](size_t, const dg_info& d) { return original(d, 3); };
  s.publish_each(0, 3); // seqs 1..3, 3 lost
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 2));
  s.publish_each(3, 5); // seqs 4, 5 held back: in order delivery
  CAF_CHECK_EQUAL(s.got[0].size(), 2u);
  CAF_CHECK(s.naks[0].empty()); // back-off first
  s.advance(1ms);
  CAF_REQUIRE_EQUAL(s.naks[0].size(), 1u);
  CAF_CHECK_EQUAL(s.naks[0][0].first, 3u);
  CAF_CHECK_EQUAL(s.naks[0][0].count, 1u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 5));
  CAF_CHECK(s.gaps[0].empty());
  CAF_CHECK_EQUAL(s.subs[0].stats().repairs, 1u);
}

CAF_TEST(consecutive losses go in one NAK range) {
  sim s{1};
  s.drop = [](size_t, const dg_info& d) {
    return original(d, 2) || original(d, 3) || original(d, 4);
  };
  s.publish_each(0, 6);
  s.advance(1ms);
  CAF_REQUIRE_EQUAL(s.naks[0].size(), 1u);
  CAF_CHECK_EQUAL(s.naks[0][0].first, 2u);
  CAF_CHECK_EQUAL(s.naks[0][0].count, 3u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 6));
}

CAF_TEST(another subscribers NCF suppresses the same NAK) {
  subscriber_config sc;
  sc.nak_backoff_max = 5ms;
  sim s{4, {}, sc};
  // All four miss seq 2.
  s.drop = [](size_t, const dg_info& d) { return original(d, 2); };
  s.publish_each(0, 3);
  s.advance(6ms);
  // The first back-off to run out NAKs; the publisher's NCF (and repair)
  // reach the others before theirs does.
  CAF_CHECK_EQUAL(s.total_naks(), 1u);
  uint64_t suppressed = 0;
  for (size_t i = 0; i < 4; ++i) {
    CAF_CHECK_EQUAL(s.payloads(i), range_of(0, 3));
    suppressed += s.subs[i].stats().suppressed;
  }
  CAF_CHECK_EQUAL(suppressed, 3u);
  CAF_CHECK_EQUAL(s.pub.stats().repairs, 1u);
}

CAF_TEST(an NCF holds the NAK even when the repair is lost) {
  subscriber_config sc;
  sc.nak_backoff_max = 5ms;
  sc.nak_repeat = 10ms;
  sim s{2, {}, sc};
  // Both miss seq 2; the first repair is lost to both.
  int repairs = 0;
  s.drop = [&repairs](size_t i, const dg_info& d) {
    if (d.type == msg_type::data && d.repair && d.seq == 2)
      return i == 1 ? repairs++ == 0 : repairs == 0;
    return original(d, 2);
  };
  s.publish_each(0, 3);
  s.advance(6ms);
  CAF_CHECK_EQUAL(s.total_naks(), 1u);
  CAF_CHECK(s.got[0].size() < 3u || s.got[1].size() < 3u);
  // After nak_repeat both NAK again (the NCF held them only that long);
  // the publisher repairs once per hold-off.
  s.advance(20ms);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 3));
  CAF_CHECK_EQUAL(s.payloads(1), range_of(0, 3));
  CAF_CHECK(s.gaps[0].empty());
  CAF_CHECK(s.gaps[1].empty());
}

CAF_TEST(data gone from the ring is an unrecoverable gap and delivery goes on) {
  publisher_config pc;
  pc.ring_datagrams = 4;
  pc.heartbeat_min = 1s; // no heartbeat says the trail before the NAK does
  pc.heartbeat_max = 1s;
  sim s{1, pc};
  s.drop = [](size_t, const dg_info& d) {
    return original(d, 2) || d.type == msg_type::heartbeat;
  };
  s.publish_each(0, 10); // seq 2 lost; the ring holds 7..10 when NAKed
  CAF_CHECK_EQUAL(s.got[0].size(), 1u);
  s.advance(1ms);
  CAF_REQUIRE_EQUAL(s.naks[0].size(), 1u);
  CAF_CHECK_EQUAL(s.pub.stats().unavailable, 1u);
  CAF_REQUIRE_EQUAL(s.gaps[0].size(), 1u);
  CAF_CHECK(s.gaps[0][0] == (gap_notice{42, 2, 2}));
  auto want = range_of(0, 1);
  auto rest = range_of(2, 10);
  want.insert(want.end(), rest.begin(), rest.end());
  CAF_CHECK_EQUAL(s.payloads(0), want);
  // And it goes on.
  s.publish_each(10, 12);
  CAF_CHECK_EQUAL(s.got[0].size(), 11u);
}

CAF_TEST(a heartbeat whose trail passed a gap ends it without a NAK) {
  publisher_config pc;
  pc.ring_datagrams = 2;
  subscriber_config sc;
  sc.nak_backoff_max = 50ms;
  sim s{1, pc, sc};
  s.drop = [](size_t, const dg_info& d) { return original(d, 2); };
  s.publish_each(0, 6);           // the ring holds 5 and 6
  s.multicast(s.pub.heartbeat()); // trail 5, before any back-off ends
  CAF_CHECK(s.naks[0].empty());
  CAF_REQUIRE_EQUAL(s.gaps[0].size(), 1u);
  CAF_CHECK(s.gaps[0][0] == (gap_notice{42, 2, 2}));
  CAF_CHECK_EQUAL(s.got[0].size(), 5u);
}

CAF_TEST(a wide NAK is repaired a capped part at a time) {
  publisher_config pc;
  pc.max_repairs_per_nak = 4;
  sim s{1, pc};
  s.drop = [](size_t, const dg_info& d) {
    return d.type == msg_type::data && !d.repair && d.seq >= 2 && d.seq <= 11;
  };
  s.publish_each(0, 12); // 2..11 lost: one NAK of 10
  s.advance(1ms);
  CAF_REQUIRE_EQUAL(s.naks[0].size(), 1u);
  CAF_CHECK_EQUAL(s.naks[0][0].count, 10u);
  CAF_CHECK_EQUAL(s.pub.stats().repairs, 4u);
  CAF_CHECK_EQUAL(s.got[0].size(), 5u); // m0 and the four repaired
  s.advance(50ms); // the rest is NAKed again after nak_repeat
  CAF_CHECK_EQUAL(s.naks[0].size(), 3u);
  CAF_CHECK_EQUAL(s.pub.stats().naks_capped, 2u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 12));
  CAF_CHECK(s.gaps[0].empty());
}

CAF_TEST(a NAK flood is repaired no faster than the repair rate) {
  auto pc = sim::with_ids({});
  pc.max_delay = 0ms;
  pc.repair_holdoff = 0ms;  // every NAK asks anew
  pc.repair_rate = 100'000; // bytes/s
  pc.repair_burst = 10'000;
  auto now = sim::t0();
  publisher_core p{pc, now};
  datagrams out;
  // 100 datagrams of exactly 1000 B: header, length, 966 B.
  std::string m(1000 - header_size - message_overhead, 'x');
  auto publish = [&] {
    return p.publish(reinterpret_cast<const uint8_t*>(m.data()), m.size(), now,
                     out);
  };
  for (int i = 0; i < 100; ++i)
    CAF_REQUIRE(publish());
  CAF_REQUIRE_EQUAL(out.size(), 100u);
  CAF_REQUIRE_EQUAL(out[0].size(), 1000u);
  header nak;
  nak.type = msg_type::nak;
  nak.origin = 42;
  nak.session = 1;
  nak.topic = sim::topic;
  nak.seq = 1;
  // Fifty subscribers NAK everything at once: the burst (10 datagrams)
  // goes out, confirmed that far; the rest is held back and counted.
  size_t repaired = 0;
  for (int i = 0; i < 50; ++i) {
    auto ans = p.on_nak(nak, 100, now);
    repaired += ans.repairs.size();
    if (i == 0) {
      CAF_CHECK_EQUAL(ans.repairs.size(), 10u);
      CAF_CHECK_EQUAL(range_count(ans.ncf.data(), ans.ncf.size()),
                      uint32_t{10});
    } else {
      CAF_CHECK(ans.repairs.empty());
      CAF_CHECK(ans.ncf.empty()); // nothing confirmed: NAK again
    }
  }
  CAF_CHECK_EQUAL(repaired, 10u);
  CAF_CHECK_EQUAL(p.stats().repairs, 10u);
  CAF_CHECK_EQUAL(p.stats().naks_limited, 50u);
  CAF_CHECK_EQUAL(p.stats().repairs_limited, 90u + 49u * 100u);
  // Live data is not limited.
  out.clear();
  CAF_CHECK(publish());
  CAF_CHECK_EQUAL(out.size(), 1u);
  // 50 ms refill 5000 B: five more repairs, from where the NAK asks.
  now += 50ms;
  auto ans = p.on_nak(nak, 100, now);
  CAF_CHECK_EQUAL(ans.repairs.size(), 5u);
  CAF_CHECK_EQUAL(p.stats().repairs, 15u);
  // Off: the whole range at once.
  pc.repair_rate = 0;
  publisher_core unlimited{pc, now};
  out.clear();
  for (int i = 0; i < 100; ++i)
    CAF_REQUIRE(unlimited.publish(reinterpret_cast<const uint8_t*>(m.data()),
                                  m.size(), now, out));
  CAF_CHECK_EQUAL(unlimited.on_nak(nak, 100, now).repairs.size(), 100u);
  CAF_CHECK_EQUAL(unlimited.stats().repairs_limited, 0u);
}

CAF_TEST(a heartbeat reveals loss at the tail) {
  sim s{1};
  s.drop = [](size_t, const dg_info& d) {
    return original(d, 4) || original(d, 5);
  };
  s.publish_each(0, 5); // the last two datagrams lost, nothing after them
  CAF_CHECK_EQUAL(s.got[0].size(), 3u);
  CAF_CHECK_EQUAL(s.subs[0].next_wakeup(), time_point::max());
  s.advance(5ms); // heartbeat_min 2 ms, then back-off and NAK
  CAF_REQUIRE_EQUAL(s.naks[0].size(), 1u);
  CAF_CHECK_EQUAL(s.naks[0][0].first, 4u);
  CAF_CHECK_EQUAL(s.naks[0][0].count, 2u);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 5));
}

CAF_TEST(duplicates are dropped and counted) {
  sim s{1};
  datagrams out;
  std::string m = "once";
  s.pub.publish(reinterpret_cast<const uint8_t*>(m.data()), m.size(), s.now,
                out);
  s.pub.flush(s.now, out);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  s.multicast(out[0]);
  s.multicast(out[0]); // the network duplicated it
  header h;
  h.origin = 42;
  h.session = 1;
  h.topic = sim::topic;
  h.seq = 1;
  auto ans = s.pub.on_nak(h, 1, s.now); // someone else's repair
  CAF_REQUIRE_EQUAL(ans.repairs.size(), 1u);
  s.multicast(ans.repairs[0]);
  // Out of order, then its duplicate while held.
  s.publish_each(1, 3);
  CAF_CHECK_EQUAL(s.payloads(0),
                  (std::vector<std::string>{"once", "m1", "m2"}));
  CAF_CHECK_EQUAL(s.subs[0].stats().duplicates, 2u);
}

CAF_TEST(a held datagram arriving twice is delivered once) {
  sim s{1};
  s.drop = [](size_t, const dg_info& d) { return original(d, 2); };
  datagrams out;
  for (int i = 0; i < 4; ++i) {
    std::string m = "m" + std::to_string(i);
    s.pub.publish(reinterpret_cast<const uint8_t*>(m.data()), m.size(), s.now,
                  out);
    s.pub.flush(s.now, out);
  }
  for (auto& dg : out)
    s.multicast(dg);
  s.multicast(out[3]); // seq 4 again, held behind the gap
  CAF_CHECK_EQUAL(s.got[0].size(), 1u);
  s.advance(1ms);
  CAF_CHECK_EQUAL(s.payloads(0), range_of(0, 4));
  CAF_CHECK_EQUAL(s.subs[0].stats().duplicates, 1u);
}

CAF_TEST(a publisher that stops answering ends in a gap notice and no stall) {
  subscriber_config sc;
  sc.nak_attempts = 3;
  sc.nak_repeat = 5ms;
  sim s{1, {}, sc};
  s.drop = [](size_t, const dg_info& d) {
    return original(d, 2) || (d.type == msg_type::data && d.repair)
           || d.type == msg_type::ncf;
  };
  s.publish_each(0, 4);
  s.advance(30ms);
  CAF_CHECK_EQUAL(s.naks[0].size(), 3u);
  CAF_REQUIRE_EQUAL(s.gaps[0].size(), 1u);
  CAF_CHECK(s.gaps[0][0] == (gap_notice{42, 2, 2}));
  CAF_CHECK_EQUAL(s.got[0].size(), 3u);
}

CAF_TEST(a jump beyond the window is given up as one gap) {
  subscriber_config sc;
  sc.window = 8;
  sim s{1, {}, sc};
  s.drop = [](size_t, const dg_info& d) {
    return d.type == msg_type::data && !d.repair && d.seq >= 2 && d.seq <= 20;
  };
  s.publish_each(0, 21); // seqs 1..21; 2..20 lost
  // The window holds 14..21: 2..13 are given up at once.
  CAF_CHECK_EQUAL(s.subs[0].stats().lost, 12u);
  CAF_REQUIRE(!s.gaps[0].empty());
  CAF_CHECK_EQUAL(s.gaps[0][0].first, 2u);
  CAF_CHECK(s.gaps[0][0] == (gap_notice{42, 2, 13}));
  s.advance(5ms); // the rest is repaired
  CAF_CHECK_EQUAL(s.got[0].size(), 1u + 7u + 1u);
}

CAF_TEST(a restarted publisher is a new stream and the old one is ignored) {
  sim s{1};
  s.publish_each(0, 3);
  publisher_config pc = sim::with_ids({});
  pc.session = 2;
  publisher_core again{pc, s.now};
  datagrams out;
  std::string m = "new";
  again.publish(reinterpret_cast<const uint8_t*>(m.data()), m.size(), s.now,
                out);
  again.flush(s.now, out);
  s.send_all(out);
  CAF_CHECK_EQUAL(s.subs[0].stats().streams, 2u);
  s.publish_each(3, 4); // the old session's stray datagram
  CAF_CHECK_EQUAL(s.payloads(0),
                  (std::vector<std::string>{"m0", "m1", "m2", "new"}));
}

CAF_TEST(random loss of five percent is repaired without gaps or duplicates) {
  // Ticked at every step, and only when next_wakeup() says (the actor).
  for (bool on_wakeup : {false, true}) {
    publisher_config pc;
    pc.max_delay = 0s;
    sim s{3, pc};
    s.tick_on_wakeup = on_wakeup;
    std::minstd_rand rng{2026};
    uint64_t dropped = 0;
    s.drop = [&](size_t, const dg_info&) {
      auto lost = rng() % 100 < 5;
      dropped += lost ? 1 : 0;
      return lost;
    };
    for (int i = 0; i < 5000; ++i) {
      s.publish("m" + std::to_string(i));
      if (i % 50 == 49)
        s.advance(1ms);
    }
    s.advance(200ms);
    CAF_CHECK(dropped > 500u);
    for (size_t i = 0; i < 3; ++i) {
      CAF_CHECK(s.gaps[i].empty());
      CAF_CHECK_EQUAL(s.payloads(i), range_of(0, 5000));
      CAF_CHECK_EQUAL(s.subs[i].next_wakeup(), time_point::max());
    }
  }
}
