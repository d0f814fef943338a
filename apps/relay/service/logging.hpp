#pragma once

// castor-relay's logging: one set of sinks, one spdlog logger per component,
// so that an operator can turn up one part (`castorctl log-level forwarder
// debug`) without drowning in the rest.
//
//   relay      the default logger: start, stop, the tree, everything else
//   forwarder  the forwarders' loops (fwd-IF-N)
//   control    the control socket and its clients
//   config     reading and reloading the config
//
// Targets (--log-target, [relay] log_target):
//   stderr     the default. Under systemd ($JOURNAL_STREAM names our
//              stderr) lines carry an sd-daemon(3) priority prefix `<N>` and
//              no timestamp: journald adds its own and files the level.
//   syslog     syslog(3), facility daemon, ident castor-relay.
//   file:PATH  appended to PATH, with timestamps. SIGUSR2 (reopen_log_files)
//              opens PATH again, so that logrotate can move the file away
//              and the next line starts a new one.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/common.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <sys/types.h>

namespace castor::relay {

/// A relay log level name (model/log_levels.hpp) as spdlog's level; spdlog
/// has no "notice", which logs as info.
inline std::optional<spdlog::level::level_enum>
to_spdlog_level(const std::string& name) {
  using namespace spdlog::level;
  if (name == "none")
    return off;
  if (name == "err")
    return err;
  if (name == "warn")
    return warn;
  if (name == "notice" || name == "info")
    return info;
  if (name == "debug")
    return debug;
  return std::nullopt;
}

/// The component loggers' names; "all" addresses every one of them.
const std::vector<std::string>& log_components();

/// "all, relay, forwarder, control, config": for messages.
std::string log_component_list();

/// The logger of `component` (one of log_components()), or spdlog's default
/// logger while init_logging has not run (unit tests, tools).
std::shared_ptr<spdlog::logger> component_logger(const std::string& component);

struct log_target {
  enum class kind { stderr_stream, syslog, file };
  kind where = kind::stderr_stream;
  /// The file for kind::file.
  std::string path;
};

/// Parses "stderr", "syslog" or "file:PATH" (PATH absolute or relative,
/// not empty); nullopt otherwise.
std::optional<log_target> parse_log_target(const std::string& text);

std::string to_string(const log_target& x);

/// Whether stderr goes to the journal: $JOURNAL_STREAM ("DEV:INO", set by
/// systemd for StandardError=journal) names the device and inode of our
/// stderr. Comparing both keeps a child that merely inherited the variable
/// (stderr redirected to a file) from writing journal-style lines there.
bool stderr_is_journal(const char* journal_stream, dev_t stderr_dev,
                       ino_t stderr_ino);

/// stderr_is_journal for this process's $JOURNAL_STREAM and fd 2.
bool stderr_is_journal();

/// The formatter of a stderr sink: journal style (`<N>[component] text`,
/// no timestamp) or terminal style (timestamp, component, level).
std::unique_ptr<spdlog::formatter> stderr_formatter(bool journal);

/// The sd-daemon(3) priority of a spdlog level: debug 7, info 6, warn 4,
/// err 3, critical 2.
int sd_priority(spdlog::level::level_enum level);

/// Creates the sinks for `target` and every component logger at `level`,
/// and makes "relay" the default logger. Throws spdlog::spdlog_ex when the
/// target cannot be opened (a file in a missing directory).
void init_logging(const log_target& target, spdlog::level::level_enum level);

/// Opens the log file of a file target again by its path (after logrotate
/// moved it away): nullopt when the target is not a file, an empty string
/// when the file was reopened, else why it could not be (the old file stays
/// in use).
std::optional<std::string> reopen_log_files();

/// Sets the level of `component`, or of every component for "all". False
/// for an unknown component.
bool set_component_level(const std::string& component,
                         spdlog::level::level_enum level);

} // namespace castor::relay
