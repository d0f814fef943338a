// Unit tests of castor-send's and castor-recv's logic: the probe header,
// per-stream accounting (loss, duplicates, reordering), latency
// percentiles, pacing arithmetic, thread plans and stream expansion. No
// sockets and no clocks: every input is given, every answer is exact or
// bounded by the histogram's documented precision.

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "endpoint.hpp"
#include "latency_histogram.hpp"
#include "probe_header.hpp"
#include "receive_report.hpp"
#include "send_pacer.hpp"
#include "send_plan.hpp"
#include "socket_util.hpp"
#include "stream_accounting.hpp"
#include <gtest/gtest.h>
#include <netinet/in.h>

using namespace castor::tools;

// -- probe header -------------------------------------------------------------

TEST(probe_header, round_trips_in_network_byte_order) {
  uint8_t buf[probe_header_size + 8] = {};
  write_probe_header(probe_header{0x01020304, 0x1122334455667788ull, 42}, buf);
  EXPECT_EQ(buf[0], 'C');
  EXPECT_EQ(buf[3], 'R');
  EXPECT_EQ(buf[4], 0x01);
  EXPECT_EQ(buf[15], 0x88);
  auto h = read_probe_header(buf, sizeof(buf));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->stream, 0x01020304u);
  EXPECT_EQ(h->sequence, 0x1122334455667788ull);
  EXPECT_EQ(h->sent_ns, 42u);
}

TEST(probe_header, rejects_short_and_foreign_datagrams) {
  uint8_t buf[probe_header_size] = {};
  write_probe_header(probe_header{1, 2, 3}, buf);
  EXPECT_FALSE(read_probe_header(buf, probe_header_size - 1));
  buf[0] = 'X';
  EXPECT_FALSE(read_probe_header(buf, probe_header_size));
}

// -- stream accounting --------------------------------------------------------

TEST(stream_accounting, in_order_stream_has_nothing_to_report) {
  stream_accounting s;
  for (uint64_t i = 0; i < 1000; ++i)
    s.record(i, 10);
  EXPECT_EQ(s.received(), 1000u);
  EXPECT_EQ(s.lost(), 0u);
  EXPECT_EQ(s.lost(1000), 0u);
  EXPECT_EQ(s.duplicates(), 0u);
  EXPECT_EQ(s.reordered(), 0u);
}

TEST(stream_accounting, gaps_are_lost_and_the_tail_needs_an_expectation) {
  stream_accounting s;
  for (uint64_t i = 0; i < 100; ++i)
    if (i % 10 != 3) // 10 gaps
      s.record(i, 0);
  EXPECT_EQ(s.received(), 90u);
  EXPECT_EQ(s.lost(), 10u);
  // The sender sent 150: the 50 after the last arrival are invisible
  // without being told.
  EXPECT_EQ(s.lost(150), 60u);
  EXPECT_EQ(s.reordered(), 0u);
}

TEST(stream_accounting, a_lost_head_counts_from_zero) {
  stream_accounting s;
  for (uint64_t i = 5; i < 10; ++i)
    s.record(i, 0);
  EXPECT_EQ(s.lost(), 5u);
  EXPECT_EQ(s.span(), 10u);
}

TEST(stream_accounting, duplicates_are_not_received_twice) {
  stream_accounting s;
  s.record(0, 0);
  s.record(1, 0);
  s.record(1, 0);
  s.record(0, 0); // a late duplicate: a duplicate, not a reordering
  s.record(2, 0);
  EXPECT_EQ(s.received(), 3u);
  EXPECT_EQ(s.duplicates(), 2u);
  EXPECT_EQ(s.reordered(), 0u);
  EXPECT_EQ(s.lost(3), 0u);
}

TEST(stream_accounting, late_arrivals_are_reordered_not_lost) {
  stream_accounting s;
  for (uint64_t seq : {0, 2, 1, 3, 6, 4, 5, 7})
    s.record(seq, 0);
  EXPECT_EQ(s.received(), 8u);
  EXPECT_EQ(s.reordered(), 3u); // 1, 4 and 5 came after a higher number
  EXPECT_EQ(s.lost(8), 0u);
  EXPECT_EQ(s.duplicates(), 0u);
}

