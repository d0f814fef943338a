#include "config/runtime_state.hpp"

#include <cstdio>

#include "config/config_writer.hpp"
#include "config/runtime_changes.hpp"
#include "service/state_directory.hpp"

namespace castor::relay {

namespace {

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

} // namespace

std::string runtime_state_path(const std::string& dir) {
  return dir + "/" + runtime_state_name;
}

runtime_state_load load_runtime_state(const std::string& dir,
                                      const std::vector<rule>& file_rules) {
  runtime_state_load out;
  if (dir.empty()) {
    out.notes.push_back("no state directory (--state-directory, or "
                        "StateDirectory= under systemd): runtime changes "
                        "last until the relay stops");
    return out;
  }
  if (auto problem = state_directory_problem(dir); !problem.empty())
    out.warnings.push_back("runtime changes will not survive a restart: "
                           + problem);
  const auto path = runtime_state_path(dir);
  auto read = read_runtime_changes(path);
  if (!read)
    return out;
  if (!read->errors.empty()) {
    const auto aside = path + ".rejected";
    const bool kept = std::rename(path.c_str(), aside.c_str()) == 0;
    out.warnings.push_back(
      "the runtime state cannot be read (" + read->errors.front()
      + "); starting from the config file alone"
      + (kept ? "; the state is kept as " + aside : std::string{}));
    return out;
  }
  auto applied = apply_runtime(file_rules, read->changes);
  for (const auto& d : applied.dropped)
    out.warnings.push_back("runtime change dropped: " + d);
  if (!read->changes.empty())
    out.notes.push_back(
      path + ": " + std::to_string(applied.kept.size())
      + " rule(s) added at runtime"
      + (applied.kept.empty() ? "" : " (" + joined(applied.kept) + ")") + ", "
      + std::to_string(read->changes.removed.size())
      + " of the file's removed at runtime");
  out.rules = std::move(applied.rules);
  return out;
}

std::optional<std::string>
save_runtime_state(const std::string& dir, const std::string& config_file,
                   const std::vector<rule>& file_rules,
                   const std::vector<rule>& running) {
  if (dir.empty())
    return std::nullopt;
  return write_file_atomically(
    runtime_state_path(dir),
    write_runtime_changes(diff_runtime(file_rules, running), config_file));
}

} // namespace castor::relay
