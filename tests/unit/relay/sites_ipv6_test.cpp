// Site rules that carry IPv6 groups (issues 17 and 19): the config (IPv6
// exports and imports, mixed families, the scope checks and their
// messages), the interest message's groups, and the frame format version 2
// (IPv6 records, truncation, a frame of another version).

#include <algorithm>
#include <cstring>

#include "config/config_parser.hpp"
#include "config/config_writer.hpp"
#include "config_test_support.hpp"
#include "sites/site_frame.hpp"
#include <gtest/gtest.h>

namespace castor::relay {
namespace {

using test::errors_of;
using strings = std::vector<std::string>;

/// Node "a" (insecure) with its peer "b", IPv4 WAN: the groups' family is
/// independent of the WAN's.
const std::string node_a_with_b = R"([node]
name = "a"
listen = "10.0.0.1:4370"
insecure = true
[[peer]]
name = "b"
address = "10.0.0.2:4370"
)";

/// The config above plus `rules`.
config_result parse_with(const std::string& rules) {
  return parse_config_string(node_a_with_b + rules, "relay.toml");
}

ip_addr addr(const std::string& text) {
  return *ip_addr::parse(text);
}

TEST(sites_ipv6_config, ipv6_exports_and_imports_are_accepted) {
  auto res = parse_with(R"(
[[rule]]
name = "ssm-out"
input = { interface = "eth0", group = "ff3e::44:1", port = 5001, source = "fd00:62:1::2" }
outputs = [ { peer = "b" } ]
[[rule]]
name = "asm-out"
input = { interface = "eth0", group = "ff1e::44:2", port = 5002 }
outputs = [ { peer = "b" } ]
[[rule]]
name = "v6-in"
input = { peer = "b", group = "ff3e::45:1", port = 6001 }
outputs = [ { interface = "eth1", address = "ff1e::45:1", port = 6001, ttl = 4, tos = 32 },
            { interface = "eth1", address = "239.45.1.1", port = 6001 } ]
[[rule]]
name = "v4-in-v6-out"
input = { peer = "b", group = "239.45.2.2", port = 6002 }
outputs = [ { interface = "eth1", address = "ff0e::45:2", port = 6002 } ]
)");
  ASSERT_TRUE(res.ok()) << test::messages(res).front();
  const auto& s = res.config.sites;
  ASSERT_EQ(s.exports.size(), 2u);
  EXPECT_EQ(s.exports[0].input.group, addr("ff3e::44:1"));
  ASSERT_TRUE(s.exports[0].input.source);
  EXPECT_EQ(*s.exports[0].input.source, addr("fd00:62:1::2"));
  EXPECT_EQ(s.exports[1].input.group, addr("ff1e::44:2"));
  ASSERT_EQ(s.imports.size(), 2u);
  // An import of an SSM group names it only: the exporting site's rule
  // joined it with its source.
  EXPECT_EQ(s.imports[0].group, addr("ff3e::45:1"));
  ASSERT_EQ(s.imports[0].outputs.size(), 2u);
  EXPECT_EQ(s.imports[0].outputs[0].address, addr("ff1e::45:1"));
  EXPECT_EQ(s.imports[0].outputs[0].ttl, 4);
  EXPECT_EQ(s.imports[0].outputs[0].tos, 32);
  EXPECT_EQ(s.imports[0].outputs[1].address, addr("239.45.1.1"));
  EXPECT_EQ(s.imports[1].group, addr("239.45.2.2"));
  EXPECT_EQ(s.imports[1].outputs[0].address, addr("ff0e::45:2"));
  EXPECT_TRUE(res.config.rules.empty());
  // --print-config and `castorctl config save` write them back as read.
  auto again = parse_config_string(write_config(res.config), "saved.toml");
  ASSERT_TRUE(again.ok()) << test::messages(again).front();
  EXPECT_TRUE(again.config.sites == res.config.sites);
}

TEST(sites_ipv6_config, an_export_of_a_group_never_relayed_is_refused) {
  auto export_of = [](const std::string& input) {
    return errors_of(node_a_with_b + "[[rule]]\nname = \"x\"\ninput = { "
                     + input + " }\noutputs = [ { peer = \"b\" } ]\n");
  };
  EXPECT_EQ(
    export_of(R"(interface = "eth0", group = "ff02::fb", port = 5353)"),
    (strings{"relay.toml:10:39: input.group: ff02::fb is a link-local group "
             "(scope 2, ff02::/16), which is never relayed"}));
  EXPECT_EQ(
    export_of(R"(interface = "eth0", group = "ff01::1:5", port = 5)"),
    (strings{"relay.toml:10:39: input.group: ff01::1:5 is an interface-local "
             "group (scope 1, ff01::/16), which never leaves the host and is "
             "never relayed"}));
  EXPECT_EQ(
    export_of(R"(interface = "eth0", group = "ff32::4", port = 5)"),
    (strings{"relay.toml:10:39: input.group: ff32::4 is a link-local group "
             "(scope 2, ff02::/16), which is never relayed"}));
  EXPECT_EQ(
    export_of(R"(interface = "eth0", group = "ff3e::44:1", port = 5)"),
    (strings{"relay.toml:10:39: input.group: ff3e::44:1 is a source-specific "
             "multicast group (ff3x::/32, RFC 4607), which needs a source: "
             "add input.source"}));
  EXPECT_EQ(export_of(R"(interface = "eth0", group = "fd00::1", port = 5)"),
            (strings{"relay.toml:10:39: input.group: fd00::1 is not a "
                     "multicast group (ff00::/8)"}));
  auto errs = export_of(
    R"(interface = "eth0", group = "ff3e::44:1", port = 5, source = "10.0.0.9")");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("input.source: 10.0.0.9 is an IPv4 address and the "
                         "group ff3e::44:1 is not"),
            std::string::npos)
    << errs[0];
}