TEST(stream_accounting, more_than_expected_is_not_negative_loss) {
  stream_accounting s;
  for (uint64_t i = 0; i < 20; ++i)
    s.record(i, 0);
  EXPECT_EQ(s.lost(10), 0u);
}

TEST(stream_accounting, sequence_beyond_the_bitmap_is_set_aside) {
  stream_accounting s;
  s.record(stream_accounting::max_sequence + 1, 0);
  s.record(UINT64_MAX, 0);
  EXPECT_EQ(s.out_of_range(), 2u);
  EXPECT_EQ(s.received(), 0u);
  EXPECT_EQ(s.lost(), 0u);
  s.record(stream_accounting::max_sequence, 0); // the last one that fits
  EXPECT_EQ(s.received(), 1u);
}

TEST(stream_accounting, matches_a_reference_model_on_a_shuffled_stream) {
  // Take 0..9999, drop every 7th, duplicate every 11th, shuffle locally,
  // and compare with counts computed the obvious way.
  std::mt19937 rng(12345);
  std::vector<uint64_t> arrivals;
  for (uint64_t i = 0; i < 10000; ++i) {
    if (i % 7 == 0)
      continue;
    arrivals.push_back(i);
    if (i % 11 == 0)
      arrivals.push_back(i);
  }
  for (std::size_t i = 0; i + 8 < arrivals.size(); i += 8)
    std::shuffle(arrivals.begin() + static_cast<long>(i),
                 arrivals.begin() + static_cast<long>(i + 8), rng);
  std::set<uint64_t> seen;
  uint64_t dups = 0, reordered = 0, highest = 0;
  stream_accounting s;
  for (auto seq : arrivals) {
    s.record(seq, 0);
    if (!seen.insert(seq).second) {
      ++dups;
      continue;
    }
    if (seen.size() > 1 && seq < highest)
      ++reordered;
    highest = std::max(highest, seq);
  }
  EXPECT_EQ(s.received(), seen.size());
  EXPECT_EQ(s.duplicates(), dups);
  EXPECT_EQ(s.reordered(), reordered);
  EXPECT_EQ(s.lost(10000), 10000 - seen.size());
  EXPECT_GT(reordered, 0u);
}

// -- latency percentiles ------------------------------------------------------

TEST(latency_histogram, buckets_are_contiguous_and_tight) {
  // Every value maps into a bucket whose upper bound is >= the value and
  // within 1/64 of it; bucket numbers never go down as values go up.
  unsigned previous = 0;
  for (uint64_t v = 0; v < 200000; v += (v < 1000 ? 1 : 37)) {
    auto b = latency_histogram::bucket_of(v);
    auto upper = latency_histogram::bucket_upper(b);
    ASSERT_GE(b, previous) << v;
    ASSERT_GE(upper, v) << v;
    ASSERT_LE(upper - v, v / 64 + 1) << v;
    if (b > 0) {
      ASSERT_LT(latency_histogram::bucket_upper(b - 1), v) << v;
    }
    previous = b;
  }
  for (uint64_t v :
       {uint64_t{1} << 40, (uint64_t{1} << 50) + 12345, UINT64_MAX}) {
    auto upper =
      latency_histogram::bucket_upper(latency_histogram::bucket_of(v));
    EXPECT_GE(upper, v);
  }
}

