// Relays across sites (issue 17): [node], [[peer]] and the rules that name
// peers in the config (IPv4 and IPv6 endpoints); the data frames, spread
// blocks and probes; the spread = "log" plan; the duplicate window.

#include <algorithm>

#include "config/config_parser.hpp"
#include "config/config_writer.hpp"
#include "config_test_support.hpp"
#include "sites/site_frame.hpp"
#include "sites/site_spread.hpp"
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace castor::relay {
namespace {

using test::errors_of;

const char* two_sites = R"(
[node]
name = "site-a"
listen = "192.0.2.1:4370"
tls = { cert = "/etc/castor/a.crt", key = "/etc/castor/a.key", ca = "/etc/castor/ca.crt" }

[[peer]]
name = "site-b"
address = "198.51.100.2:4370"

[[rule]]
name = "feed-a"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { peer = "site-b" } ]

[[rule]]
name = "feed-b-in"
input = { peer = "site-b", group = "239.2.2.2", port = 5002 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 5002, ttl = 1 } ]

[[rule]]
name = "local"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.3.3.3", port = 6000 } ]
)";

bool any_contains(const std::vector<std::string>& xs, const std::string& s) {
  for (auto& x : xs)
    if (x.find(s) != std::string::npos)
      return true;
  return false;
}

TEST(sites_config, two_sites_parse_into_node_peers_exports_and_imports) {
  auto res = parse_config_string(two_sites, "relay.toml");
  ASSERT_TRUE(res.ok()) << test::messages(res).front();
  const auto& s = res.config.sites;
  ASSERT_TRUE(s.node);
  EXPECT_EQ(s.node->name, "site-a");
  EXPECT_EQ(s.node->listen.to_string(), "192.0.2.1:4370");
  EXPECT_FALSE(s.node->insecure);
  ASSERT_EQ(s.peers.size(), 1u);
  EXPECT_EQ(s.peers[0].address.to_string(), "198.51.100.2:4370");
  ASSERT_EQ(s.exports.size(), 1u);
  EXPECT_EQ(s.exports[0].peers, std::vector<std::string>{"site-b"});
  EXPECT_EQ(s.exports[0].input.interface, "eth0");
  ASSERT_EQ(s.imports.size(), 1u);
  EXPECT_EQ(s.imports[0].peer, "site-b");
  EXPECT_EQ(s.imports[0].outputs.at(0).interface, "eth1");
  // The rules that cross sites are not ordinary rules; the local one is.
  ASSERT_EQ(res.config.rules.size(), 1u);
  EXPECT_EQ(res.config.rules[0].name, "local");
}

TEST(sites_config, the_writer_keeps_node_peers_and_site_rules) {
  // `castorctl config save` and --print-config write what they read.
  auto res = parse_config_string(two_sites, "relay.toml");
  ASSERT_TRUE(res.ok());
  auto again = parse_config_string(write_config(res.config), "saved.toml");
  ASSERT_TRUE(again.ok()) << test::messages(again).front();
  EXPECT_TRUE(again.config.sites == res.config.sites);
  EXPECT_EQ(again.config.rules, res.config.rules);
}

/// Node "a" (insecure) and its peers "b" and "c": the start of most configs
/// below.
const std::string node_a_with_b_c = R"(
[node]
name = "a"
listen = "10.0.0.1:4370"
insecure = true
[[peer]]
name = "b"
address = "10.0.0.2:4370"
[[peer]]
name = "c"
address = "10.0.0.3:4370"
)";

TEST(sites_config, spread_log_and_several_peers) {
  auto res = parse_config_string(node_a_with_b_c + R"(
[[rule]]
name = "x"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { peers = ["b", "c"], spread = "log" } ]
)",
                                 "relay.toml");
  ASSERT_TRUE(res.ok()) << test::messages(res).front();
  EXPECT_TRUE(res.config.sites.node->insecure);
  EXPECT_EQ(res.config.sites.exports.at(0).spread, site_spread::log);
  EXPECT_EQ(res.config.sites.exports.at(0).peers.size(), 2u);
}

