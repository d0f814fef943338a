#include "control/control_access.hpp"

#include <algorithm>
#include <vector>

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::relay {

peer_credentials peer_of(int fd) {
  peer_credentials out;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0
      && len == sizeof(cred)) {
    out.pid = cred.pid;
    out.uid = cred.uid;
    out.gid = cred.gid;
    out.known = true;
  }
  return out;
}

namespace {

/// Whether user `uid` (primary group `gid`) is in group `group`.
bool in_group(uid_t uid, gid_t gid, gid_t group) {
  if (gid == group)
    return true;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return false;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (::getgrouplist(pw.pw_name, gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(pw.pw_name, gid, groups.data(), &n) < 0)
      return false;
  }
  groups.resize(static_cast<size_t>(n));
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

} // namespace

bool is_admin(const peer_credentials& peer, uid_t daemon_uid,
              std::optional<gid_t> admin_gid) {
  if (!peer.known)
    return false;
  if (peer.uid == 0 || peer.uid == daemon_uid)
    return true;
  return admin_gid && in_group(peer.uid, peer.gid, *admin_gid);
}

admin_check default_admin_check(const std::string& admin_group,
                                std::string& warning) {
  std::optional<gid_t> gid;
  if (!admin_group.empty()) {
    std::vector<char> buf(16384);
    group gr{};
    group* found = nullptr;
    if (::getgrnam_r(admin_group.c_str(), &gr, buf.data(), buf.size(), &found)
          == 0
        && found)
      gid = gr.gr_gid;
    else
      warning = "control_admin_group '" + admin_group
                + "' does not exist on this host: only root and the daemon's "
                  "own user may change the relay";
  }
  const auto self = ::geteuid();
  return
    [self, gid](const peer_credentials& p) { return is_admin(p, self, gid); };
}

std::string refusal(const peer_credentials& peer, const std::string& what) {
  return "permission denied: '" + what + "' changes the relay, and uid "
         + (peer.known ? std::to_string(peer.uid) : std::string{"unknown"})
         + " is not an admin (root, the daemon's user, or a member of "
           "[relay] control_admin_group); read-only commands are allowed";
}

} // namespace castor::relay
