// Relays across sites (issue 17): [node], [[peer]] and the rules that name
// peers in the config; the data frames and the duplicate window.

#include "config/config_parser.hpp"
#include "config/config_writer.hpp"
#include "config_test_support.hpp"
#include "sites/site_frame.hpp"
#include <gtest/gtest.h>

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

TEST(sites_config, spread_log_and_several_peers) {
  auto res = parse_config_string(R"(
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
  auto errs = errors_of(R"(
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

TEST(sites_frame, a_batch_round_trips_under_its_key) {
  sites::frame_builder b{42};
  const uint8_t one[] = {1, 2, 3};
  const uint8_t two[] = {9};
  b.add(7, 100, 0x010101ef, 5001, one, sizeof(one));
  b.add(7, 101, 0x010101ef, 5001, two, sizeof(two));
  auto frame = b.seal("key");
  uint64_t sender = 0;
  std::vector<sites::record_view> out;
  ASSERT_EQ(sites::parse_frame(frame.data(), frame.size(), "key", sender, out),
            sites::frame_error::none);
  EXPECT_EQ(sender, 42u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, 100u);
  EXPECT_EQ(out[1].seq, 101u);
  EXPECT_EQ(out[0].origin, 7u);
  EXPECT_EQ(out[0].group_be, 0x010101efu);
  EXPECT_EQ(out[0].port, 5001);
  EXPECT_EQ(std::vector<uint8_t>(out[0].data, out[0].data + out[0].len),
            std::vector<uint8_t>(one, one + 3));
}

TEST(sites_frame, a_wrong_key_or_a_changed_byte_is_refused) {
  sites::frame_builder b{1};
  const uint8_t x[] = {1, 2, 3, 4};
  b.add(1, 1, 0, 1, x, sizeof(x));
  auto frame = b.seal("right");
  uint64_t sender = 0;
  std::vector<sites::record_view> out;
  EXPECT_EQ(
    sites::parse_frame(frame.data(), frame.size(), "wrong", sender, out),
    sites::frame_error::auth);
  EXPECT_EQ(sites::parse_frame(frame.data(), frame.size(), "", sender, out),
            sites::frame_error::auth);
  frame[frame.size() - 20] ^= 1;
  EXPECT_EQ(
    sites::parse_frame(frame.data(), frame.size(), "right", sender, out),
    sites::frame_error::auth);
  EXPECT_EQ(sites::parse_frame(frame.data(), 10, "right", sender, out),
            sites::frame_error::malformed);
}

TEST(sites_frame, frames_are_bounded_by_their_capacity) {
  sites::frame_builder b{1, 250};
  std::vector<uint8_t> payload(64, 0);
  EXPECT_TRUE(b.fits(1000)); // a first record always fits
  b.add(1, 1, 0, 1, payload.data(), 64);
  EXPECT_TRUE(b.fits(64));
  b.add(1, 2, 0, 1, payload.data(), 64);
  EXPECT_FALSE(b.fits(64));
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