TEST(sites_ipv6_config, an_import_of_a_group_never_relayed_is_refused) {
  auto import_of = [](const std::string& group, const std::string& out) {
    return errors_of(node_a_with_b
                     + "[[rule]]\nname = \"y\"\ninput = { peer = \"b\", "
                       "group = \""
                     + group
                     + "\", port = 5 }\noutputs = [ { interface = "
                       "\"eth1\", address = \""
                     + out + "\", port = 5 } ]\n");
  };
  EXPECT_EQ(import_of("ff02::fb", "ff1e::1"),
            (strings{"relay.toml:10:31: input.group: ff02::fb is a link-local "
                     "group (scope 2, ff02::/16), which is never relayed"}));
  EXPECT_EQ(import_of("ff0f::1", "ff1e::1"),
            (strings{"relay.toml:10:31: input.group: ff0f::1 is a group of "
                     "reserved scope 15, which is never relayed"}));
  EXPECT_EQ(import_of("fd00::1", "ff1e::1"),
            (strings{"relay.toml:10:31: input.group: fd00::1 is not a "
                     "multicast group (ff00::/8)"}));
  EXPECT_EQ(import_of("224.0.0.251", "239.1.1.1"),
            (strings{"relay.toml:10:31: input.group: 224.0.0.251 is a "
                     "link-local control group (224.0.0.0/24), which is "
                     "never relayed"}));
  // The outputs are checked as a local rule's.
  auto errs = import_of("ff1e::1", "ff02::1");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("outputs[0].address: ff02::1 is a link-local group "
                         "(scope 2, ff02::/16), which is never relayed"),
            std::string::npos)
    << errs[0];
}

// -- interest ------------------------------------------------------------------

