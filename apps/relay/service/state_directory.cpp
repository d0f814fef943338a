#include "service/state_directory.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace castor::relay {

namespace {

/// `path` with symbolic links resolved, or "" if it does not resolve.
std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr)
    return {};
  return buf;
}

} // namespace

std::string resolve_state_directory(const std::string& option,
                                    const char* env) {
  if (!option.empty())
    return option;
  if (env == nullptr)
    return {};
  std::string list{env};
  return list.substr(0, list.find(':'));
}

std::string state_directory_problem(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return dir + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode))
    return dir + " is not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return dir + " is not writable: " + std::strerror(errno);
  return {};
}

save_target config_save_target(const std::string& dir,
                               const std::string& file) {
  save_target out;
  if (dir.empty()) {
    out.error = "this relay has no state directory, the only place it "
                "writes (castor-relay --state-directory DIR, or "
                "StateDirectory= under systemd)";
    return out;
  }
  const auto name = file.empty() ? std::string{default_save_name} : file;
  const auto slash = name.rfind('/');
  std::string base = name;
  if (slash != std::string::npos) {
    base = name.substr(slash + 1);
    const auto parent = slash == 0 ? std::string{"/"} : name.substr(0, slash);
    const auto real_parent = real_path(parent);
    const auto real_dir = real_path(dir);
    if (name.front() != '/' || real_parent.empty() || real_parent != real_dir) {
      out.error = name + " is outside the state directory " + dir
                  + ", the only place the relay writes; give a name "
                    "(castorctl config save NAME) or a path in "
                  + dir;
      return out;
    }
  }
  if (base.empty() || base == "." || base == ".." || base.front() == '.') {
    out.error = "'" + name + "' is not a file name the relay writes";
    return out;
  }
  if (base == runtime_state_name) {
    out.error = std::string{runtime_state_name}
                + " is the relay's runtime state; save under another name";
    return out;
  }
  out.path = dir + "/" + base;
  return out;
}

} // namespace castor::relay
