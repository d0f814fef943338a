#include "service/logging.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include <spdlog/details/file_helper.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>

namespace castor::relay {

namespace {

constexpr const char* default_component = "relay";

/// `%*` in a pattern: the sd-daemon(3) prefix, e.g. "<4>" for a warning.
class sd_priority_flag final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char text[] = {'<', static_cast<char>('0' + sd_priority(msg.level)),
                         '>'};
    dest.append(text, text + sizeof text);
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<sd_priority_flag>();
  }
};

/// An appending file sink that can open its file again by name: after
/// logrotate moved the file away, reopen() starts a new one at the path
/// (spdlog's basic_file_sink can only truncate).
class reopenable_file_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  explicit reopenable_file_sink(const std::string& path) {
    file_.open(path, false);
  }

  /// Flushes and closes the file, then opens the path again for appending.
  /// Throws spdlog::spdlog_ex when it cannot be opened.
  void reopen() {
    std::lock_guard<std::mutex> guard{mutex_};
    file_.flush();
    file_.reopen(false);
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_.write(formatted);
  }

  void flush_() override { file_.flush(); }

private:
  spdlog::details::file_helper file_;
};

/// The file sink of the running init_logging, if its target is a file.
std::mutex file_sink_mutex;
std::shared_ptr<reopenable_file_sink> current_file_sink;

/// Timestamps for people reading a terminal or a file.
constexpr const char* timestamped_pattern =
  "[%Y-%m-%d %H:%M:%S.%e] [%n] [%^%l%$] %v";

} // namespace

const std::vector<std::string>& log_components() {
  static const std::vector<std::string> names{"relay", "forwarder", "control",
                                              "config"};
  return names;
}

std::string log_component_list() {
  std::string out = "all";
  for (const auto& name : log_components())
    out += ", " + name;
  return out;
}

std::shared_ptr<spdlog::logger> component_logger(const std::string& component) {
  auto lg = spdlog::get(component);
  return lg ? lg : spdlog::default_logger();
}

std::optional<log_target> parse_log_target(const std::string& text) {
  log_target t;
  if (text == "stderr")
    return t;
  if (text == "syslog") {
    t.where = log_target::kind::syslog;
    return t;
  }
  constexpr std::string_view file_prefix = "file:";
  if (text.compare(0, file_prefix.size(), file_prefix) == 0
      && text.size() > file_prefix.size()) {
    t.where = log_target::kind::file;
    t.path = text.substr(file_prefix.size());
    return t;
  }
  return std::nullopt;
}

std::string to_string(const log_target& x) {
  switch (x.where) {
  case log_target::kind::stderr_stream:
    return "stderr";
  case log_target::kind::syslog:
    return "syslog";
  case log_target::kind::file:
    return "file:" + x.path;
  }
  return "stderr";
}

bool stderr_is_journal(const char* journal_stream, dev_t stderr_dev,
                       ino_t stderr_ino) {
  if (journal_stream == nullptr || *journal_stream == '\0')
    return false;
  // systemd writes both numbers in decimal: "%lu:%lu" (systemd.exec(5)).
  char* end = nullptr;
  const auto dev = std::strtoull(journal_stream, &end, 10);
  if (end == journal_stream || *end != ':')
    return false;
  const char* ino_text = end + 1;
  const auto ino = std::strtoull(ino_text, &end, 10);
  if (end == ino_text || *end != '\0')
    return false;
  return dev == static_cast<unsigned long long>(stderr_dev)
         && ino == static_cast<unsigned long long>(stderr_ino);
}

bool stderr_is_journal() {
  struct stat st {};
  if (::fstat(2, &st) != 0)
    return false;
  return stderr_is_journal(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
}

int sd_priority(spdlog::level::level_enum level) {
  switch (level) {
  case spdlog::level::trace:
  case spdlog::level::debug:
    return 7; // LOG_DEBUG
  case spdlog::level::info:
    return 6; // LOG_INFO
  case spdlog::level::warn:
    return 4; // LOG_WARNING
  case spdlog::level::err:
    return 3; // LOG_ERR
  case spdlog::level::critical:
    return 2; // LOG_CRIT
  default:
    return 6;
  }
}

std::unique_ptr<spdlog::formatter> stderr_formatter(bool journal) {
  if (!journal)
    return std::make_unique<spdlog::pattern_formatter>(timestamped_pattern);
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<sd_priority_flag>('*').set_pattern("%*[%n] %v");
  return f;
}

void init_logging(const log_target& target, spdlog::level::level_enum level) {
  spdlog::sink_ptr sink;
  switch (target.where) {
  case log_target::kind::stderr_stream: {
    const bool journal = stderr_is_journal();
    // Colours only for a terminal; the journal gets plain text.
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
      journal ? spdlog::color_mode::never : spdlog::color_mode::automatic);
    sink->set_formatter(stderr_formatter(journal));
    break;
  }
  case log_target::kind::syslog:
    // syslog stamps time, host and level itself.
    sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(
      "castor-relay", LOG_PID, LOG_DAEMON, true);
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("[%n] %v"));
    break;
  case log_target::kind::file: {
    auto file = std::make_shared<reopenable_file_sink>(target.path);
    {
      std::lock_guard<std::mutex> guard{file_sink_mutex};
      current_file_sink = file;
    }
    sink = file;
    sink->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(timestamped_pattern));
    // A file sink buffers; `tail -f` should not lag by more than this.
    spdlog::flush_every(std::chrono::seconds{1});
    break;
  }
  }
  if (target.where != log_target::kind::file) {
    std::lock_guard<std::mutex> guard{file_sink_mutex};
    current_file_sink.reset();
  }
  for (const auto& name : log_components()) {
    if (spdlog::get(name))
      spdlog::drop(name);
    auto lg = std::make_shared<spdlog::logger>(name, sink);
    lg->set_level(level);
    // Errors reach the disk or the journal at once; the rest may wait for
    // the next write.
    lg->flush_on(spdlog::level::warn);
    if (name == default_component)
      spdlog::set_default_logger(lg);
    else
      spdlog::register_logger(lg);
  }
}

std::optional<std::string> reopen_log_files() {
  std::shared_ptr<reopenable_file_sink> file;
  {
    std::lock_guard<std::mutex> guard{file_sink_mutex};
    file = current_file_sink;
  }
  if (!file)
    return std::nullopt;
  try {
    file->reopen();
    return std::string{};
  } catch (const spdlog::spdlog_ex& e) {
    return std::string{e.what()};
  }
}

bool set_component_level(const std::string& component,
                         spdlog::level::level_enum level) {
  if (component == "all") {
    for (const auto& name : log_components())
      component_logger(name)->set_level(level);
    return true;
  }
  const auto& names = log_components();
  if (std::find(names.begin(), names.end(), component) == names.end())
    return false;
  component_logger(component)->set_level(level);
  return true;
}

} // namespace castor::relay