TEST(sites_ipv6_interest, groups_of_both_families_round_trip) {
  std::vector<site_group> groups{{addr("239.1.1.1"), 5001},
                                 {addr("ff3e::44:1"), 5001},
                                 {addr("ff3e::44:1"), 5002},
                                 {addr("ff1e::1"), 65535}};
  auto bytes = encode_interest(groups);
  EXPECT_EQ(bytes.size(), (1 + 4 + 2) + 3 * (1 + 16 + 2));
  auto back = decode_interest(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, groups);
  // Keys of one address in either family, or of two ports, stay apart.
  EXPECT_TRUE(groups[1] < groups[2]);
  EXPECT_FALSE((site_group{addr("::"), 1} == site_group{addr("0.0.0.0"), 1}));
  auto none = decode_interest("");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(sites_ipv6_interest, a_truncated_or_old_format_is_refused) {
  auto bytes = encode_interest({{addr("ff3e::44:1"), 5001}});
  for (std::size_t n = 1; n < bytes.size(); ++n)
    EXPECT_FALSE(decode_interest(bytes.substr(0, n))) << n;
  // Before IPv6 groups: 8 bytes a group, (group << 16 | port) big-endian,
  // whose first byte is always 0.
  const std::string old_format{"\0\0\xef\x01\x01\x01\x13\x89", 8};
  EXPECT_FALSE(decode_interest(old_format));
}

// -- frames, version 2 ------------------------------------------------------------

sites::record_view record(uint64_t seq, const ip_addr& group, uint16_t port,
                          const std::vector<uint8_t>& payload) {
  sites::record_view r;
  r.origin = 77;
  r.seq = seq;
  r.group = group;
  r.port = port;
  r.data = payload.data();
  r.len = static_cast<uint16_t>(payload.size());
  return r;
}

sites::frame_error parse(const std::vector<uint8_t>& frame,
                         const std::string& key,
                         std::vector<sites::record_view>& out) {
  uint64_t sender = 0;
  return sites::parse_frame(frame.data(), frame.size(), key, sender, out);
}

/// `body` with a fresh MAC under `key`: a frame a peer holding the key
/// could send, whatever its content.
std::vector<uint8_t> sealed(std::vector<uint8_t> body, const std::string& key) {
  sites::append_mac(body, key);
  return body;
}

TEST(sites_ipv6_frame, ipv6_records_round_trip) {
  sites::frame_builder b{42};
  std::vector<uint8_t> one{1, 2, 3}, two(300, 7);
  auto g = addr("ff3e::44:1");
  ASSERT_TRUE(b.fits(one.size(), g));
  b.add(record(100, g, 5001, one));
  ASSERT_TRUE(b.fits(two.size(), g));
  b.add(record(101, addr("ff1e::1:2"), 5002, two));
  auto frame = b.seal("key");
  EXPECT_EQ(frame.size(), sites::frame_header_size
                            + 2 * sites::record_header_size_v6 + 303
                            + sites::frame_mac_size);
  EXPECT_EQ(std::string(frame.begin(), frame.begin() + 4), "CST2");
  std::vector<sites::record_view> out;
  ASSERT_EQ(parse(frame, "key", out), sites::frame_error::none);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].group, g);
  EXPECT_EQ(out[0].group.to_string(), "ff3e::44:1");
  EXPECT_EQ(out[0].port, 5001);
  EXPECT_EQ(out[0].seq, 100u);
  EXPECT_EQ(out[0].origin, 77u);
  EXPECT_EQ(std::vector<uint8_t>(out[0].data, out[0].data + out[0].len), one);
  EXPECT_EQ(out[1].group, addr("ff1e::1:2"));
  EXPECT_EQ(out[1].port, 5002);
  EXPECT_EQ(std::vector<uint8_t>(out[1].data, out[1].data + out[1].len), two);
}

TEST(sites_ipv6_frame, ipv4_frames_stay_compact_and_families_do_not_mix) {
  sites::frame_builder b{1};
  std::vector<uint8_t> x(10, 1);
  auto v4 = addr("239.1.1.1");
  auto v6 = addr("ff1e::1");
  b.add(record(1, v4, 5000, x));
  EXPECT_TRUE(b.fits(x.size(), v4));
  EXPECT_FALSE(b.fits(x.size(), v6)); // an IPv6 record: the next frame
  b.add(record(2, v4, 5000, x));
  auto frame = b.seal("k");
  // 24 bytes a record, as before IPv6.
  EXPECT_EQ(frame.size(),
            sites::frame_header_size + 2 * (24 + 10) + sites::frame_mac_size);
  std::vector<sites::record_view> out;
  ASSERT_EQ(parse(frame, "k", out), sites::frame_error::none);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].group, v4);
  b.clear();
  EXPECT_TRUE(b.fits(x.size(), v6)); // a new frame takes either family
  b.add(record(3, v6, 5000, x));
  EXPECT_FALSE(b.fits(x.size(), v4));
}

