#pragma once

// Who may change the relay over the control socket. The socket's mode and
// group (0660, the unit's group) decide who may connect at all; every
// client that connects may read (list, stats, workers, tree, groups,
// status, diagnose, ping, version, config show). Changing commands
// (control::changes_state: add, remove, reload, kill, config save,
// log_level) need an admin peer, told by SO_PEERCRED:
//   - root (uid 0),
//   - the daemon's own user (systemd's ExecReload= runs castorctl as it),
//   - a member of [relay] control_admin_group, when set (primary or
//     supplementary group of the peer's user, read at the request).
// The control server logs each changing command with the peer's uid and
// pid. CAF-free.

#include <functional>
#include <optional>
#include <string>

#include <sys/types.h>

namespace castor::relay {

/// The peer of a unix socket connection (SO_PEERCRED).
struct peer_credentials {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  /// Whether SO_PEERCRED answered; an unknown peer is no admin.
  bool known = false;
};

/// SO_PEERCRED of connected socket `fd`.
peer_credentials peer_of(int fd);

/// Decides whether a peer may send changing commands.
using admin_check = std::function<bool(const peer_credentials&)>;

/// The policy described above. `admin_gid`: the admin group, if any.
bool is_admin(const peer_credentials& peer, uid_t daemon_uid,
              std::optional<gid_t> admin_gid);

/// The policy for this process and group name (empty: no admin group; a
/// name the host does not know: no admin group, and `warning` says so).
admin_check default_admin_check(const std::string& admin_group,
                                std::string& warning);

/// The refusal a non-admin peer gets for `what` (e.g. "kill ...").
std::string refusal(const peer_credentials& peer, const std::string& what);

} // namespace castor::relay
