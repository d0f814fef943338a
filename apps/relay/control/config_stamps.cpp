#include "control/config_stamps.hpp"

#include <map>
#include <mutex>

#include "config/config_writer.hpp"

namespace castor::relay {

namespace {

std::mutex stamps_mtx;
std::map<std::string, file_stamp> stamps;

} // namespace

void remember_config_stamp(const std::string& path, bool only_if_unknown) {
  if (path.empty())
    return;
  std::lock_guard<std::mutex> guard{stamps_mtx};
  if (only_if_unknown && stamps.count(path) > 0)
    return;
  stamps[path] = stamp_of(path);
}

std::optional<std::string> check_config_unchanged(const std::string& path) {
  std::lock_guard<std::mutex> guard{stamps_mtx};
  auto i = stamps.find(path);
  if (i == stamps.end() || stamp_of(path) == i->second)
    return std::nullopt;
  return path
         + " changed on disk since the relay loaded it; refusing to "
           "overwrite it. Run `castorctl reload` to load it (the runtime "
           "changes that the reload would drop are listed by its summary), "
           "or save elsewhere: castorctl config save FILE";
}

} // namespace castor::relay
