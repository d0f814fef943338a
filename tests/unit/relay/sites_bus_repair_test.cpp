// castor::bus repair across sites (issue 18, "Across subnets"): the
// importing site's repairer (sites/site_bus_repair.hpp) on bus datagrams
// made with the bus's own wire format, the NAK frames that carry what it
// lacks to the exporting site, and `input.repair` in the config.

#include <algorithm>

#include "config/config_parser.hpp"
#include "config/config_writer.hpp"
#include "config_test_support.hpp"
#include "sites/site_bus_repair.hpp"
#include "sites/site_frame.hpp"
#include <gtest/gtest.h>

#include "castor/bus/wire.hpp"

namespace castor::relay {
namespace {

using namespace std::chrono_literals;
using sites::bus_repairer;
namespace wire = castor::bus;

constexpr uint64_t origin = 0xabcdef;
constexpr uint32_t session = 7;
constexpr uint32_t topic = 0x1234;

wire::header head(wire::msg_type type, uint64_t seq, uint32_t sess = session) {
  wire::header h;
  h.type = type;
  h.origin = origin;
  h.session = sess;
  h.topic = topic;
  h.seq = seq;
  return h;
}

/// A data datagram `seq` of one message whose byte is `seq`'s low byte.
std::vector<uint8_t> data(uint64_t seq, uint32_t sess = session) {
  auto h = head(wire::msg_type::data, seq, sess);
  h.count = 1;
  std::vector<uint8_t> out(wire::header_size + 3);
  wire::encode_header(h, out.data());
  out[wire::header_size] = 0;
  out[wire::header_size + 1] = 1;
  out[wire::header_size + 2] = static_cast<uint8_t>(seq);
  return out;
}

std::vector<uint8_t> nak(uint64_t seq, uint32_t count,
                         uint32_t sess = session) {
  return wire::make_range(wire::msg_type::nak,
                          head(wire::msg_type::nak, seq, sess), count);
}

void keep(bus_repairer& r, uint64_t seq, uint32_t sess = session) {
  auto d = data(seq, sess);
  r.keep(d.data(), d.size());
}

struct asked {
  bool ok = false;
  std::vector<uint64_t> repaired; ///< the repairs' sequence numbers
  std::vector<std::pair<uint64_t, uint32_t>> upstream;
  std::optional<std::pair<uint64_t, uint32_t>> ncf;
};

asked ask(bus_repairer& r, uint64_t seq, uint32_t count,
          bus_repairer::clock::time_point now, uint32_t sess = session) {
  auto n = nak(seq, count, sess);
  bus_repairer::answer a;
  asked out;
  out.ok = r.on_nak(n.data(), n.size(), now, a);
  for (auto& [p, len] : a.repairs) {
    auto h = wire::decode_header(p, len);
    EXPECT_TRUE(h && h->type == wire::msg_type::data);
    // What a subscriber takes as a repair, and the datagram as it was.
    EXPECT_TRUE(h->flags & wire::flag_repair);
    EXPECT_EQ(p[len - 1], static_cast<uint8_t>(h->seq));
    out.repaired.push_back(h->seq);
  }
  for (auto& u : a.upstream) {
    auto h = wire::decode_header(u.data(), u.size());
    EXPECT_TRUE(h && h->type == wire::msg_type::nak && h->origin == origin
                && h->topic == topic);
    out.upstream.emplace_back(h->seq, *wire::range_count(u.data(), u.size()));
  }
  if (!a.ncf.empty()) {
    auto h = wire::decode_header(a.ncf.data(), a.ncf.size());
    EXPECT_TRUE(h && h->type == wire::msg_type::ncf && h->origin == origin
                && h->session == sess);
    out.ncf.emplace(h->seq, *wire::range_count(a.ncf.data(), a.ncf.size()));
  }
  return out;
}

using seqs = std::vector<uint64_t>;
using ranges = std::vector<std::pair<uint64_t, uint32_t>>;

const auto t0 = bus_repairer::clock::time_point{} + 1h;

TEST(sites_bus_repair, a_nak_is_repaired_from_the_ring_and_confirmed) {
  bus_repairer r;
  for (uint64_t s = 1; s <= 10; ++s)
    keep(r, s);
  auto a = ask(r, 4, 3, t0);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.repaired, (seqs{4, 5, 6}));
  EXPECT_TRUE(a.upstream.empty());
  ASSERT_TRUE(a.ncf);
  EXPECT_EQ(*a.ncf, (std::pair<uint64_t, uint32_t>{4, 3}));
  EXPECT_EQ(r.stats().kept, 10u);
  EXPECT_EQ(r.stats().repairs, 3u);
}

TEST(sites_bus_repair, what_the_ring_lacks_is_asked_upstream_in_ranges) {
  // Lost on the link: 3, 4 and 7 never came.
  bus_repairer r;
  for (uint64_t s : {1, 2, 5, 6, 8})
    keep(r, s);
  auto a = ask(r, 2, 7, t0); // 2..8
  EXPECT_EQ(a.repaired, (seqs{2, 5, 6, 8}));
  EXPECT_EQ(a.upstream, (ranges{{3, 2}, {7, 1}}));
  // The whole range is confirmed: this site is on it.
  EXPECT_EQ(*a.ncf, (std::pair<uint64_t, uint32_t>{2, 7}));
  // The repair comes back over the link: kept, and the next NAK is
  // answered here.
  keep(r, 3);
  keep(r, 4);
  keep(r, 7);
  auto b = ask(r, 3, 2, t0 + 10ms);
  EXPECT_EQ(b.repaired, (seqs{3, 4}));
  EXPECT_TRUE(b.upstream.empty());
}

TEST(sites_bus_repair, holdoffs_make_one_repair_and_one_ask_per_loss) {
  bus_repairer::limits l;
  bus_repairer r{l};
  keep(r, 1);
  keep(r, 3);
  // Three subscribers NAK the same loss within a millisecond.
  auto a = ask(r, 1, 3, t0);
  auto b = ask(r, 1, 3, t0 + 500us);
  auto c = ask(r, 1, 3, t0 + 1ms);
  EXPECT_EQ(a.repaired, (seqs{1, 3}));
  EXPECT_EQ(a.upstream, (ranges{{2, 1}}));
  for (auto* x : {&b, &c}) {
    EXPECT_TRUE(x->repaired.empty());
    EXPECT_TRUE(x->upstream.empty());
    EXPECT_TRUE(x->ncf); // still confirmed: they hold back their repeats
  }
  // A repeat after the holdoffs is answered again.
  auto d = ask(r, 1, 3, t0 + l.upstream_holdoff);
  EXPECT_EQ(d.repaired, (seqs{1, 3}));
  EXPECT_EQ(d.upstream, (ranges{{2, 1}}));
  EXPECT_EQ(r.stats().naks, 4u);
  EXPECT_EQ(r.stats().upstream, 2u);
}

TEST(sites_bus_repair, the_ring_is_bounded_and_older_data_is_asked_upstream) {
  bus_repairer::limits l;
  l.ring = 8;
  bus_repairer r{l};
  for (uint64_t s = 1; s <= 20; ++s)
    keep(r, s);
  auto a = ask(r, 10, 6, t0); // 10..15: 13, 14, 15 are kept; 10-12 are not
  EXPECT_EQ(a.repaired, (seqs{13, 14, 15}));
  EXPECT_EQ(a.upstream, (ranges{{10, 3}}));
}

TEST(sites_bus_repair, one_nak_answers_at_most_max_per_nak) {
  bus_repairer::limits l;
  l.max_per_nak = 4;
  bus_repairer r{l};
  for (uint64_t s = 1; s <= 10; ++s)
    keep(r, s);
  auto a = ask(r, 1, 10, t0);
  EXPECT_EQ(a.repaired, (seqs{1, 2, 3, 4}));
  // Only what was answered is confirmed: the rest is NAKed again.
  EXPECT_EQ(*a.ncf, (std::pair<uint64_t, uint32_t>{1, 4}));
}

TEST(sites_bus_repair, a_restarted_publisher_starts_a_new_ring) {
  bus_repairer r;
  keep(r, 1);
  keep(r, 2);
  keep(r, 1, session + 1); // the publisher restarted
  keep(r, 3);              // a late datagram of the old session: ignored
  auto old = ask(r, 1, 2, t0);
  EXPECT_TRUE(old.ok);
  EXPECT_TRUE(old.repaired.empty());
  EXPECT_FALSE(old.ncf);
  EXPECT_EQ(r.stats().unknown, 1u);
  auto now = ask(r, 1, 2, t0, session + 1);
  EXPECT_EQ(now.repaired, (seqs{1}));
  EXPECT_EQ(now.upstream, (ranges{{2, 1}}));
}

TEST(sites_bus_repair, other_datagrams_are_left_alone) {
  bus_repairer r;
  // Plain UDP on the same group, a heartbeat, and short or foreign bytes
  // are not kept...
  std::vector<uint8_t> plain(100, 0x43);
  r.keep(plain.data(), plain.size());
  auto hb = wire::make_heartbeat(head(wire::msg_type::heartbeat, 5), 1);
  r.keep(hb.data(), hb.size());
  EXPECT_EQ(r.stats().kept, 0u);
  // ...and what a subscriber sends that is no NAK is refused and counted.
  bus_repairer::answer a;
  EXPECT_FALSE(r.on_nak(plain.data(), plain.size(), t0, a));
  EXPECT_FALSE(r.on_nak(hb.data(), hb.size(), t0, a));
  auto bad = nak(1, 1);
  bad.resize(bad.size() - 1); // the count cut short
  EXPECT_FALSE(r.on_nak(bad.data(), bad.size(), t0, a));
  EXPECT_EQ(r.stats().malformed, 3u);
  // A NAK for a publisher never carried here is not answered.
  EXPECT_TRUE(ask(r, 1, 1, t0).upstream.empty());
  EXPECT_EQ(r.stats().unknown, 1u);
}

TEST(sites_bus_repair, publishers_are_bounded_least_recently_heard_first) {
  bus_repairer::limits l;
  l.publishers = 2;
  bus_repairer r{l};
  auto from = [](uint64_t o) {
    auto d = data(1);
    auto h = *wire::decode_header(d.data(), d.size());
    h.origin = o;
    wire::encode_header(h, d.data());
    return d;
  };
  for (uint64_t o : {origin, uint64_t{2}, uint64_t{3}}) {
    auto d = from(o);
    r.keep(d.data(), d.size());
  }
  // `origin` was heard first: forgotten for 3.
  EXPECT_TRUE(ask(r, 1, 1, t0).repaired.empty());
  EXPECT_EQ(r.stats().unknown, 1u);
}

TEST(sites_bus_repair, the_byte_budget_evicts_the_least_recently_heard) {
  // Room for about two publishers' rings of 4 datagrams of 35 bytes.
  bus_repairer::limits l;
  l.ring = 4;
  l.bytes = 300;
  bus_repairer r{l};
  auto from = [](uint64_t o, uint64_t seq) {
    auto d = data(seq);
    auto h = *wire::decode_header(d.data(), d.size());
    h.origin = o;
    wire::encode_header(h, d.data());
    return d;
  };
  for (uint64_t o : {origin, uint64_t{2}, uint64_t{3}})
    for (uint64_t seq = 1; seq <= 4; ++seq) {
      auto d = from(o, seq);
      r.keep(d.data(), d.size());
    }
  // The third publisher's ring needed `origin`'s room.
  EXPECT_TRUE(ask(r, 1, 1, t0).repaired.empty());
  EXPECT_EQ(r.stats().unknown, 1u);
  EXPECT_EQ(r.stats().kept, 12u);
  // A datagram above max_datagram is never kept.
  bus_repairer::limits small;
  small.max_datagram = 20;
  bus_repairer s{small};
  keep(s, 1);
  EXPECT_EQ(s.stats().kept, 0u);
  EXPECT_EQ(s.stats().not_kept, 1u);
}

TEST(sites_bus_repair, repairs_are_rate_limited_and_confirmed_only_so_far) {
  bus_repairer::limits l;
  l.repair_rate = 1000; // bytes/s
  l.repair_burst = 100; // below one datagram: raised to max_datagram
  l.max_datagram = 100;
  bus_repairer r{l};
  for (uint64_t s = 1; s <= 10; ++s)
    keep(r, s); // 35 bytes each
  // The burst (100 bytes) covers two repairs; the rest waits for tokens.
  auto a = ask(r, 1, 10, t0);
  EXPECT_EQ(a.repaired, (seqs{1, 2}));
  EXPECT_EQ(*a.ncf, (std::pair<uint64_t, uint32_t>{1, 2}));
  EXPECT_EQ(r.stats().limited, 1u);
  // 35 ms later, 35 bytes more: one repair.
  auto b = ask(r, 3, 8, t0 + 35ms);
  EXPECT_EQ(b.repaired, (seqs{3}));
}

TEST(sites_frame, nak_frames_carry_records_under_their_own_type) {
  sites::frame_builder b{42, sites::default_frame_capacity,
                         sites::frame_type_nak};
  auto n = nak(5, 2);
  sites::record_view r;
  r.origin = 42;
  r.seq = 1;
  r.group = ip_addr{ipv4{0x010101ef}};
  r.port = 5001;
  r.data = n.data();
  r.len = static_cast<uint16_t>(n.size());
  b.add(r);
  auto& frame = b.seal("key");
  EXPECT_EQ(sites::frame_type_of(frame.data(), frame.size()),
            sites::frame_type_nak);
  uint64_t sender = 0;
  std::vector<sites::record_view> out;
  ASSERT_EQ(sites::parse_frame(frame.data(), frame.size(), "key", sender, out),
            sites::frame_error::none);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(out[0].data, out[0].data + out[0].len), n);
  EXPECT_EQ(out[0].group.to_string(), "239.1.1.1");
}

