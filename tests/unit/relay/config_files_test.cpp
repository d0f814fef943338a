// The config parser, continued: several errors in one file, syntax errors,
// unreadable files, and `include` of further rule files.

#include <string>
#include <vector>

#include "config/config_parser.hpp"
#include "config_test_support.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>

namespace castor::relay {
namespace {

using strings = std::vector<std::string>;
using test::errors_of;
using test::messages;

// -- several errors, syntax errors, files -------------------------------------

TEST(config_parser, reports_all_errors_in_file_order) {
  auto res = parse_config_string(R"([relay]
workers = 999
[[rule]]
name = "a"
input = { interface = "eth0", group = "10.0.0.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 0 } ]
[[rule]]
name = "b"
input = { interface = "eth0", group = "239.1.1.1", port = 5001 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001 } ]
)",
                                 "relay.toml");
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(messages(res),
            (strings{"relay.toml:2:11: relay.workers: 999 is out of range "
                     "0..256 (0 means one per core)",
                     "relay.toml:5:39: input.group: 10.0.0.1 is not a "
                     "multicast group (224.0.0.0/4)",
                     "relay.toml:6:65: outputs[0].port: port 0 is out of range "
                     "1..65535"}));
  // Only sound rules are kept.
  ASSERT_EQ(res.config.rules.size(), 1u);
  EXPECT_EQ(res.config.rules[0].name, "b");
}

TEST(config_parser, syntax_error_is_positioned) {
  auto errs = errors_of("[relay]\nworkers = 2\nworkers = 3\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].rfind("relay.toml:3:", 0), 0u) << errs[0];
  EXPECT_NE(errs[0].find("workers"), std::string::npos) << errs[0];
  errs = errors_of("[[rule]\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].rfind("relay.toml:1:", 0), 0u) << errs[0];
}

TEST(config_parser, missing_file) {
  auto res = parse_config_file("/nonexistent/castor/relay.toml");
  EXPECT_EQ(messages(res),
            strings{"/nonexistent/castor/relay.toml: cannot read config "
                    "file: No such file or directory"});
}

TEST(config_parser, a_directory_is_not_a_config_file) {
  test::temp_dir dir;
  dir.write("relay.d/a.toml", "");
  auto res = parse_config_file(dir.path() + "/relay.d");
  EXPECT_EQ(messages(res), strings{dir.path()
                                   + "/relay.d: cannot read config file: it is "
                                     "a directory"});
}

// -- include ------------------------------------------------------------------------

std::string rule_text(const std::string& name, int port) {
  return "[[rule]]\nname = \"" + name
         + "\"\ninput = { interface = \"eth0\", group = \"239.1.1.1\", port = "
         + std::to_string(port)
         + " }\noutputs = [ { interface = \"eth1\", address = \"239.2.2.2\", "
           "port = "
         + std::to_string(port + 1000) + " } ]\n";
}

std::vector<std::string> rule_names(const config_result& res) {
  std::vector<std::string> out;
  for (auto& r : res.config.rules)
    out.push_back(r.name);
  return out;
}

TEST(config_parser, include_merges_globbed_files_in_lexical_order) {
  test::temp_dir dir;
  dir.write("relay.d/20-b.toml", rule_text("b", 5002));
  dir.write("relay.d/10-a.toml", rule_text("a", 5001));
  dir.write("relay.d/30-c.toml", rule_text("c", 5003) + rule_text("c2", 5013));
  dir.write("relay.d/ignored.conf", "this is not toml");
  dir.write("extra/x.toml", rule_text("x", 5009));
  auto main = dir.write("relay.toml", "include = [\"" + dir.path()
                                        + "/relay.d/*.toml\", "
                                          "\"extra/x.toml\"]\n"
                                        + rule_text("main", 5000));
  auto res = parse_config_file(main);
  ASSERT_TRUE(res.ok()) << ::testing::PrintToString(messages(res));
  EXPECT_EQ(rule_names(res), (strings{"main", "a", "b", "c", "c2", "x"}));
  EXPECT_EQ(res.config.include,
            (strings{dir.path() + "/relay.d/*.toml", "extra/x.toml"}));
  EXPECT_EQ(res.files, (strings{main, dir.path() + "/relay.d/10-a.toml",
                                dir.path() + "/relay.d/20-b.toml",
                                dir.path() + "/relay.d/30-c.toml",
                                dir.path() + "/extra/x.toml"}));
}

TEST(config_parser, include_of_an_empty_or_missing_directory_is_fine) {
  test::temp_dir dir;
  // relay.d holds no .toml file; gone.d does not exist; relay.toml is a
  // file, not a directory. None of them is an error: nothing matches.
  dir.write("relay.d/README", "rule files go here\n");
  auto main =
    dir.write("relay.toml", "include = [\"relay.d/*.toml\", \"gone.d/*.toml\", "
                            "\"relay.toml/*.toml\"]\n"
                              + rule_text("main", 5000));
  auto res = parse_config_file(main);
  EXPECT_TRUE(res.ok()) << ::testing::PrintToString(messages(res));
  EXPECT_EQ(rule_names(res), strings{"main"});
  EXPECT_EQ(res.files, strings{main});
}

TEST(config_parser, include_of_a_directory_is_an_error) {
  test::temp_dir dir;
  dir.write("relay.d/10-a.toml", rule_text("a", 5001));
  // A plain path, and a pattern that matches a directory.
  dir.write("sub.d/inner/x.toml", rule_text("x", 5002));
  auto main = dir.write("relay.toml", "include = [\"relay.d\", \"sub.d/*\"]\n"
                                        + rule_text("main", 5000));
  auto res = parse_config_file(main);
  EXPECT_EQ(messages(res),
            (strings{main + ":1:12: include: '" + dir.path()
                       + "/relay.d' is a directory; name its files with a "
                         "pattern, such as '"
                       + dir.path() + "/relay.d/*.toml'",
                     main + ":1:23: include: '" + dir.path()
                       + "/sub.d/inner' is a directory; name its files with "
                         "a pattern, such as '"
                       + dir.path() + "/sub.d/inner/*.toml'"}));
}

TEST(config_parser, errors_in_included_files_name_those_files) {
  test::temp_dir dir;
  auto bad = dir.write("relay.d/10-bad.toml", R"([relay]
workers = 1
[[rule]]
name = "main"
input = { interface = "eth0", group = "239.1.1.9", port = 70000 }
outputs = [ { interface = "eth1", address = "239.2.2.2", port = 6001 } ]
)");
  auto dup = dir.write("relay.d/20-dup.toml", rule_text("main", 5010));
  auto main = dir.write("relay.toml", "include = [\"relay.d/*.toml\", "
                                      "\"missing.toml\"]\n"
                                        + rule_text("main", 5000));
  auto res = parse_config_file(main);
  EXPECT_EQ(messages(res),
            (strings{
              main + ":1:30: include: '" + dir.path()
                + "/missing.toml': No such file or directory",
              bad
                + ":1:2: 'relay' is only allowed in the main config file; "
                  "an included file may hold only [[rule]] tables",
              // A broken input does not hide a duplicate name.
              bad + ":4:8: name: duplicate rule name 'main' (first defined at "
                + main + ":2:1)",
              bad + ":5:59: input.port: port 70000 is out of range 1..65535",
              dup + ":2:8: name: duplicate rule name 'main' (first defined at "
                + main + ":2:1)",
            }));
}

TEST(config_parser, include_must_be_an_array_of_strings) {
  EXPECT_EQ(errors_of("include = \"relay.d/*.toml\"\n"),
            strings{"relay.toml:1:11: include: expected an array of strings, "
                    "found a string"});
  EXPECT_EQ(errors_of("include = [1]\n"),
            strings{"relay.toml:1:12: include: expected a string, found an "
                    "integer"});
}

TEST(config_parser, a_file_is_never_read_twice) {
  test::temp_dir dir;
  auto a = dir.write("relay.d/a.toml", rule_text("a", 5001));
  auto main = dir.write("relay.toml", "include = [\"relay.d/*.toml\", "
                                      "\"relay.d/a.toml\", \"relay.toml\"]\n");
  auto res = parse_config_file(main);
  EXPECT_EQ(messages(res),
            (strings{main + ":1:30: include: '" + a
                       + "' is already read (the main file or an earlier "
                         "pattern); not reading it twice",
                     main + ":1:48: include: '" + main
                       + "' is already read (the main file or an earlier "
                         "pattern); not reading it twice"}));
  EXPECT_EQ(rule_names(res), strings{"a"});
}

} // namespace
} // namespace castor::relay