TEST(sites_config, errors_name_the_key) {
  auto errs = errors_of(R"(
[node]
name = "a"
listen = "10.0.0.1"
[[peer]]
name = "b"
address = "10.0.0.2:99999"
[[rule]]
name = "x"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { peer = "nobody" } ]
[[rule]]
name = "y"
input = { peer = "a", group = "239.1.1.2", port = 5001 }
outputs = [ { interface = "eth1", address = "239.1.1.2", port = 5001 } ]
)");
  EXPECT_TRUE(any_contains(errs, "node.listen: '10.0.0.1' is not IPv4:PORT"));
  EXPECT_TRUE(any_contains(errs, "missing required key 'tls'"));
  EXPECT_TRUE(any_contains(errs, "peer.address: '10.0.0.2:99999'"));
  // [node] failed, so references report the missing node.
  EXPECT_TRUE(any_contains(errs, "rule 'x': outputs[0].peer: rules that name "
                                 "peers need a [node]"));
  EXPECT_TRUE(any_contains(errs, "rule 'y': input.peer"));
}

TEST(sites_config, tls_and_insecure_exclude_each_other) {
  auto errs = errors_of(R"(
[node]
name = "a"
listen = "10.0.0.1:4370"
insecure = true
tls = { cert = "c", key = "k", ca = "ca" }
)");
  EXPECT_TRUE(any_contains(errs, "node.tls: not allowed with insecure = true"));
}

TEST(sites_config, a_peer_input_is_never_sent_on_to_peers) {
  auto errs = errors_of(node_a_with_b_c + R"(
[[rule]]
name = "y"
input = { peer = "b", group = "239.1.1.2", port = 5001 }
outputs = [ { peer = "c" } ]
[[rule]]
name = "z"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { peer = "c" }, { interface = "eth1", address = "239.1.1.1", port = 5001 } ]
[[rule]]
name = "w"
input = { interface = "eth0", group = "239.1.1.3", port = 5001 }
outputs = [ { peer = "nobody" } ]
)");
  EXPECT_TRUE(any_contains(errs, "outputs[0]: a rule whose input is a peer"));
  EXPECT_TRUE(any_contains(errs, "outputs[1]: a rule that sends to peers"));
  EXPECT_TRUE(any_contains(errs, "rule 'w': outputs[0].peer: unknown peer "
                                 "'nobody' (no [[peer]] has that name)"));
}

TEST(sites_config, peers_need_a_node_and_names_are_unique) {
  auto errs = errors_of(R"(
[[peer]]
name = "b"
address = "10.0.0.2:4370"
[[peer]]
name = "b"
address = "10.0.0.3:4370"
)");
  EXPECT_TRUE(any_contains(errs, "[[peer]] needs a [node]"));
  EXPECT_TRUE(any_contains(errs, "peer.name: 'b' is listed twice"));
}

// -- frames -------------------------------------------------------------------

/// What parse_frame makes of (the first `size` bytes of) a frame.
struct parsed {
  sites::frame_error err = sites::frame_error::none;
  uint64_t sender = 0;
  std::vector<sites::record_view> records;
};

/// An IPv4 group, as the frame builder's capacity checks take one.
const ip_addr v4_group = ipv4{0x010101ef};

/// Adds one IPv4 record (the group in network order) to `b`.
void add_record(sites::frame_builder& b, uint64_t origin, uint64_t seq,
                uint32_t group_be, uint16_t port, const uint8_t* data,
                uint16_t len, const std::string* spread = nullptr) {
  sites::record_view r;
  r.origin = origin;
  r.seq = seq;
  r.group = ipv4{group_be};
  r.port = port;
  r.data = data;
  r.len = len;
  b.add(r, spread);
}

parsed parse(const std::vector<uint8_t>& frame, const std::string& key,
             std::size_t size = std::string::npos) {
  parsed out;
  out.err = sites::parse_frame(frame.data(), std::min(size, frame.size()), key,
                               out.sender, out.records);
  return out;
}