const char* repairing_import = R"(
[node]
name = "b"
listen = "10.0.0.2:4370"
insecure = true
[[peer]]
name = "a"
address = "10.0.0.1:4370"
[[rule]]
name = "prices-in"
input = { peer = "a", group = "239.64.18.1", port = 24718, repair = "bus" }
outputs = [ { interface = "lan0", address = "239.64.18.1", port = 24718 } ]
)";

TEST(sites_config, an_import_may_repair_the_bus_and_the_writer_keeps_it) {
  auto res = parse_config_string(repairing_import, "relay.toml");
  ASSERT_TRUE(res.ok()) << test::messages(res).front();
  ASSERT_EQ(res.config.sites.imports.size(), 1u);
  EXPECT_TRUE(res.config.sites.imports[0].bus_repair);
  auto again = parse_config_string(write_config(res.config), "saved.toml");
  ASSERT_TRUE(again.ok()) << test::messages(again).front();
  EXPECT_TRUE(again.config.sites == res.config.sites);
  // Off unless asked for.
  std::string off = repairing_import;
  off.replace(off.find(", repair = \"bus\""), 16, "");
  auto plain = parse_config_string(off, "relay.toml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain.config.sites.imports.at(0).bus_repair);
}

TEST(sites_config, a_bad_repair_value_is_named) {
  std::string bad = repairing_import;
  bad.replace(bad.find("\"bus\""), 5, "\"pgm\"");
  auto errs = test::errors_of(bad);
  ASSERT_FALSE(errs.empty());
  EXPECT_NE(errs.front().find("input.repair: expected \"bus\""),
            std::string::npos)
    << errs.front();
}

} // namespace
} // namespace castor::relay
