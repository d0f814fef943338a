#pragma once

// Helpers shared by the relay tests: a scratch directory that removes
// itself, a blocking unix-socket client that speaks in lines, and a
// one-output rule for config tests.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "model/rule.hpp"

namespace castor::relay::test {

/// The rule "eth0 GROUP:PORT -> eth1 239.2.2.2:PORT+1000" named `name`.
rule simple_rule(std::string name, const char* group, uint16_t port);

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// Writes `contents` to path()/name (creating subdirectories) and
  /// returns the full path.
  std::string write(const std::string& name, const std::string& contents) const;

private:
  std::string path_;
};

/// A blocking client of a unix stream socket. Reads wait at most `guard`,
/// which only keeps a broken test from hanging; no test result depends on
/// how long anything takes.
class line_client {
public:
  explicit line_client(const std::string& path,
                       std::chrono::seconds guard = std::chrono::seconds{30});
  ~line_client();
  line_client(const line_client&) = delete;
  line_client& operator=(const line_client&) = delete;

  bool connected() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }

  /// Sends raw bytes; false once the peer is gone.
  bool send_raw(const std::string& bytes);
  /// Sends `line` plus a newline.
  bool send_line(const std::string& line) { return send_raw(line + "\n"); }

  /// The next line without its newline; nullopt at EOF, on an error, or when
  /// the guard expires.
  std::optional<std::string> read_line();

  /// Reads and discards until EOF; true if EOF (or a reset) came before the
  /// guard expired.
  bool wait_closed();

  /// Half-closes the sending side.
  void shutdown_write();

private:
  int fd_ = -1;
  std::string buf_;
};

/// Runs `argv` with a shell, capturing stdout and stderr (merged); returns
/// the exit status.
int run_command(const std::string& command, std::string& output);

} // namespace castor::relay::test