TEST(latency_histogram, small_values_are_exact) {
  latency_histogram h;
  for (uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  EXPECT_EQ(h.percentile(0.50), 50u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_EQ(h.min(), 1u);
}

TEST(latency_histogram, percentiles_are_within_the_documented_precision) {
  // 1..100000 us in ns: the exact p50 is 50000 us, p99 99000 us.
  latency_histogram h;
  for (uint64_t v = 1; v <= 100000; ++v)
    h.record(v * 1000);
  auto p50 = h.percentile(0.50);
  auto p99 = h.percentile(0.99);
  EXPECT_GE(p50, 50'000'000u);
  EXPECT_LE(p50, 50'000'000u + 50'000'000u / 64);
  EXPECT_GE(p99, 99'000'000u);
  EXPECT_LE(p99, 99'000'000u + 99'000'000u / 64);
  EXPECT_EQ(h.max(), 100'000'000u);
}

TEST(latency_histogram, a_tail_moves_p99_but_not_p50) {
  latency_histogram h;
  for (int i = 0; i < 980; ++i)
    h.record(10'000);
  for (int i = 0; i < 20; ++i)
    h.record(5'000'000);
  EXPECT_LE(h.percentile(0.50), 10'000u + 10'000u / 64);
  EXPECT_GE(h.percentile(0.99), 5'000'000u);
  EXPECT_EQ(h.max(), 5'000'000u);
}

TEST(latency_histogram, empty_and_merged) {
  latency_histogram a, b;
  EXPECT_EQ(a.percentile(0.5), 0u);
  EXPECT_EQ(a.max(), 0u);
  EXPECT_EQ(a.min(), 0u);
  a.record(10);
  b.record(20);
  b.record(30);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.percentile(0.5), 20u);
  EXPECT_EQ(a.max(), 30u);
  EXPECT_EQ(a.min(), 10u);
}

// -- the receiver's report ----------------------------------------------------

TEST(receive_report, totals_sum_streams_and_count_missing_ones) {
  receive_report r;
  for (uint64_t i = 0; i < 100; ++i)
    r.record(7, i, 1000, i);
  for (uint64_t i = 0; i < 100; ++i)
    if (i != 50)
      r.record(8, i, 2000, 100 + i);
  r.record(8, 3, 2000, 300); // a duplicate
  r.record_foreign();
  expectation expect{3, 100}; // stream 3 of 3 never arrives
  EXPECT_FALSE(r.complete(expect));
  auto t = r.totals(expect);
  EXPECT_EQ(t.all.stream, 2u);
  EXPECT_EQ(t.missing_streams, 1u);
  EXPECT_EQ(t.all.received, 199u);
  EXPECT_EQ(t.all.lost, 1u + 100u);
  EXPECT_EQ(t.all.duplicates, 1u);
  EXPECT_EQ(t.foreign, 1u);
  EXPECT_GE(t.all.p50_ns, 1000u); // 100 of 201 arrivals took 1 us
  EXPECT_LE(t.all.p50_ns, 1000u + 1000u / 64);
  EXPECT_EQ(t.all.max_ns, 2000u);
  auto rows = r.rows(expect);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].stream, 7u);
  EXPECT_EQ(rows[1].lost, 1u);

  auto line = r.summary_line(expect);
  EXPECT_NE(line.find("received=199 "), std::string::npos) << line;
  EXPECT_NE(line.find("lost=101 "), std::string::npos) << line;
  EXPECT_NE(line.find("missing_streams=1 "), std::string::npos) << line;
  auto j = r.to_json(expect);
  EXPECT_EQ(j["total"]["lost"], 101);
  EXPECT_EQ(j["streams"].size(), 2u);
  EXPECT_EQ(j["streams"][1]["stream"], 8);
}

TEST(receive_report, complete_only_when_every_stream_is_full) {
  receive_report r;
  expectation expect{2, 3};
  for (uint64_t i = 0; i < 3; ++i)
    r.record(0, i, 0, 0);
  EXPECT_FALSE(r.complete(expect));
  r.record(1, 0, 0, 0);
  r.record(1, 0, 0, 0); // duplicates do not fill a stream
  r.record(1, 1, 0, 0);
  EXPECT_FALSE(r.complete(expect));
  r.record(1, 2, 0, 0);
  EXPECT_TRUE(r.complete(expect));
  EXPECT_FALSE(r.complete(expectation{2, 0})); // unknown count: never
}

// -- pacing -------------------------------------------------------------------