TEST(sites_frame, a_batch_round_trips_under_its_key) {
  sites::frame_builder b{42};
  const uint8_t one[] = {1, 2, 3};
  const uint8_t two[] = {9};
  add_record(b, 7, 100, 0x010101ef, 5001, one, sizeof(one));
  add_record(b, 7, 101, 0x010101ef, 5001, two, sizeof(two));
  auto frame = b.seal("key");
  auto p = parse(frame, "key");
  ASSERT_EQ(p.err, sites::frame_error::none);
  EXPECT_EQ(p.sender, 42u);
  auto& out = p.records;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, 100u);
  EXPECT_EQ(out[1].seq, 101u);
  EXPECT_EQ(out[0].origin, 7u);
  EXPECT_EQ(out[0].group, ip_addr{ipv4{0x010101ef}});
  EXPECT_EQ(out[0].group.to_string(), "239.1.1.1");
  EXPECT_EQ(out[0].port, 5001);
  EXPECT_EQ(std::vector<uint8_t>(out[0].data, out[0].data + out[0].len),
            std::vector<uint8_t>(one, one + 3));
  EXPECT_EQ(out[0].spread, nullptr);
}

TEST(sites_frame, a_wrong_key_or_a_changed_byte_is_refused) {
  sites::frame_builder b{1};
  const uint8_t x[] = {1, 2, 3, 4};
  add_record(b, 1, 1, 0, 1, x, sizeof(x));
  auto frame = b.seal("right");
  EXPECT_EQ(parse(frame, "wrong").err, sites::frame_error::auth);
  EXPECT_EQ(parse(frame, "").err, sites::frame_error::auth);
  frame[frame.size() - 20] ^= 1;
  EXPECT_EQ(parse(frame, "right").err, sites::frame_error::auth);
  EXPECT_EQ(parse(frame, "right", 10).err, sites::frame_error::malformed);
}

// The MAC is the first 16 bytes of HMAC-SHA256 over the frame, as the
// wire format says (site_frame.hpp), however many keys came before: the
// frame code keeps keyed contexts per key and must never mix them up, nor
// lose one when it empties its cache (past 1024 keys).
TEST(sites_frame, the_mac_is_truncated_hmac_sha256_whatever_keys_came_before) {
  auto expect_hmac = [](const std::vector<uint8_t>& frame,
                        const std::string& key) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    auto body = frame.size() - sites::frame_mac_size;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), frame.data(),
         body, md, &md_len);
    ASSERT_EQ(md_len, 32u);
    EXPECT_EQ(std::vector<uint8_t>(md, md + sites::frame_mac_size),
              std::vector<uint8_t>(frame.begin() + static_cast<long>(body),
                                   frame.end()));
  };
  std::vector<uint8_t> payload(1400, 0x5a);
  auto frame_under = [&](const std::string& key, uint64_t seq) {
    sites::frame_builder b{3};
    add_record(b, 3, seq, 0x010101ef, 5001, payload.data(), 1400);
    return b.seal(key);
  };
  const std::string a(32, 'a'), b(32, 'b');
  for (uint64_t seq = 0; seq < 3; ++seq) {
    expect_hmac(frame_under(a, seq), a);
    expect_hmac(frame_under(b, seq), b);
  }
  for (int k = 0; k < 1100; ++k)
    frame_under("key-" + std::to_string(k), 0);
  auto again = frame_under(a, 9);
  expect_hmac(again, a);
  EXPECT_EQ(parse(again, a).err, sites::frame_error::none);
  EXPECT_EQ(parse(again, b).err, sites::frame_error::auth);
}

TEST(sites_frame, frames_are_bounded_by_their_capacity) {
  sites::frame_builder b{1, 250};
  std::vector<uint8_t> payload(64, 0);
  EXPECT_TRUE(b.fits(1000, v4_group)); // a first record always fits
  add_record(b, 1, 1, 0, 1, payload.data(), 64);
  EXPECT_TRUE(b.fits(64, v4_group));
  add_record(b, 1, 2, 0, 1, payload.data(), 64);
  EXPECT_FALSE(b.fits(64, v4_group));
}

