#pragma once

// castorctl's side of the control socket: one request line out, one reply
// line back, within a timeout, and castorctl's own failures.

#include <chrono>
#include <string>

namespace castor::relay::castorctl {

struct failure {
  std::string message;
  /// 1: the daemon failed or could not be reached; 2: bad usage.
  int exit_code = 1;
};

/// A bad argument, found before anything is sent.
failure usage(std::string message);

/// Sends `line` to the daemon at `path` and returns the reply line; throws
/// failure with a message for the operator.
std::string exchange(const std::string& path, const std::string& line,
                     std::chrono::seconds timeout);

} // namespace castor::relay::castorctl
