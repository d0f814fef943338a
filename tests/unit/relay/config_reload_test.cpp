// What a reload changes (config_reload.hpp), and `config save` writing the
// running config so that a reload of the saved file changes nothing.

#include <string>

#include "config/config_parser.hpp"
#include "config/config_reload.hpp"
#include "config/config_writer.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>
#include <sys/stat.h>

namespace castor::relay {
namespace {

using names = std::vector<std::string>;

TEST(config_reload, rules_are_matched_by_name) {
  const std::vector<rule> running{test::simple_rule("keep", "239.1.1.1", 5001),
                                  test::simple_rule("edit", "239.1.1.2", 5002),
                                  test::simple_rule("drop", "239.1.1.3", 5003)};
  auto edited = test::simple_rule("edit", "239.1.1.2", 5002);
  edited.outputs[0].ttl = 8;
  const std::vector<rule> next{test::simple_rule("new", "239.1.1.4", 5004),
                               edited,
                               test::simple_rule("keep", "239.1.1.1", 5001)};
  auto d = diff_rules(running, next);
  EXPECT_EQ(d.added, names{"new"});
  EXPECT_EQ(d.removed, names{"drop"});
  EXPECT_EQ(d.changed, names{"edit"});
  EXPECT_EQ(d.unchanged, 1u);
}

TEST(config_reload, a_changed_source_filter_is_a_change) {
  auto with_source = test::simple_rule("a", "239.1.1.1", 5001);
  with_source.input.source = ipv4::parse("10.0.0.5");
  auto d =
    diff_rules({test::simple_rule("a", "239.1.1.1", 5001)}, {with_source});
  EXPECT_EQ(d.changed, names{"a"});
  EXPECT_EQ(d.unchanged, 0u);
}

TEST(config_reload, the_same_rules_change_nothing) {
  const std::vector<rule> rules{test::simple_rule("a", "239.1.1.1", 5001),
                                test::simple_rule("b", "239.1.1.2", 5002)};
  auto d = diff_rules(rules, rules);
  EXPECT_TRUE(d.added.empty());
  EXPECT_TRUE(d.removed.empty());
  EXPECT_TRUE(d.changed.empty());
  EXPECT_EQ(d.unchanged, 2u);
}

TEST(config_reload, process_settings_wait_for_a_restart) {
  daemon_config running;
  running.relay.workers = 2;
  auto next = running;
  next.relay.workers = 4;
  next.relay.ingress = ingress_mode::socket;
  next.relay.log_level = "debug";
  next.metrics.listen = "127.0.0.1:9999";
  EXPECT_EQ(settings_needing_restart(running, next),
            (names{"[relay] workers", "[relay] ingress", "[metrics]"}));
  // What runs: the new log level, the old shape of the process.
  auto effect = config_in_effect(running, next);
  EXPECT_EQ(effect.relay.log_level, "debug");
  EXPECT_EQ(effect.relay.workers, 2u);
  EXPECT_EQ(effect.relay.ingress, ingress_mode::packet);
  EXPECT_EQ(effect.metrics.listen, running.metrics.listen);
  EXPECT_TRUE(settings_needing_restart(running, running).empty());
}

TEST(config_reload, ingress_auto_is_what_it_chose_at_start) {
  daemon_config running; // auto became packet at start
  auto next = running;
  next.relay.ingress = ingress_mode::automatic;
  EXPECT_TRUE(settings_needing_restart(running, next).empty());
  next.relay.log_target = "syslog";
  EXPECT_EQ(settings_needing_restart(running, next),
            (names{"[relay] log_target"}));
}

TEST(config_reload, max_frame_waits_for_a_restart) {
  daemon_config running;
  auto next = running;
  next.relay.max_frame = 9216;
  EXPECT_EQ(settings_needing_restart(running, next),
            (names{"[relay] max_frame"}));
  EXPECT_EQ(config_in_effect(running, next).relay.max_frame, 2048u);
}

TEST(config_save, writes_a_file_that_loads_back_to_the_running_config) {
  test::temp_dir dir;
  daemon_config cfg;
  cfg.relay.workers = 3;
  cfg.rules = {test::simple_rule("a", "239.1.1.1", 5001),
               test::simple_rule("b", "239.1.1.2", 5002)};
  const auto path = dir.path() + "/saved.toml";
  ASSERT_EQ(save_config(cfg, path), std::nullopt);
  auto back = parse_config_file(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.config.rules, cfg.rules);
  EXPECT_EQ(back.config.relay.workers, 3u);
  // A reload of what was saved changes nothing.
  auto d = diff_rules(cfg.rules, back.config.rules);
  EXPECT_EQ(d.unchanged, 2u);
  EXPECT_TRUE(d.added.empty() && d.removed.empty() && d.changed.empty());
}

TEST(config_save, replaces_a_file_and_keeps_its_mode) {
  test::temp_dir dir;
  const auto path = dir.write("relay.toml", "# old\n");
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  daemon_config cfg;
  cfg.rules = {test::simple_rule("a", "239.1.1.1", 5001)};
  ASSERT_EQ(save_config(cfg, path), std::nullopt);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  auto back = parse_config_file(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.config.rules.size(), 1u);
}

TEST(config_save, names_the_path_it_cannot_write) {
  test::temp_dir dir;
  const auto path = dir.path() + "/no/such/dir/relay.toml";
  auto err = save_config(daemon_config{}, path);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find(path), std::string::npos) << *err;
  EXPECT_NE(err->find("No such file"), std::string::npos) << *err;
}

} // namespace
} // namespace castor::relay
