#pragma once

// Where castor-relay keeps its own state (issue 14): the runtime state file
// (config/runtime_changes.hpp), which makes `castorctl add` and `remove`
// survive a restart, and the files `castorctl config save` writes.
//
// The directory is the process's, not the config's: `--state-directory
// DIR`, else $STATE_DIRECTORY, which systemd sets from the unit's
// StateDirectory= (/var/lib/castor under castor-relay.service,
// /var/lib/castor/NAME under castor-relay@NAME.service; the first one if it
// lists several). Without either, runtime changes last until the relay
// stops and `config save` is refused: the daemon writes nowhere else (the
// packaged unit makes everything else read-only anyway).
//
// `config save` writes only directly inside the directory, so that a
// request over the control socket can never make the daemon (or root)
// overwrite a file elsewhere.

#include <string>

namespace castor::relay {

/// The runtime state file's name inside the state directory.
inline constexpr const char* runtime_state_name = "runtime.toml";
/// What `config save` without a file writes inside the state directory.
inline constexpr const char* default_save_name = "relay.toml";

/// `option` if set, else the first entry of `env` (a ':'-separated list,
/// may be null), else "".
std::string resolve_state_directory(const std::string& option, const char* env);

/// Why `dir` cannot hold the state (missing, not a directory, not
/// writable), or "" if it can.
std::string state_directory_problem(const std::string& dir);

/// Where `config save FILE` writes: FILE empty, default_save_name; a name
/// without '/', that name; an absolute path whose directory is `dir`
/// (compared with symbolic links resolved), that path. Anything else is
/// refused, and so is the runtime state file, with a message that says
/// why and where the daemon writes.
struct save_target {
  std::string path;
  std::string error;
};

save_target config_save_target(const std::string& dir, const std::string& file);

} // namespace castor::relay
