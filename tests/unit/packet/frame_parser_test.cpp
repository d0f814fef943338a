// The frame parser: every drop reason, the boundaries around it, and the
// view it hands out for a good frame.

#include <set>
#include <string_view>

#include "frame_builder.hpp"
#include <gtest/gtest.h>

#include "castor/packet/frame_parser.hpp"

using namespace castor::packet;
using castor::packet::test::addr;
using castor::packet::test::build_frame;
using castor::packet::test::fix_ip_checksum;
using castor::packet::test::frame_spec;
using castor::packet::test::put16;

namespace {

parse_result parse(const std::vector<uint8_t>& f, link_layer l,
                   udp_datagram& out) {
  return parse_udp_frame(f.data(), f.size(), f.size(), l, out);
}

drop_reason reason_of(const std::vector<uint8_t>& f,
                      link_layer l = link_layer::none) {
  udp_datagram d;
  auto r = parse(f, l, d);
  EXPECT_FALSE(r.ok);
  return r.reason;
}

} // namespace

TEST(frame_parser, good_frame_gives_a_view_into_the_frame) {
  for (auto layer :
       {link_layer::none, link_layer::ethernet, link_layer::linux_sll}) {
    frame_spec s;
    s.layer = layer;
    s.tos = 0xb8;
    s.ttl = 7;
    s.payload = {1, 2, 3, 4, 5};
    auto f = build_frame(s);
    udp_datagram d;
    auto r = parse(f, layer, d);
    ASSERT_TRUE(r.ok) << to_string(r.reason);
    EXPECT_EQ(d.src_be, addr("10.0.0.1"));
    EXPECT_EQ(d.dst_be, addr("239.1.1.1"));
    EXPECT_EQ(d.src_port, 40000);
    EXPECT_EQ(d.dst_port, 5001);
    EXPECT_EQ(d.ttl, 7);
    EXPECT_EQ(d.tos, 0xb8);
    ASSERT_EQ(d.payload_size, 5u);
    EXPECT_EQ(d.payload, f.data() + f.size() - 5); // a view, not a copy
    EXPECT_EQ(d.payload[0], 1);
    EXPECT_EQ(d.payload[4], 5);
  }
}

TEST(frame_parser, empty_payload_is_a_valid_datagram) {
  frame_spec s;
  s.payload.clear();
  auto f = build_frame(s);
  udp_datagram d;
  ASSERT_TRUE(parse(f, link_layer::none, d).ok);
  EXPECT_EQ(d.payload_size, 0u);
}

TEST(frame_parser, every_cut_of_a_good_frame_is_refused) {
  // Cut the capture at every length below the full frame: never ok, and
  // "truncated" whenever the wire length says more was sent.
  frame_spec s;
  s.layer = link_layer::ethernet;
  auto f = build_frame(s);
  for (std::size_t cut = 0; cut < f.size(); ++cut) {
    udp_datagram d;
    auto r = parse_udp_frame(f.data(), cut, f.size(), link_layer::ethernet, d);
    ASSERT_FALSE(r.ok) << cut;
    EXPECT_EQ(r.reason, drop_reason::truncated) << cut;
  }
}

TEST(frame_parser, capture_cut_versus_lying_length) {
  frame_spec s;
  auto f = build_frame(s);
  udp_datagram d;
  // Snap length cut the frame: truncated.
  auto r =
    parse_udp_frame(f.data(), f.size() - 1, f.size(), link_layer::none, d);
  EXPECT_EQ(r.reason, drop_reason::truncated);
  // The IP header claims more than the wire carried: bad_length.
  put16(f, 2, static_cast<uint16_t>(f.size() + 1));
  fix_ip_checksum(f, link_layer::none);
  EXPECT_EQ(reason_of(f), drop_reason::bad_length);
}

TEST(frame_parser, link_padding_after_the_packet_is_ignored) {
  frame_spec s;
  s.layer = link_layer::ethernet;
  s.payload = {9};
  auto f = build_frame(s);
  f.resize(60, 0); // Ethernet minimum frame
  udp_datagram d;
  ASSERT_TRUE(parse(f, link_layer::ethernet, d).ok);
  EXPECT_EQ(d.payload_size, 1u);
}

TEST(frame_parser, wrong_ethertype_or_version_is_not_ipv4) {
  frame_spec s;
  s.layer = link_layer::ethernet;
  s.ethertype = 0x86dd;
  EXPECT_EQ(reason_of(build_frame(s), link_layer::ethernet),
            drop_reason::not_ipv4);
  s.ethertype = 0x8100; // VLAN tag still in the frame: not ours to parse
  EXPECT_EQ(reason_of(build_frame(s), link_layer::ethernet),
            drop_reason::not_ipv4);
  s.layer = link_layer::linux_sll;
  s.ethertype = 0x0806;
  EXPECT_EQ(reason_of(build_frame(s), link_layer::linux_sll),
            drop_reason::not_ipv4);
  frame_spec v6;
  v6.version = 6;
  EXPECT_EQ(reason_of(build_frame(v6)), drop_reason::not_ipv4);
}

