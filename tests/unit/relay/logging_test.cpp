// castor-relay's logging (apps/relay/logging.hpp): the choice of the
// journal format from $JOURNAL_STREAM, what a journal line looks like, the
// log targets, the per-component levels; and the token bucket behind the
// rate-limited warnings (rate_limited_log.hpp), driven by a given clock.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "service/logging.hpp"
#include "service/rate_limited_log.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace castor::relay {
namespace {

using namespace std::chrono_literals;

// -- the journal format choice --------------------------------------------------

TEST(journal_format, chosen_only_when_journal_stream_names_our_stderr) {
  EXPECT_TRUE(stderr_is_journal("8:1234", 8, 1234));
  EXPECT_FALSE(stderr_is_journal("8:1234", 8, 1235))
    << "stderr is another file: a child that inherited the variable";
  EXPECT_FALSE(stderr_is_journal("9:1234", 8, 1234));
  EXPECT_FALSE(stderr_is_journal(nullptr, 8, 1234)) << "not under systemd";
  EXPECT_FALSE(stderr_is_journal("", 8, 1234));
}

TEST(journal_format, malformed_journal_stream_is_not_the_journal) {
  EXPECT_FALSE(stderr_is_journal("8", 8, 0));
  EXPECT_FALSE(stderr_is_journal("8:", 8, 0));
  EXPECT_FALSE(stderr_is_journal(":1234", 0, 1234));
  EXPECT_FALSE(stderr_is_journal("8:1234x", 8, 1234));
  EXPECT_FALSE(stderr_is_journal("x:y", 0, 0));
}

/// Logs one message through a stderr formatter into a string.
std::string format_line(bool journal, spdlog::level::level_enum level,
                        const std::string& text) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  sink->set_formatter(stderr_formatter(journal));
  spdlog::logger lg{"forwarder", sink};
  lg.set_level(spdlog::level::trace);
  lg.log(level, text);
  return out.str();
}

TEST(journal_format, journal_lines_carry_the_priority_and_no_timestamp) {
  EXPECT_EQ(format_line(true, spdlog::level::warn, "queue full"),
            "<4>[forwarder] queue full\n");
  EXPECT_EQ(format_line(true, spdlog::level::err, "x"), "<3>[forwarder] x\n");
  EXPECT_EQ(format_line(true, spdlog::level::info, "x"), "<6>[forwarder] x\n");
  EXPECT_EQ(format_line(true, spdlog::level::debug, "x"), "<7>[forwarder] x\n");
  EXPECT_EQ(format_line(true, spdlog::level::critical, "x"),
            "<2>[forwarder] x\n");
}

TEST(journal_format, terminal_lines_carry_a_timestamp_and_the_level) {
  const auto line = format_line(false, spdlog::level::warn, "queue full");
  // "[2026-11-29 17:40:01.123] [forwarder] [warning] queue full\n"
  ASSERT_GE(line.size(), 26u);
  EXPECT_EQ(line[0], '[');
  EXPECT_EQ(line[5], '-');
  EXPECT_EQ(line[24], ']');
  EXPECT_NE(line.find("] [forwarder] [warning] queue full\n"),
            std::string::npos)
    << line;
  EXPECT_EQ(line.find('<'), std::string::npos);
}

// -- targets and components ------------------------------------------------------

TEST(log_target, parses_the_three_kinds) {
  auto t = parse_log_target("stderr");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->where, log_target::kind::stderr_stream);
  t = parse_log_target("syslog");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->where, log_target::kind::syslog);
  t = parse_log_target("file:/var/log/castor/relay.log");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->where, log_target::kind::file);
  EXPECT_EQ(t->path, "/var/log/castor/relay.log");
  EXPECT_EQ(to_string(*t), "file:/var/log/castor/relay.log");
}

TEST(log_target, rejects_anything_else) {
  EXPECT_FALSE(parse_log_target(""));
  EXPECT_FALSE(parse_log_target("file:"));
  EXPECT_FALSE(parse_log_target("journal"));
  EXPECT_FALSE(parse_log_target("Stderr"));
}

