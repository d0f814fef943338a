// The one limit left on the rule count (issue 15): descriptors for the
// group manager's membership sockets (and socket ingress). A rule set that
// does not fit RLIMIT_NOFILE is refused with an error naming the limit.

#include <string>
#include <vector>

#include "service/descriptor_budget.hpp"
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

using namespace castor::relay;

namespace {

// n rules on `itf`, group 239.60.0.0 + i, `ports` distinct ports.
std::vector<rule> rules_on(const char* itf, uint32_t n, uint32_t ports = 1) {
  std::vector<rule> out;
  for (uint32_t i = 0; i < n; ++i) {
    rule r;
    r.name = std::string{itf} + "-" + std::to_string(i);
    r.input.interface = itf;
    r.input.group = ipv4{htonl((239u << 24) | (60u << 16) | i)};
    r.input.port = static_cast<uint16_t>(5000 + i % ports);
    out.push_back(r);
  }
  return out;
}

// Restores the soft descriptor limit when a test lowered it.
struct soft_limit {
  rlimit saved{};
  explicit soft_limit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved);
    rlimit lower = saved;
    lower.rlim_cur = soft;
    ::setrlimit(RLIMIT_NOFILE, &lower);
  }
  ~soft_limit() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

} // namespace

TEST(descriptor_budget, one_socket_per_igmp_max_memberships_groups) {
  EXPECT_EQ(
    descriptors_needed(rules_on("eth0", 10000), ingress_mode::packet, 20),
    descriptor_reserve + 500);
  // Per interface: 21 groups on each of two interfaces take 2 + 2.
  auto two = rules_on("eth0", 21);
  auto more = rules_on("eth1", 21);
  two.insert(two.end(), more.begin(), more.end());
  EXPECT_EQ(descriptors_needed(two, ingress_mode::packet, 20),
            descriptor_reserve + 4);
  // Socket ingress adds a socket per ruled (group, port).
  EXPECT_EQ(descriptors_needed(rules_on("eth0", 100), ingress_mode::socket, 20),
            descriptor_reserve + 5 + 100);
}

TEST(descriptor_budget, too_low_a_limit_is_an_error_naming_it) {
  soft_limit low{300};
  const auto per_socket = igmp_max_memberships();
  // Fits: the reserve plus a few sockets.
  EXPECT_FALSE(check_descriptors(rules_on("eth0", 20), ingress_mode::packet));
  // 60 sockets' worth of groups: 256 + 60 > 300.
  auto err =
    check_descriptors(rules_on("eth0", static_cast<uint32_t>(60 * per_socket)),
                      ingress_mode::packet);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("RLIMIT_NOFILE is 300"), std::string::npos) << *err;
  EXPECT_NE(err->find("igmp_max_memberships"), std::string::npos) << *err;
  EXPECT_NE(err->find("LimitNOFILE"), std::string::npos) << *err;
}