TEST(sites_frame, spread_blocks_round_trip_and_do_not_share_a_frame) {
  sites::frame_builder b{1};
  const uint8_t x[] = {5, 6};
  auto block = sites::encode_spread("site-1", {"site-3", "site-4"});
  add_record(b, 9, 1, 0x010101ef, 5000, x, sizeof(x), &block);
  EXPECT_TRUE(b.fits(2, v4_group, &block));
  EXPECT_FALSE(b.fits(2, v4_group)); // a record without a block: the next frame
  add_record(b, 9, 2, 0x010101ef, 5000, x, sizeof(x), &block);
  auto p = parse(b.seal("k"), "k");
  ASSERT_EQ(p.err, sites::frame_error::none);
  ASSERT_EQ(p.records.size(), 2u);
  std::string origin;
  std::vector<std::string> share;
  auto& r = p.records[1];
  ASSERT_TRUE(sites::decode_spread(r.spread, r.spread_len, origin, share));
  EXPECT_EQ(origin, "site-1");
  EXPECT_EQ(share, (std::vector<std::string>{"site-3", "site-4"}));
  EXPECT_EQ(std::vector<uint8_t>(r.data, r.data + r.len),
            std::vector<uint8_t>(x, x + 2));
  b.clear();
  EXPECT_TRUE(b.fits(2, v4_group)); // a new frame takes either kind
}

TEST(sites_frame, a_truncated_spread_block_is_malformed) {
  auto block = sites::encode_spread("a", {"b", "c"});
  std::string origin;
  std::vector<std::string> share;
  const auto* p = reinterpret_cast<const uint8_t*>(block.data());
  EXPECT_TRUE(sites::decode_spread(p, block.size(), origin, share));
  for (std::size_t n = 0; n < block.size(); ++n)
    EXPECT_FALSE(sites::decode_spread(p, n, origin, share)) << n;
}

TEST(sites_frame, probes_carry_their_stamp_under_the_key) {
  auto ping = sites::make_probe(sites::frame_type_ping, 3, 123456789, "k");
  EXPECT_EQ(sites::frame_type_of(ping.data(), ping.size()),
            sites::frame_type_ping);
  uint8_t type = 0;
  uint64_t stamp = 0;
  ASSERT_EQ(sites::parse_probe(ping.data(), ping.size(), "k", type, stamp),
            sites::frame_error::none);
  EXPECT_EQ(type, sites::frame_type_ping);
  EXPECT_EQ(stamp, 123456789u);
  EXPECT_EQ(sites::parse_probe(ping.data(), ping.size(), "other", type, stamp),
            sites::frame_error::auth);
  // A probe is no data frame, and a data frame no probe.
  EXPECT_EQ(parse(ping, "k").err, sites::frame_error::malformed);
  sites::frame_builder b{1};
  const uint8_t x[] = {1};
  add_record(b, 1, 1, 0, 1, x, 1);
  auto data = b.seal("k");
  EXPECT_EQ(sites::parse_probe(data.data(), data.size(), "k", type, stamp),
            sites::frame_error::malformed);
}

// -- spread = "log" -------------------------------------------------------------

/// Follows a plan from the origin down: how often each of `n` sites is sent
/// the datagram, and the most links any one site sends it on.
struct walk {
  std::vector<int> received;
  std::size_t max_fanout = 0;
  std::size_t origin_fanout = 0;

  explicit walk(std::size_t n) : received(n, 0) {
    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i)
      all[i] = i;
    origin_fanout = send(all);
  }

  /// A site responsible for `list` (site ids) sends; returns its fan-out.
  std::size_t send(const std::vector<std::size_t>& list) {
    auto plan = sites::spread_plan(list.size());
    max_fanout = std::max(max_fanout, plan.size());
    for (auto& hop : plan) {
      ++received.at(list.at(hop.target));
      std::vector<std::size_t> share;
      for (auto k : hop.share)
        share.push_back(list.at(k));
      send(share);
    }
    return plan.size();
  }
};

std::size_t ceil_log2_plus_one(std::size_t n) {
  std::size_t bits = 0;
  while ((std::size_t{1} << bits) < n + 1)
    ++bits;
  return bits;
}

TEST(sites_spread, every_site_gets_it_exactly_once_within_log_fanout) {
  for (std::size_t n = 0; n <= 64; ++n) {
    walk w{n};
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_EQ(w.received[i], 1) << "site " << i << " of " << n;
    EXPECT_LE(w.origin_fanout, ceil_log2_plus_one(n)) << n;
    EXPECT_LE(w.max_fanout, ceil_log2_plus_one(n)) << n;
  }
  EXPECT_EQ(walk{7}.origin_fanout, 3u); // eight sites: the origin and 7
}

