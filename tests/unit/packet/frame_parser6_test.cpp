// The IPv6 frame parser: the view of a good frame, the bounded walk over
// extension headers, and every drop reason it gives.

#include "frame_builder.hpp"
#include <gtest/gtest.h>

#include "castor/packet/frame_parser.hpp"

using namespace castor::packet;
using castor::packet::test::addr6;
using castor::packet::test::build_frame;
using castor::packet::test::build_frame6;
using castor::packet::test::ext_header;
using castor::packet::test::frame6_spec;
using castor::packet::test::frame_spec;
using castor::packet::test::put16;

namespace {

parse_result parse6(const std::vector<uint8_t>& f, link_layer l,
                    udp6_datagram& out) {
  return parse_udp6_frame(f.data(), f.size(), f.size(), l, out);
}

bool ok6(const std::vector<uint8_t>& f, link_layer l = link_layer::none) {
  udp6_datagram d;
  return parse6(f, l, d).ok;
}

drop_reason reason6(const std::vector<uint8_t>& f,
                    link_layer l = link_layer::none) {
  udp6_datagram d;
  auto r = parse6(f, l, d);
  EXPECT_FALSE(r.ok);
  return r.reason;
}

frame6_spec with_ext(std::vector<ext_header> ext) {
  frame6_spec s;
  s.ext = std::move(ext);
  return s;
}

} // namespace

TEST(frame_parser6, good_frame_gives_a_view_into_the_frame) {
  for (auto layer :
       {link_layer::none, link_layer::ethernet, link_layer::linux_sll}) {
    frame6_spec s;
    s.layer = layer;
    s.traffic_class = 0xb8;
    s.flow_label = 0xabcde;
    s.hop_limit = 7;
    s.payload = {1, 2, 3, 4, 5};
    auto f = build_frame6(s);
    udp6_datagram d;
    auto r = parse6(f, layer, d);
    ASSERT_TRUE(r.ok) << to_string(r.reason);
    EXPECT_EQ(d.src, addr6("fd00::1"));
    EXPECT_EQ(d.dst, addr6("ff3e::1:1"));
    EXPECT_EQ(d.src_port, 40000);
    EXPECT_EQ(d.dst_port, 5001);
    EXPECT_EQ(d.hop_limit, 7);
    EXPECT_EQ(d.traffic_class, 0xb8);
    EXPECT_EQ(d.flow_label, 0xabcdeu);
    ASSERT_EQ(d.payload_size, 5u);
    EXPECT_EQ(d.payload, f.data() + f.size() - 5); // a view, not a copy
    EXPECT_EQ(d.payload[0], 1);
    EXPECT_EQ(d.payload[4], 5);
  }
}

TEST(frame_parser6, ip_version_picks_the_parser) {
  frame6_spec s6;
  s6.layer = link_layer::ethernet;
  auto f6 = build_frame6(s6);
  EXPECT_EQ(frame_ip_version(f6.data(), f6.size(), link_layer::ethernet), 6u);
  frame_spec s4;
  s4.layer = link_layer::ethernet;
  auto f4 = build_frame(s4);
  EXPECT_EQ(frame_ip_version(f4.data(), f4.size(), link_layer::ethernet), 4u);
  // Ethertype and version disagree: neither.
  put16(f4, 12, 0x86dd);
  EXPECT_EQ(frame_ip_version(f4.data(), f4.size(), link_layer::ethernet), 0u);
  EXPECT_EQ(frame_ip_version(f4.data(), 14, link_layer::ethernet), 0u);
  auto raw = build_frame6(frame6_spec{});
  EXPECT_EQ(frame_ip_version(raw.data(), raw.size(), link_layer::none), 6u);
  // The IPv4 parser keeps refusing IPv6 as not_ipv4, and the other way.
  udp_datagram d4;
  EXPECT_EQ(
    parse_udp_frame(f6.data(), f6.size(), f6.size(), link_layer::ethernet, d4)
      .reason,
    drop_reason::not_ipv4);
  EXPECT_EQ(reason6(build_frame(frame_spec{})), drop_reason::not_ipv6);
}