TEST(sites_ipv6_frame, spread_blocks_ride_on_ipv6_records) {
  sites::frame_builder b{1};
  std::vector<uint8_t> x{5, 6};
  std::string block = "spread-block";
  auto g = addr("ff3e::44:1");
  b.add(record(1, g, 5000, x), &block);
  EXPECT_TRUE(b.fits(x.size(), g, &block));
  b.add(record(2, g, 5000, x), &block);
  std::vector<sites::record_view> out;
  ASSERT_EQ(parse(b.seal("k"), "k", out), sites::frame_error::none);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].group, g);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out[1].spread),
                        out[1].spread_len),
            block);
  EXPECT_EQ(std::vector<uint8_t>(out[1].data, out[1].data + out[1].len), x);
}

TEST(sites_ipv6_frame, a_truncated_ipv6_frame_is_malformed_even_under_its_mac) {
  sites::frame_builder b{1};
  std::vector<uint8_t> x(20, 9);
  auto g = addr("ff3e::44:1");
  b.add(record(1, g, 5000, x));
  b.add(record(2, g, 5000, x));
  auto frame = b.seal("k");
  std::vector<uint8_t> body(frame.begin(), frame.end() - sites::frame_mac_size);
  std::vector<sites::record_view> out;
  // Every shorter body, MACed by a peer that holds the key (the header
  // still says two records): malformed, never read past its end.
  for (std::size_t n = sites::frame_header_size; n < body.size(); ++n) {
    std::vector<uint8_t> cut(body.begin(), body.begin() + n);
    EXPECT_EQ(parse(sealed(cut, "k"), "k", out), sites::frame_error::malformed)
      << n;
  }
  // Cut on the wire, the MAC no longer checks.
  for (std::size_t n = sites::frame_header_size + sites::frame_mac_size;
       n < frame.size(); ++n) {
    std::vector<uint8_t> cut(frame.begin(), frame.begin() + n);
    EXPECT_NE(parse(cut, "k", out), sites::frame_error::none) << n;
  }
  // The whole body under a fresh MAC is what the builder sealed.
  ASSERT_EQ(sealed(body, "k"), frame);
}

TEST(sites_ipv6_frame, a_frame_of_another_version_is_named_so) {
  sites::frame_builder b{1};
  std::vector<uint8_t> x{1};
  b.add(record(1, addr("239.1.1.1"), 5000, x));
  auto frame = b.seal("k");
  std::vector<sites::record_view> out;
  // Version 1 (before IPv6 groups) and a future version 3, MAC and all.
  for (uint8_t version : {uint8_t{'1'}, uint8_t{'3'}}) {
    std::vector<uint8_t> body(frame.begin(),
                              frame.end() - sites::frame_mac_size);
    body[3] = version;
    auto other = sealed(body, "k");
    EXPECT_EQ(parse(other, "k", out), sites::frame_error::version) << version;
    EXPECT_EQ(sites::frame_type_of(other.data(), other.size()), 0);
    // Even cut short: what it is matters more than its length.
    std::vector<uint8_t> head(other.begin(), other.begin() + 4);
    EXPECT_EQ(parse(head, "k", out), sites::frame_error::version);
  }
  auto ping = sites::make_probe(sites::frame_type_ping, 3, 99, "k");
  ping[3] = '1';
  uint8_t type = 0;
  uint64_t stamp = 0;
  EXPECT_EQ(sites::parse_probe(ping.data(), ping.size(), "k", type, stamp),
            sites::frame_error::version);
  // Not our magic at all: malformed, as before.
  frame[0] = 'X';
  EXPECT_EQ(parse(frame, "k", out), sites::frame_error::malformed);
}

} // namespace
} // namespace castor::relay