TEST(sites_spread, the_plan_halves_the_list) {
  // Seven sites: the first takes three along, the fifth one, the seventh
  // none.
  auto plan = sites::spread_plan(7);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].target, 0u);
  EXPECT_EQ(plan[0].share, (std::vector<std::size_t>{1, 2, 3}));
  EXPECT_EQ(plan[1].target, 4u);
  EXPECT_EQ(plan[1].share, (std::vector<std::size_t>{5}));
  EXPECT_EQ(plan[2].target, 6u);
  EXPECT_TRUE(plan[2].share.empty());
  EXPECT_TRUE(sites::spread_plan(0).empty());
}

// -- IPv6 endpoints ---------------------------------------------------------------

/// Node "a" on fd00::1 and its peer "b" at PEER_ADDRESS.
std::string node_a_v6_with_b(const std::string& peer_address) {
  return R"(
[node]
name = "a"
listen = "[fd00::1]:4370"
insecure = true
[[peer]]
name = "b"
address = ")"
         + peer_address + "\"\n";
}

TEST(sites_config, node_and_peers_listen_and_connect_over_ipv6) {
  auto res =
    parse_config_string(node_a_v6_with_b("[fd00::2]:4370"), "relay.toml");
  ASSERT_TRUE(res.ok()) << test::messages(res).front();
  const auto& s = res.config.sites;
  EXPECT_TRUE(s.node->listen.v6);
  EXPECT_EQ(s.node->listen.host(), "fd00::1");
  EXPECT_EQ(s.node->listen.to_string(), "[fd00::1]:4370");
  EXPECT_EQ(s.peers.at(0).address.to_string(), "[fd00::2]:4370");
  auto again = parse_config_string(write_config(res.config), "saved.toml");
  ASSERT_TRUE(again.ok()) << test::messages(again).front();
  EXPECT_TRUE(again.config.sites == res.config.sites);
}

TEST(sites_config, endpoints_are_checked) {
  EXPECT_FALSE(site_endpoint::parse("fd00::1:4370")); // brackets required
  EXPECT_FALSE(site_endpoint::parse("[fd00::zz]:4370"));
  EXPECT_FALSE(site_endpoint::parse("[10.0.0.1]:4370"));
  EXPECT_FALSE(site_endpoint::parse("[fd00::1]:0"));
  auto errs = errors_of(node_a_v6_with_b("10.0.0.2:4370"));
  EXPECT_TRUE(any_contains(errs, "peer 'b': address 10.0.0.2:4370 is not of "
                                 "node.listen's address family"));
}

TEST(sites_config, a_peer_is_known_by_the_address_it_connects_from) {
  auto v4 = *site_endpoint::parse("10.64.0.1:4370");
  EXPECT_TRUE(v4.host_is("10.64.0.1"));
  EXPECT_TRUE(v4.host_is("::ffff:10.64.0.1")); // on a dual-stack socket
  EXPECT_FALSE(v4.host_is("10.62.1.2"));
  EXPECT_FALSE(v4.host_is(""));
  auto v6 = *site_endpoint::parse("[fd00:64::1]:4370");
  EXPECT_TRUE(v6.host_is("fd00:64::1"));
  EXPECT_TRUE(v6.host_is("fd00:64:0::1"));
  EXPECT_FALSE(v6.host_is("fd00:64::2"));
  EXPECT_FALSE(v6.host_is("10.64.0.1"));
}

TEST(sites_dedup, each_sequence_number_passes_once) {
  sites::dedup_window w;
  using v = sites::dedup_window::verdict;
  EXPECT_EQ(w.check(10), v::fresh);
  EXPECT_EQ(w.check(10), v::duplicate);
  EXPECT_EQ(w.check(12), v::fresh);
  EXPECT_EQ(w.check(11), v::fresh); // late, inside the window
  EXPECT_EQ(w.check(11), v::duplicate);
  EXPECT_EQ(w.check(12 + sites::dedup_window::window), v::fresh);
  EXPECT_EQ(w.check(12), v::stale);
  // A slot reused by a newer number is not a duplicate of the old one.
  EXPECT_EQ(w.check(13 + sites::dedup_window::window), v::fresh);
  EXPECT_EQ(w.check(13 + sites::dedup_window::window), v::duplicate);
}

} // namespace
} // namespace castor::relay
