// The relay's buffer memory (issue 15): send rings per output group and
// worker, receive buffers per worker, all sized by max_frame, bounded by
// [relay] max_buffer_memory_mib. A rule set over the cap is refused with
// the need and the cap.

#include <string>
#include <vector>

#include "service/memory_budget.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>

using namespace castor::relay;

namespace {

// n rules on eth0, each with its own output TTL: n output groups.
std::vector<rule> groups_of(unsigned n) {
  std::vector<rule> out;
  for (unsigned i = 0; i < n; ++i) {
    auto r = test::simple_rule("r" + std::to_string(i), "239.1.1.1",
                               static_cast<uint16_t>(5000 + i));
    r.outputs[0].ttl = static_cast<uint8_t>(1 + i);
    out.push_back(r);
  }
  return out;
}

} // namespace

// One send ring: 256 frames of payload and 2048 slots of headers.
uint64_t ring_of(uint64_t max_frame) {
  return 256 * max_frame + 2048 * send_slot_overhead;
}

TEST(memory_budget, send_rings_per_output_group_and_worker) {
  // 32 groups x 2 workers x (256 x 2048 bytes of payload + 2048 slots x
  // 256 bytes) = 64 MiB, plus 2 x 64 receive buffers of 2048 bytes: the
  // figure docs/relay.md gives.
  EXPECT_EQ(ring_of(2048), 1u << 20);
  EXPECT_EQ(buffer_memory_needed(groups_of(32), 2048, 2),
            (64u << 20) + 2u * 64 * 2048);
  // Outputs that share interface, TTL and TOS share a ring.
  auto same = groups_of(1);
  for (int i = 0; i < 9; ++i) {
    auto r = same[0];
    r.name += std::to_string(i);
    r.input.port = static_cast<uint16_t>(6000 + i);
    same.push_back(r);
  }
  EXPECT_EQ(buffer_memory_needed(same, 2048, 1), ring_of(2048) + 64 * 2048);
  // Another TOS, another interface: two more groups; jumbo frames cost
  // more payload bytes (the slots' headers do not grow).
  same[1].outputs[0].tos = 184;
  same[2].outputs[0].interface = "eth2";
  EXPECT_EQ(buffer_memory_needed(same, 9216, 1),
            3 * ring_of(9216) + 64 * 9216u);
  // Each input interface has its own workers and rings.
  same[3].input.interface = "eth3";
  EXPECT_EQ(buffer_memory_needed(same, 9216, 1),
            4 * ring_of(9216) + 2 * 64 * 9216u);
}

TEST(memory_budget, rings_are_counted_as_the_data_plane_opens_them) {
  // Outputs of one interface share a ring unless their egress settings
  // differ: a source port of their own, or per-datagram marks. Marked
  // outputs share one ring whatever their numeric ttl (the marks carry it).
  auto rules = groups_of(1);
  for (int i = 0; i < 4; ++i) {
    auto r = rules[0];
    r.name += std::to_string(i);
    r.input.port = static_cast<uint16_t>(6000 + i);
    rules.push_back(r);
  }
  const uint64_t ring = ring_of(2048);
  const uint64_t receive = 64u * 2048;
  EXPECT_EQ(buffer_memory_needed(rules, 2048, 1), ring + receive);
  rules[1].outputs[0].source_port = 4444;
  EXPECT_EQ(buffer_memory_needed(rules, 2048, 1), 2 * ring + receive);
  rules[2].outputs[0].ttl_decrement = true;
  rules[3].outputs[0].ttl_decrement = true;
  rules[3].outputs[0].ttl = 9;
  EXPECT_EQ(buffer_memory_needed(rules, 2048, 1), 3 * ring + receive);
  rules[4].outputs[0].tos_preserve = true;
  EXPECT_EQ(buffer_memory_needed(rules, 2048, 1), 3 * ring + receive);
}

TEST(memory_budget, over_the_cap_is_an_error_with_the_need_and_the_cap) {
  relay_settings s;
  s.max_buffer_memory_mib = 64;
  // 31 groups x 2 workers: 62 MiB and 256 KiB, fits.
  EXPECT_FALSE(check_memory(groups_of(31), s, 2));
  auto err = check_memory(groups_of(32), s, 2);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("32 rules need 65 MiB of buffer memory"),
            std::string::npos)
    << *err;
  EXPECT_NE(err->find("max_buffer_memory_mib, is 64 MiB"), std::string::npos)
    << *err;
  // max_frame counts: 9216-byte frames make a ring 2.75 MiB (12 groups x 2 workers: 67.1 MiB).
  s.max_frame = 9216;
  err = check_rule_limits(groups_of(12), s, 2);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("need 68 MiB"), std::string::npos) << *err;
  EXPECT_NE(err->find("max_frame 9216"), std::string::npos) << *err;
  EXPECT_FALSE(check_rule_limits(groups_of(11), s, 2));
}
