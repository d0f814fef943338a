#pragma once

// Least privilege: which Linux capabilities (capabilities(7)) the relay's
// configuration needs, checked at start before any socket exists, so that a
// missing one is a clear message naming the capability and the option that
// needs it instead of an EPERM from deep inside a forwarder's restart loop.
//
//   CAP_NET_RAW    ingress = "packet": AF_PACKET sockets (packet(7)).
//                  Missing: an error (exit 2), or with ingress = "auto" the
//                  relay runs with ingress = "socket" and says so.
//   CAP_NET_ADMIN  SO_RCVBUFFORCE / SO_SNDBUFFORCE, which size socket
//                  buffers past net.core.rmem_max / wmem_max. Missing: a
//                  warning only; the sockets fall back to SO_RCVBUF /
//                  SO_SNDBUF, capped by those sysctls.
//   CAP_BPF        datapath = "kernel" (issue 16): loading the tc program,
//                  with CAP_NET_ADMIN to attach it (CAP_SYS_ADMIN does for
//                  both). Missing: an error, or with datapath = "auto" the
//                  relay runs the packet data path and warns.
//
// Nothing else the relay does needs a capability: joining groups, sending
// multicast and the unix control socket work for any user.

#include <functional>
#include <string>
#include <vector>

#include "model/daemon_config.hpp"

namespace castor::relay {

/// Whether this thread has capability `cap` (CAP_NET_RAW, ...) in its
/// effective set, read with capget(2). Threads started later inherit it.
bool has_effective_capability(int cap);

/// Answers whether a capability is effective; has_effective_capability in
/// the daemon, a fixed set in tests.
using capability_probe = std::function<bool(int cap)>;

/// What the check decided about one configuration.
struct capability_verdict {
  /// The ingress to run: the configured one, or for "auto" the one the
  /// capabilities permit. Never ingress_mode::automatic.
  ingress_mode ingress = ingress_mode::packet;
  /// The data path to run: packet or kernel, never automatic.
  datapath_mode datapath = datapath_mode::packet;
  /// Each one stops the start (exit 2); each names the capability, what
  /// needs it and how to grant it or avoid it.
  std::vector<std::string> errors;
  /// Degraded but working (CAP_NET_ADMIN missing).
  std::vector<std::string> warnings;
  /// Decisions worth one info line (what "auto" chose).
  std::vector<std::string> notes;

  bool ok() const noexcept { return errors.empty(); }
};

/// Tries to load the kernel data path's program: empty if it loads, else
/// why not (dataplane/kernel_datapath.hpp's probe in the daemon).
using kernel_probe = std::function<std::string()>;

/// CAP_BPF's number (capabilities(7)), for headers that predate it.
inline constexpr int cap_bpf = 39;

/// Checks what `settings` needs against `has`; for datapath = "kernel" or
/// "auto", with the capabilities there, `probe` says whether the program
/// loads (no probe: it does).
capability_verdict check_capabilities(const relay_settings& settings,
                                      const capability_probe& has,
                                      const kernel_probe& probe = {});

} // namespace castor::relay
