#include "metrics/process_metrics.hpp"

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace castor::relay {

namespace {

/// Seconds since the epoch at which the system booted (/proc/stat btime).
double boot_time() {
  std::ifstream in{"/proc/stat"};
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

} // namespace

process_sample read_process_sample() {
  process_sample out;
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  if (!std::getline(in, line))
    return out;
  // The command name (field 2) may hold spaces; fields resume after ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return out;
  std::istringstream rest{line.substr(close + 2)};
  std::vector<std::string> f{std::istream_iterator<std::string>{rest}, {}};
  // f[0] is field 3 (state): field N is f[N - 3].
  if (f.size() < 22)
    return out;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  out.cpu_seconds = (std::stod(f[14 - 3]) + std::stod(f[15 - 3])) / ticks;
  out.start_time_seconds = boot_time() + std::stod(f[22 - 3]) / ticks;
  out.virtual_bytes = std::stoull(f[23 - 3]);
  out.resident_bytes = static_cast<uint64_t>(std::stod(f[24 - 3]) * page);
  if (auto* dir = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++out.open_fds;
    ::closedir(dir);
    --out.open_fds; // the descriptor opendir used
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    out.max_fds = lim.rlim_cur;
  out.valid = true;
  return out;
}

} // namespace castor::relay