TEST(send_pacer, allows_what_the_rate_has_made_due) {
  // 100 kpps, 50 us gap: batches of 5.
  send_pacer p(100'000, 1'000'000, 64);
  EXPECT_EQ(p.allowed(999'999, 0), 0u);   // before the start
  EXPECT_EQ(p.allowed(1'000'000, 0), 1u); // the first goes at once
  EXPECT_EQ(p.allowed(1'000'000, 1), 0u);
  EXPECT_EQ(p.allowed(1'000'000 + 100'000, 1), 10u); // 100 us: 11 due
  // Far behind: never more than a batch at once.
  EXPECT_EQ(p.allowed(1'000'000 + 1'000'000'000, 0), 64u);
  // Next wake-up: when 5 more are due after the first, at 50 us.
  EXPECT_EQ(p.wake_at(1), 1'000'000u + 50'000u);
  EXPECT_EQ(p.allowed(p.wake_at(1), 1), 5u);
}

TEST(send_pacer, over_a_second_sends_exactly_the_rate) {
  send_pacer p(12'345, 0, 32);
  uint64_t sent = 0;
  uint64_t now = 0;
  while (now < 1'000'000'000) {
    sent += p.allowed(now, sent);
    now = std::max(now + 1, p.wake_at(sent));
  }
  // Due by t = 1 s (exclusive): floor(0.999.. * rate) + 1.
  EXPECT_GE(sent, 12'345u);
  EXPECT_LE(sent, 12'346u);
}

TEST(send_pacer, slow_rates_wake_per_datagram_and_zero_is_unpaced) {
  send_pacer slow(10, 0, 64); // one per 100 ms
  EXPECT_EQ(slow.wake_at(1), 100'000'000u);
  send_pacer unpaced(0, 0, 16);
  EXPECT_FALSE(unpaced.paced());
  EXPECT_EQ(unpaced.allowed(0, 1'000'000), 16u);
}

// -- thread plans -------------------------------------------------------------

/// Every (stream, sequence) below `count` exactly once over all lanes.
void expect_exact_cover(const std::vector<thread_plan>& plan, uint32_t streams,
                        uint64_t count) {
  std::map<std::pair<uint32_t, uint64_t>, int> hits;
  double share = 0;
  for (const auto& t : plan) {
    share += t.rate_share;
    for (const auto& l : t.lanes)
      for (uint64_t s = l.first; s < l.end; s += l.stride)
        ++hits[{l.stream_index, s}];
  }
  EXPECT_EQ(hits.size(), uint64_t{streams} * count);
  for (const auto& [key, n] : hits)
    EXPECT_EQ(n, 1) << key.first << "/" << key.second;
  EXPECT_NEAR(share, 1.0, 1e-9);
}

TEST(send_plan, whole_streams_per_thread_when_there_are_enough) {
  auto plan = plan_threads(5, 2, 10);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].lanes.size(), 3u);
  EXPECT_EQ(plan[1].lanes.size(), 2u);
  for (const auto& t : plan)
    for (const auto& l : t.lanes)
      EXPECT_EQ(l.stride, 1u);
  EXPECT_DOUBLE_EQ(plan[0].rate_share, 0.6);
  expect_exact_cover(plan, 5, 10);
}

TEST(send_plan, interleaves_sequence_numbers_when_streams_are_few) {
  auto plan = plan_threads(1, 3, 10);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[1].lanes[0].first, 1u);
  EXPECT_EQ(plan[1].lanes[0].stride, 3u);
  expect_exact_cover(plan, 1, 10);
}

TEST(send_plan, idle_threads_are_dropped_and_shares_renormalised) {
  auto plan = plan_threads(1, 4, 2);
  ASSERT_EQ(plan.size(), 2u);
  expect_exact_cover(plan, 1, 2);
  auto unbounded = plan_threads(2, 0, 0); // threads clamp to 1
  ASSERT_EQ(unbounded.size(), 1u);
  EXPECT_EQ(unbounded[0].lanes[0].end, UINT64_MAX);
}

// -- endpoints ----------------------------------------------------------------

TEST(endpoint, parses_and_prints) {
  auto e = parse_endpoint("239.1.2.3:5001");
  EXPECT_EQ(e.address, 0xEF010203u);
  EXPECT_EQ(e.port, 5001);
  EXPECT_TRUE(e.multicast());
  EXPECT_EQ(to_string(e), "239.1.2.3:5001");
  EXPECT_FALSE(parse_endpoint("10.0.0.1:1").multicast());
  for (const char* bad :
       {"239.1.1.1", "239.1.1.1:", "239.1.1.1:0", "239.1.1.1:65536",
        "239.1.1:80", "x:80", "239.1.1.1:5x"})
    EXPECT_THROW(parse_endpoint(bad), std::invalid_argument) << bad;
}

TEST(endpoint, expands_consecutive_streams) {
  auto first = parse_endpoint("239.1.1.254:5000");
  auto v = expand_streams({first}, 3, false);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(to_string(v[2]), "239.1.2.0:5002"); // carries into the next octet
  auto same = expand_streams({first}, 3, true);
  EXPECT_EQ(same[2].port, 5000);
  EXPECT_EQ(expand_streams({first}, 0, false).size(), 1u);
  auto two = std::vector<endpoint>{first, parse_endpoint("239.9.9.9:1")};
  EXPECT_EQ(expand_streams(two, 2, false), two);
  EXPECT_THROW(expand_streams(two, 3, false), std::invalid_argument);
  EXPECT_THROW(expand_streams({}, 1, false), std::invalid_argument);
  EXPECT_THROW(expand_streams({parse_endpoint("239.1.1.1:65535")}, 2, false),
               std::invalid_argument);
  EXPECT_THROW(expand_streams({parse_endpoint("239.255.255.255:1")}, 2, true),
               std::invalid_argument);
}

TEST(endpoint, ipv6_in_brackets) {
  auto e = parse_endpoint("[ff3e::1:2]:5001");
  EXPECT_TRUE(e.v6);
  EXPECT_EQ(e.port, 5001);
  EXPECT_TRUE(e.multicast());
  EXPECT_EQ(e.address6[0], 0xff);
  EXPECT_EQ(e.address6[1], 0x3e);
  EXPECT_EQ(e.address6[13], 0x01);
  EXPECT_EQ(e.address6[15], 0x02);
  EXPECT_EQ(to_string(e), "[ff3e::1:2]:5001");
  EXPECT_EQ(address_string(e), "ff3e::1:2");
  EXPECT_EQ(family(e), AF_INET6);
  EXPECT_FALSE(parse_endpoint("[fd00::2]:7000").multicast());
  EXPECT_FALSE(parse_endpoint("[fd00::2]:7000")
               == parse_endpoint("[fd00::3]:7000"));
  socklen_t length = 0;
  auto sa = to_sockaddr(e, &length);
  EXPECT_EQ(length, sizeof(sockaddr_in6));
  EXPECT_EQ(sa.ss_family, AF_INET6);
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_port), 5001);
  to_sockaddr(parse_endpoint("239.1.1.1:1"), &length);
  EXPECT_EQ(length, sizeof(sockaddr_in));
  EXPECT_TRUE(parse_address("fd00::1").v6);
  EXPECT_FALSE(parse_address("10.0.0.1").v6);
  for (const char* bad : {"ff3e::1:5000", "[ff3e::1]", "[ff3e::1]:", "[]:80",
                          "[10.0.0.1]:80", "[ff3e::g]:80", "[ff3e::1:80"})
    EXPECT_THROW(parse_endpoint(bad), std::invalid_argument) << bad;
}

TEST(endpoint, ipv6_streams_count_up_in_the_last_32_bits) {
  auto first = parse_endpoint("[ff3e::1:fffe]:5000");
  auto v = expand_streams({first}, 3, false);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(to_string(v[1]), "[ff3e::1:ffff]:5001");
  EXPECT_EQ(to_string(v[2]), "[ff3e::2:0]:5002"); // carries
  EXPECT_THROW(expand_streams({parse_endpoint("[ff3e::ffff:ffff]:1")}, 2, true),
               std::invalid_argument);
}

// Issue 14: the tools say which interface they use, and when the route
// chose it, that it may be the wrong one.

TEST(interface_note, names_the_given_interface_or_the_routes_choice) {
  using castor::tools::interface_note;
  EXPECT_EQ(interface_note("eth7", 0xEF010101), "interface eth7");
  // 127.0.0.1 routes through lo on every host.
  EXPECT_EQ(castor::tools::route_interface(0x7F000001), "lo");
  EXPECT_EQ(interface_note("", 0x7F000001),
            "interface lo, chosen by the route (no -i); it may be the wrong "
            "one: give -i IF");
}
