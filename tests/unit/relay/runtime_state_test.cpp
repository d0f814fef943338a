// Runtime changes that persist (issue 14): the difference between the
// running rules and the config file, applied on top of a (new) file, its
// state file's text, and where `config save` may write
// (config/runtime_changes.hpp, config/runtime_state.hpp,
// service/state_directory.hpp).

#include <fstream>
#include <string>
#include <vector>

#include "config/config_writer.hpp"
#include "config/runtime_changes.hpp"
#include "config/runtime_state.hpp"
#include "service/state_directory.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace castor::relay {
namespace {

using test::simple_rule;

std::vector<std::string> names_of(const std::vector<rule>& rules) {
  std::vector<std::string> out;
  for (const auto& r : rules)
    out.push_back(r.name);
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

using names = std::vector<std::string>;

// -- the difference and its application ---------------------------------------

TEST(runtime_changes, an_added_rule_survives_as_the_file_lacks_it) {
  std::vector<rule> file{simple_rule("a", "239.1.1.1", 5001)};
  auto running = file;
  running.push_back(simple_rule("x", "239.1.1.9", 5009));
  auto changes = diff_runtime(file, running);
  ASSERT_EQ(names_of(changes.added), names{"x"});
  EXPECT_TRUE(changes.removed.empty());
  // At a restart (the same file) and at a reload of a file that lacks it.
  auto applied = apply_runtime(file, changes);
  EXPECT_EQ(applied.rules, running);
  EXPECT_EQ(applied.kept, names{"x"});
  EXPECT_TRUE(applied.dropped.empty());
  std::vector<rule> edited{simple_rule("b", "239.1.1.2", 5002)};
  applied = apply_runtime(edited, changes);
  EXPECT_EQ(names_of(applied.rules), (names{"b", "x"}));
  EXPECT_EQ(applied.kept, names{"x"});
}

TEST(runtime_changes,
     a_removed_file_rule_stays_removed_until_the_file_changes_it) {
  std::vector<rule> file{simple_rule("a", "239.1.1.1", 5001),
                         simple_rule("b", "239.1.1.2", 5002)};
  std::vector<rule> running{file[1]};
  auto changes = diff_runtime(file, running);
  ASSERT_EQ(names_of(changes.removed), names{"a"});
  EXPECT_TRUE(changes.added.empty());
  EXPECT_EQ(names_of(apply_runtime(file, changes).rules), names{"b"});
  // The operator edits rule a in the file: the file's version runs again,
  // and that is said.
  auto edited = file;
  edited[0].input.port = 7001;
  auto applied = apply_runtime(edited, changes);
  EXPECT_EQ(names_of(applied.rules), (names{"a", "b"}));
  ASSERT_EQ(applied.dropped.size(), 1u);
  EXPECT_NE(applied.dropped[0].find("a: removed at runtime, but the config "
                                    "file changed it since"),
            std::string::npos)
    << applied.dropped[0];
}

TEST(runtime_changes, a_replacement_keeps_its_place_and_the_file_wins_a_clash) {
  std::vector<rule> file{simple_rule("a", "239.1.1.1", 5001),
                         simple_rule("b", "239.1.1.2", 5002)};
  auto running = file;
  running[0].outputs[0].port = 9999; // remove a, add a' at runtime
  auto changes = diff_runtime(file, running);
  EXPECT_EQ(names_of(changes.removed), names{"a"});
  EXPECT_EQ(names_of(changes.added), names{"a"});
  auto applied = apply_runtime(file, changes);
  EXPECT_EQ(applied.rules, running);
  // A runtime rule whose name the file now has, and one whose input the
  // file's rules now take: the file's run, and each drop is named.
  std::vector<rule> file2{simple_rule("a", "239.1.1.1", 5001)};
  auto running2 = file2;
  running2.push_back(simple_rule("x", "239.1.1.9", 5009));
  running2.push_back(simple_rule("y", "239.1.1.8", 5008));
  auto changes2 = diff_runtime(file2, running2);
  auto next = file2;
  next.push_back(simple_rule("x", "239.1.1.7", 5007));
  next.push_back(simple_rule("z", "239.1.1.8", 5008));
  applied = apply_runtime(next, changes2);
  EXPECT_EQ(names_of(applied.rules), (names{"a", "x", "z"}));
  EXPECT_TRUE(applied.kept.empty());
  ASSERT_EQ(applied.dropped.size(), 2u);
  EXPECT_EQ(applied.dropped[0].rfind("x: added at runtime, but the config "
                                     "file now defines a rule of that name",
                                     0),
            0u)
    << applied.dropped[0];
  EXPECT_EQ(applied.dropped[1].rfind("y: added at runtime, but it clashes", 0),
            0u)
    << applied.dropped[1];
}

// -- the state file ---------------------------------------------------------------

TEST(runtime_state, round_trips_through_its_text) {
  runtime_changes c;
  c.added = {simple_rule("x", "239.1.1.9", 5009)};
  c.added[0].outputs[0].ttl_decrement = true;
  c.removed = {simple_rule("a", "239.1.1.1", 5001)};
  const auto text = write_runtime_changes(c, "/etc/castor/relay.toml");
  EXPECT_NE(text.find("/etc/castor/relay.toml"), std::string::npos);
  auto back = parse_runtime_changes(text, "runtime.toml");
  ASSERT_TRUE(back.errors.empty()) << back.errors.front();
  EXPECT_EQ(back.changes.added, c.added);
  EXPECT_EQ(back.changes.removed, c.removed);
  EXPECT_TRUE(parse_runtime_changes("", "empty").changes.empty());
}

TEST(runtime_state, a_broken_state_is_named_and_set_aside) {
  auto bad = parse_runtime_changes("[[rule]]\nname = 3\n", "runtime.toml");
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_EQ(bad.errors[0].rfind("runtime.toml: [[rule]]: ", 0), 0u)
    << bad.errors[0];
  EXPECT_FALSE(parse_runtime_changes("what = 1\n", "s").errors.empty());
  test::temp_dir dir;
  const auto state = dir.write("runtime.toml", "[[rule\n");
  std::vector<rule> file{simple_rule("a", "239.1.1.1", 5001)};
  auto load = load_runtime_state(dir.path(), file);
  EXPECT_FALSE(load.rules);
  ASSERT_EQ(load.warnings.size(), 1u);
  EXPECT_NE(load.warnings[0].find("the runtime state cannot be read"),
            std::string::npos)
    << load.warnings[0];
  // Nothing is lost: the broken file is kept aside.
  EXPECT_EQ(read_all(state + ".rejected"), "[[rule\n");
}

TEST(runtime_state, saved_by_one_run_and_applied_by_the_next) {
  test::temp_dir dir;
  std::vector<rule> file{simple_rule("a", "239.1.1.1", 5001)};
  auto running = file;
  running.push_back(simple_rule("x", "239.1.1.9", 5009));
  ASSERT_EQ(save_runtime_state(dir.path(), "relay.toml", file, running),
            std::nullopt);
  auto load = load_runtime_state(dir.path(), file);
  ASSERT_TRUE(load.rules);
  EXPECT_EQ(*load.rules, running);
  EXPECT_TRUE(load.warnings.empty());
  // No state directory: nothing is written, and the start says so.
  EXPECT_EQ(save_runtime_state("", "relay.toml", file, running), std::nullopt);
  auto none = load_runtime_state("", file);
  EXPECT_FALSE(none.rules);
  ASSERT_EQ(none.notes.size(), 1u);
  EXPECT_NE(none.notes[0].find("runtime changes last until the relay stops"),
            std::string::npos);
}

// -- where the daemon writes ------------------------------------------------------

TEST(state_directory, from_the_option_else_systemds_variable) {
  EXPECT_EQ(resolve_state_directory("/srv/c", "/var/lib/castor"), "/srv/c");
  EXPECT_EQ(resolve_state_directory("", "/var/lib/castor:/var/lib/x"),
            "/var/lib/castor");
  EXPECT_EQ(resolve_state_directory("", nullptr), "");
}

TEST(state_directory, config_save_writes_only_inside_it) {
  test::temp_dir dir;
  const auto& d = dir.path();
  EXPECT_EQ(config_save_target(d, "").path, d + "/relay.toml");
  EXPECT_EQ(config_save_target(d, "saved.toml").path, d + "/saved.toml");
  EXPECT_EQ(config_save_target(d, d + "/saved.toml").path, d + "/saved.toml");
  for (const auto& outside :
       {std::string{"/etc/castor/relay.toml"}, d + "/../x.toml",
        std::string{"sub/x.toml"}, d + "/sub/x.toml"}) {
    auto t = config_save_target(d, outside);
    EXPECT_TRUE(t.path.empty()) << outside;
    EXPECT_NE(t.error.find("is outside the state directory " + d),
              std::string::npos)
      << t.error;
  }
  // A directory inside that is a symbolic link to elsewhere is outside.
  ASSERT_EQ(::symlink("/etc", (d + "/etc").c_str()), 0);
  EXPECT_FALSE(config_save_target(d, d + "/etc/passwd").error.empty());
  EXPECT_NE(config_save_target(d, "runtime.toml").error.find("runtime state"),
            std::string::npos);
  EXPECT_FALSE(config_save_target(d, ".hidden").error.empty());
  EXPECT_NE(config_save_target("", "x.toml").error.find("no state directory"),
            std::string::npos);
}

TEST(state_directory, a_symlink_planted_at_the_temporary_name_is_refused) {
  test::temp_dir dir;
  const auto target = dir.write("precious", "precious\n");
  const auto path = dir.path() + "/relay.toml";
  const auto tmp = path + ".tmp." + std::to_string(::getpid());
  ASSERT_EQ(::symlink(target.c_str(), tmp.c_str()), 0);
  auto err = write_file_atomically(path, "text\n");
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("refusing to write through it"), std::string::npos)
    << *err;
  EXPECT_EQ(read_all(target), "precious\n");
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);
}

} // namespace
} // namespace castor::relay