TEST(log_components, levels_change_per_component_and_all_at_once) {
  test::temp_dir dir;
  log_target file;
  file.where = log_target::kind::file;
  file.path = dir.path() + "/relay.log";
  init_logging(file, spdlog::level::info);
  for (const auto& name : log_components())
    ASSERT_NE(spdlog::get(name), nullptr) << name;
  EXPECT_EQ(spdlog::default_logger()->name(), "relay");

  EXPECT_TRUE(set_component_level("forwarder", spdlog::level::debug));
  EXPECT_EQ(component_logger("forwarder")->level(), spdlog::level::debug);
  EXPECT_EQ(component_logger("control")->level(), spdlog::level::info)
    << "the others keep theirs";
  EXPECT_FALSE(set_component_level("fowarder", spdlog::level::debug));
  EXPECT_TRUE(set_component_level("all", spdlog::level::err));
  for (const auto& name : log_components())
    EXPECT_EQ(component_logger(name)->level(), spdlog::level::err) << name;
  EXPECT_EQ(log_component_list(), "all, relay, forwarder, control, config");

  // Leave the process as the other tests expect it: loggers gone, a
  // default that prints warnings.
  spdlog::drop_all();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
    "", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(log_target, a_file_moved_away_is_started_anew_on_reopen) {
  test::temp_dir dir;
  log_target file;
  file.where = log_target::kind::file;
  file.path = dir.path() + "/relay.log";
  init_logging(file, spdlog::level::info);
  spdlog::info("before the rotation");
  spdlog::default_logger()->flush();
  // logrotate's move, then its postrotate (SIGUSR2 -> reopen_log_files).
  ASSERT_EQ(std::rename(file.path.c_str(), (file.path + ".1").c_str()), 0);
  auto reopened = reopen_log_files();
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ(*reopened, "");
  spdlog::info("after the rotation");
  spdlog::default_logger()->flush();
  auto old_text = read_file(file.path + ".1");
  auto new_text = read_file(file.path);
  EXPECT_NE(old_text.find("before the rotation"), std::string::npos);
  EXPECT_EQ(old_text.find("after the rotation"), std::string::npos);
  EXPECT_NE(new_text.find("after the rotation"), std::string::npos);
  EXPECT_EQ(new_text.find("before the rotation"), std::string::npos);

  // Reopening a file that was not moved appends: nothing is lost.
  ASSERT_EQ(reopen_log_files(), std::string{});
  spdlog::info("after a second reopen");
  spdlog::default_logger()->flush();
  new_text = read_file(file.path);
  EXPECT_NE(new_text.find("after the rotation"), std::string::npos);
  EXPECT_NE(new_text.find("after a second reopen"), std::string::npos);

  // Other targets have no file to reopen.
  init_logging(log_target{}, spdlog::level::info);
  EXPECT_FALSE(reopen_log_files().has_value());

  spdlog::drop_all();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
    "", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
}

// -- the token bucket -------------------------------------------------------------

TEST(token_bucket, lets_a_burst_through_then_the_rate) {
  token_bucket bucket{2.0, 3}; // 3 at once, then 2 per second
  const auto t0 = token_bucket::clock::time_point{} + 100s;
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0)) << "the burst is spent";
  EXPECT_FALSE(bucket.take(t0 + 400ms)) << "0.8 tokens";
  EXPECT_TRUE(bucket.take(t0 + 500ms)) << "1 token after 0.5 s at 2/s";
  EXPECT_FALSE(bucket.take(t0 + 500ms));
  // A long pause refills up to the burst, not beyond.
  const auto t1 = t0 + 1h;
  EXPECT_TRUE(bucket.take(t1));
  EXPECT_TRUE(bucket.take(t1));
  EXPECT_TRUE(bucket.take(t1));
  EXPECT_FALSE(bucket.take(t1));
}

TEST(token_bucket, a_clock_going_back_refills_nothing) {
  token_bucket bucket{1.0, 1};
  const auto t0 = token_bucket::clock::time_point{} + 100s;
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0 - 50s));
  EXPECT_FALSE(bucket.take(t0 + 500ms));
  EXPECT_TRUE(bucket.take(t0 + 1s));
}

// -- rate_limited_log ---------------------------------------------------------------

/// Captures the "control" component's lines while it lives.
struct captured_component {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;

  explicit captured_component(const std::string& name) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
    sink->set_pattern("%l %v");
    logger = std::make_shared<spdlog::logger>(name, sink);
    spdlog::register_logger(logger);
  }
  ~captured_component() { spdlog::drop(logger->name()); }

  std::string take() {
    auto s = out.str();
    out.str("");
    return s;
  }
};

TEST(rate_limited_log, counts_what_it_holds_back_and_says_so_once) {
  captured_component control{"control"};
  rate_limited_log limited{"control", 1.0, 2};
  const auto t0 = rate_limited_log::clock::time_point{} + 100s;
  const auto warn = spdlog::level::warn;
  EXPECT_TRUE(limited.log_at(t0, warn, "client {} misbehaves", 1));
  EXPECT_TRUE(limited.log_at(t0, warn, "client {} misbehaves", 2));
  for (int i = 3; i <= 10; ++i)
    EXPECT_FALSE(limited.log_at(t0, warn, "client {} misbehaves", i));
  EXPECT_EQ(limited.suppressed(), 8u);
  EXPECT_EQ(control.take(), "warning client 1 misbehaves\n"
                            "warning client 2 misbehaves\n");
  EXPECT_TRUE(limited.log_at(t0 + 1s, warn, "client {} misbehaves", 11));
  EXPECT_EQ(control.take(), "warning 8 similar messages suppressed\n"
                            "warning client 11 misbehaves\n");
  EXPECT_EQ(limited.suppressed(), 0u);
  EXPECT_TRUE(limited.log_at(t0 + 2s, warn, "client {} misbehaves", 12));
  EXPECT_EQ(control.take(), "warning client 12 misbehaves\n")
    << "nothing was held back since";
}

} // namespace
} // namespace castor::relay
