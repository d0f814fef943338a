// Least privilege (apps/relay/capabilities.hpp): what each ingress needs,
// what "auto" picks, and that the messages name the capability and the
// option; checked against given capability sets, and the capget(2) reading
// against /proc/self/status.

#include <fstream>
#include <set>
#include <string>

#include "service/capabilities.hpp"
#include <gtest/gtest.h>
#include <linux/capability.h>

namespace castor::relay {
namespace {

capability_probe only(std::set<int> caps) {
  return [caps](int cap) { return caps.count(cap) != 0; };
}

relay_settings with_ingress(ingress_mode mode) {
  relay_settings s;
  s.ingress = mode;
  return s;
}

TEST(capabilities, packet_ingress_without_net_raw_fails_naming_it) {
  auto v = check_capabilities(with_ingress(ingress_mode::packet),
                              only({CAP_NET_ADMIN}));
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.errors[0],
            "ingress = \"packet\" needs CAP_NET_RAW (AF_PACKET sockets); grant "
            "it (AmbientCapabilities=CAP_NET_RAW) or set [relay] ingress = "
            "\"socket\" (or \"auto\")");
  EXPECT_TRUE(v.warnings.empty());
}

TEST(capabilities, packet_ingress_with_both_is_quiet) {
  auto v = check_capabilities(with_ingress(ingress_mode::packet),
                              only({CAP_NET_RAW, CAP_NET_ADMIN}));
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.ingress, ingress_mode::packet);
  EXPECT_TRUE(v.warnings.empty());
  EXPECT_TRUE(v.notes.empty());
}

TEST(capabilities, socket_ingress_needs_nothing_but_warns_without_net_admin) {
  auto v = check_capabilities(with_ingress(ingress_mode::socket), only({}));
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.ingress, ingress_mode::socket);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_NE(v.warnings[0].find("CAP_NET_ADMIN"), std::string::npos);
  EXPECT_NE(v.warnings[0].find("SO_SNDBUFFORCE"), std::string::npos);
}

TEST(capabilities, auto_picks_packet_when_permitted_and_socket_otherwise) {
  auto v = check_capabilities(with_ingress(ingress_mode::automatic),
                              only({CAP_NET_RAW, CAP_NET_ADMIN}));
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.ingress, ingress_mode::packet);
  ASSERT_EQ(v.notes.size(), 1u);

  v = check_capabilities(with_ingress(ingress_mode::automatic),
                         only({CAP_NET_ADMIN}));
  EXPECT_TRUE(v.ok()) << "auto falls back instead of failing";
  EXPECT_EQ(v.ingress, ingress_mode::socket);
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_NE(v.notes[0].find("no CAP_NET_RAW"), std::string::npos);
}

/// The effective set as the kernel reports it in /proc/self/status.
uint64_t cap_eff_from_proc() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0)
      return std::stoull(line.substr(7), nullptr, 16);
  ADD_FAILURE() << "no CapEff in /proc/self/status";
  return 0;
}

TEST(capabilities, capget_agrees_with_proc_status) {
  const auto eff = cap_eff_from_proc();
  for (int cap : {CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_CHOWN})
    EXPECT_EQ(has_effective_capability(cap), ((eff >> cap) & 1u) != 0)
      << "capability " << cap;
}

// -- the data path (issue 16) -------------------------------------------------

relay_settings with_datapath(datapath_mode mode) {
  relay_settings s;
  s.datapath = mode;
  return s;
}

TEST(capabilities, kernel_datapath_without_bpf_fails_naming_it) {
  auto v = check_capabilities(with_datapath(datapath_mode::kernel),
                              only({CAP_NET_RAW, CAP_NET_ADMIN}));
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_NE(v.errors[0].find("datapath = \"kernel\""), std::string::npos);
  EXPECT_NE(v.errors[0].find("CAP_BPF"), std::string::npos);
}

TEST(capabilities, kernel_datapath_with_bpf_runs_the_kernel_path) {
  auto v = check_capabilities(with_datapath(datapath_mode::kernel),
                              only({CAP_NET_RAW, CAP_NET_ADMIN, cap_bpf}));
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.datapath, datapath_mode::kernel);
}

TEST(capabilities, kernel_datapath_that_does_not_load_fails_with_the_reason) {
  auto v = check_capabilities(
    with_datapath(datapath_mode::kernel),
    only({CAP_NET_RAW, CAP_NET_ADMIN, cap_bpf}),
    [] { return std::string{"built without the kernel data path"}; });
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_NE(v.errors[0].find("built without the kernel data path"),
            std::string::npos);
}

TEST(capabilities, auto_datapath_falls_back_to_packet_with_a_warning) {
  auto v = check_capabilities(with_datapath(datapath_mode::automatic),
                              only({CAP_NET_RAW, CAP_NET_ADMIN}));
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.datapath, datapath_mode::packet);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_NE(v.warnings[0].find("using the packet data path"),
            std::string::npos);
}

TEST(capabilities, auto_datapath_says_it_uses_the_kernel) {
  auto v = check_capabilities(with_datapath(datapath_mode::automatic),
                              only({CAP_NET_RAW, CAP_SYS_ADMIN}));
  EXPECT_TRUE(v.ok());
  EXPECT_EQ(v.datapath, datapath_mode::kernel);
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_NE(v.notes[0].find("using the kernel data path"), std::string::npos);
}

} // namespace
} // namespace castor::relay