TEST(frame_parser, ihl_below_five_is_a_bad_header) {
  frame_spec s;
  auto f = build_frame(s);
  f[0] = 0x44;
  EXPECT_EQ(reason_of(f), drop_reason::bad_header);
}

TEST(frame_parser, any_ip_option_is_refused) {
  for (std::size_t opt : {4u, 8u, 40u}) {
    frame_spec s;
    s.option_bytes = opt;
    EXPECT_EQ(reason_of(build_frame(s)), drop_reason::ip_options) << opt;
  }
}

TEST(frame_parser, total_length_below_header_is_bad_length) {
  frame_spec s;
  auto f = build_frame(s);
  put16(f, 2, 19);
  fix_ip_checksum(f, link_layer::none);
  EXPECT_EQ(reason_of(f), drop_reason::bad_length);
}

TEST(frame_parser, header_checksum_is_checked) {
  frame_spec s;
  auto f = build_frame(s);
  f[8] ^= 1; // TTL changed, checksum not
  EXPECT_EQ(reason_of(f), drop_reason::bad_checksum);
}

TEST(frame_parser, more_fragments_or_an_offset_is_a_fragment) {
  frame_spec s;
  s.flags_fragment = 0x2000; // MF, offset 0: the first fragment
  EXPECT_EQ(reason_of(build_frame(s)), drop_reason::fragment);
  s.flags_fragment = 0x0001; // last fragment
  EXPECT_EQ(reason_of(build_frame(s)), drop_reason::fragment);
  s.flags_fragment = 0x1fff;
  EXPECT_EQ(reason_of(build_frame(s)), drop_reason::fragment);
  s.flags_fragment = 0x0000; // DF clear, not a fragment: fine
  udp_datagram d;
  EXPECT_TRUE(parse(build_frame(s), link_layer::none, d).ok);
}

TEST(frame_parser, other_protocols_are_not_udp) {
  for (uint8_t proto : {1, 2, 6, 47, 132}) {
    frame_spec s;
    s.protocol = proto;
    EXPECT_EQ(reason_of(build_frame(s)), drop_reason::not_udp) << int{proto};
  }
}

TEST(frame_parser, udp_length_must_fit_the_ip_payload) {
  frame_spec s;
  s.payload = std::vector<uint8_t>(10, 1);
  auto base = build_frame(s);
  auto f = base;
  put16(f, 24, 7); // below the UDP header
  EXPECT_EQ(reason_of(f), drop_reason::bad_length);
  f = base;
  put16(f, 24, 19); // one more than the IP payload
  EXPECT_EQ(reason_of(f), drop_reason::bad_length);
  // Shorter than the IP payload: trimmed, as the kernel's udp_rcv does.
  f = base;
  put16(f, 24, 12);
  udp_datagram d;
  ASSERT_TRUE(parse(f, link_layer::none, d).ok);
  EXPECT_EQ(d.payload_size, 4u);
}

TEST(frame_parser, ip_payload_shorter_than_a_udp_header_is_bad_length) {
  frame_spec s;
  s.payload.clear();
  auto f = build_frame(s);
  put16(f, 2, 27); // 20 + 7
  fix_ip_checksum(f, link_layer::none);
  EXPECT_EQ(reason_of(f), drop_reason::bad_length);
}

TEST(frame_parser, reasons_have_stable_distinct_names) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < drop_reason_count; ++i)
    names.insert(to_string(static_cast<drop_reason>(i)));
  EXPECT_EQ(names.size(), drop_reason_count);
  EXPECT_EQ(names.count("unknown"), 0u);
  EXPECT_EQ(to_string(drop_reason::ip_options), "ip_options");
  EXPECT_EQ(to_string(drop_reason::fragment), "fragment");
  EXPECT_EQ(to_string(drop_reason::truncated), "truncated");
  EXPECT_EQ(to_string(drop_reason::not_udp), "not_udp");
  EXPECT_EQ(to_string(drop_reason::bad_length), "bad_length");
}

TEST(frame_parser, checksum_helper_matches_rfc1071_example) {
  // RFC 1071 section 3 example bytes: the folded sum is 0xddf2.
  const uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ones_complement_sum(bytes, sizeof bytes), 0xddf2);
}