TEST(frame_parser6, wrong_ethertype_or_version_is_not_ipv6) {
  frame6_spec s;
  s.layer = link_layer::ethernet;
  s.ethertype = 0x0800;
  EXPECT_EQ(reason6(build_frame6(s), link_layer::ethernet),
            drop_reason::not_ipv6);
  s.ethertype = 0x8100;
  EXPECT_EQ(reason6(build_frame6(s), link_layer::ethernet),
            drop_reason::not_ipv6);
  s.layer = link_layer::linux_sll;
  s.ethertype = 0x0806;
  EXPECT_EQ(reason6(build_frame6(s), link_layer::linux_sll),
            drop_reason::not_ipv6);
  frame6_spec v4;
  v4.version = 4;
  EXPECT_EQ(reason6(build_frame6(v4)), drop_reason::not_ipv6);
}

TEST(frame_parser6, every_cut_of_a_good_frame_is_truncated) {
  frame6_spec s;
  s.layer = link_layer::ethernet;
  s.ext = {{60, 16}, {43, 8}};
  auto f = build_frame6(s);
  ASSERT_TRUE(ok6(f, link_layer::ethernet));
  for (std::size_t cut = 0; cut < f.size(); ++cut) {
    udp6_datagram d;
    auto r = parse_udp6_frame(f.data(), cut, f.size(), link_layer::ethernet, d);
    ASSERT_FALSE(r.ok) << cut;
    EXPECT_EQ(r.reason, drop_reason::truncated) << cut;
  }
}

TEST(frame_parser6, payload_length_versus_the_frame) {
  frame6_spec s;
  s.payload = {9};
  auto base = build_frame6(s);
  auto f = base;
  put16(f, 4, static_cast<uint16_t>(f.size() - 40 + 1)); // claims more
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
  // Link padding after the packet: ignored.
  f = base;
  f.resize(60, 0);
  udp6_datagram d;
  ASSERT_TRUE(parse6(f, link_layer::none, d).ok);
  EXPECT_EQ(d.payload_size, 1u);
  // Payload length 0 without a hop-by-hop header (no jumbogram).
  f = base;
  put16(f, 4, 0);
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
}

TEST(frame_parser6, udp_length_must_fit_the_ip_payload) {
  frame6_spec s;
  s.payload = std::vector<uint8_t>(10, 1);
  auto base = build_frame6(s);
  auto f = base;
  put16(f, 44, 7); // below the UDP header
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
  f = base;
  put16(f, 44, 19); // one more than the IP payload
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
  f = base;
  put16(f, 44, 0); // a UDP jumbogram's length: not without hop-by-hop
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
  f = base;
  put16(f, 44, 12); // shorter: trimmed, as for IPv4
  udp6_datagram d;
  ASSERT_TRUE(parse6(f, link_layer::none, d).ok);
  EXPECT_EQ(d.payload_size, 4u);
  // An IP payload shorter than a UDP header.
  frame6_spec empty;
  empty.payload.clear();
  f = build_frame6(empty);
  put16(f, 4, 7);
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
}

TEST(frame_parser6, zero_udp_checksum_is_refused) {
  frame6_spec s;
  s.checksum = 0;
  EXPECT_EQ(reason6(build_frame6(s)), drop_reason::zero_checksum);
  s.checksum = 0xffff; // a computed 0 is sent as 0xffff: fine
  EXPECT_TRUE(ok6(build_frame6(s)));
}

TEST(frame_parser6, hop_by_hop_is_dropped_anywhere_in_the_chain) {
  EXPECT_EQ(reason6(build_frame6(with_ext({{0, 8}}))), drop_reason::hop_by_hop);
  EXPECT_EQ(reason6(build_frame6(with_ext({{60, 8}, {0, 8}}))),
            drop_reason::hop_by_hop);
  // A jumbogram (payload length 0) announces itself with hop-by-hop.
  auto f = build_frame6(with_ext({{0, 8}}));
  put16(f, 4, 0);
  EXPECT_EQ(reason6(f), drop_reason::hop_by_hop);
}

