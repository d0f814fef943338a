#pragma once

// The one exception type of castor::packet. Opening and configuring sockets
// throws it (control path, where a supervisor turns it into a restart or an
// operator-facing message); the per-packet functions never throw.
//
// It is not std::system_error because that appends strerror() at the end,
// and our messages put a hint *after* the system's text ("... Operation not
// permitted — needs CAP_NET_RAW, ...").

#include <stdexcept>
#include <string>

namespace castor::packet {

class io_error : public std::runtime_error {
public:
  /// `what` reads "<context>: <strerror(err)>" plus " — <hint>" if given.
  io_error(const std::string& context, int err, const std::string& hint = {});

  /// The errno value that caused it.
  int code() const noexcept { return code_; }

private:
  int code_;
};

} // namespace castor::packet