TEST(frame_parser6, fragment_header_is_a_fragment) {
  EXPECT_EQ(reason6(build_frame6(with_ext({{44, 8}}))), drop_reason::fragment);
  EXPECT_EQ(reason6(build_frame6(with_ext({{60, 8}, {44, 8}}))),
            drop_reason::fragment);
}

TEST(frame_parser6, walks_extension_headers_to_udp) {
  // Destination options, routing with no segments left, AH, mobility-like
  // generic headers: all walked, with their own length units.
  for (const auto& chain :
       std::vector<std::vector<ext_header>>{{{60, 8}},
                                            {{60, 24}},
                                            {{43, 8}},
                                            {{51, 12}},
                                            {{51, 24}, {60, 8}},
                                            {{60, 8}, {43, 16}, {60, 8}},
                                            {{135, 8}},
                                            {{139, 16}},
                                            {{140, 8}}}) {
    frame6_spec s = with_ext(chain);
    s.payload = {7, 8};
    auto f = build_frame6(s);
    udp6_datagram d;
    auto r = parse6(f, link_layer::none, d);
    ASSERT_TRUE(r.ok) << chain.size() << " " << to_string(r.reason);
    EXPECT_EQ(d.dst_port, 5001);
    ASSERT_EQ(d.payload_size, 2u);
    EXPECT_EQ(d.payload[0], 7);
  }
}

TEST(frame_parser6, the_walk_is_bounded) {
  std::vector<ext_header> chain(max_ipv6_extension_headers, {60, 8});
  EXPECT_TRUE(ok6(build_frame6(with_ext(chain))));
  chain.push_back({60, 8});
  EXPECT_EQ(reason6(build_frame6(with_ext(chain))), drop_reason::ext_headers);
  // A frame full of headers stops at the bound, well before its end.
  std::vector<ext_header> many(100, {60, 8});
  EXPECT_EQ(reason6(build_frame6(with_ext(many))), drop_reason::ext_headers);
}

TEST(frame_parser6, unwalkable_headers_are_ext_headers) {
  ext_header routing{43, 8, 2}; // segments left: to be forwarded
  EXPECT_EQ(reason6(build_frame6(with_ext({routing}))),
            drop_reason::ext_headers);
  frame6_spec esp; // encrypted: nothing to walk
  esp.protocol = 50;
  EXPECT_EQ(reason6(build_frame6(esp)), drop_reason::ext_headers);
}

TEST(frame_parser6, an_extension_header_past_the_payload_is_bad_length) {
  auto f = build_frame6(with_ext({{60, 8}}));
  f[41] = 200; // claims 1608 bytes
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
  // The header's own first two bytes past the payload.
  frame6_spec s = with_ext({{60, 8}});
  s.payload.clear();
  f = build_frame6(s);
  put16(f, 4, 1); // the payload ends inside the first extension header
  EXPECT_EQ(reason6(f), drop_reason::bad_length);
}

TEST(frame_parser6, other_upper_layers_are_not_udp) {
  for (uint8_t proto : {6, 58, 59, 132}) {
    frame6_spec s;
    s.protocol = proto;
    EXPECT_EQ(reason6(build_frame6(s)), drop_reason::not_udp) << int{proto};
    frame6_spec behind = with_ext({{60, 8}});
    behind.protocol = proto;
    EXPECT_EQ(reason6(build_frame6(behind)), drop_reason::not_udp)
      << int{proto};
  }
}

TEST(frame_parser6, new_reasons_have_names) {
  EXPECT_EQ(to_string(drop_reason::not_ipv6), "not_ipv6");
  EXPECT_EQ(to_string(drop_reason::hop_by_hop), "hop_by_hop");
  EXPECT_EQ(to_string(drop_reason::ext_headers), "ext_headers");
  EXPECT_EQ(to_string(drop_reason::zero_checksum), "zero_checksum");
}
