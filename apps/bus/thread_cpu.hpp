#pragma once

// The CPU time this process has used, by kind of thread, for pub's and
// sub's summaries (bench/bus divides it by the messages): utime + stime of
// every thread in /proc/self/task, split into the main thread, castor's io
// threads (named castor-io-N) and the rest (CAF's scheduler and clock).

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <dirent.h>
#include <unistd.h>

namespace castor_bus_cli {

/// `,"cpu_ms":T,"cpu_main_ms":M,"cpu_io_ms":I,"cpu_caf_ms":C` (JSON
/// fields to append to a summary), or nothing if /proc cannot be read.
inline std::string thread_cpu_json() {
  auto* dir = ::opendir("/proc/self/task");
  if (dir == nullptr)
    return {};
  auto hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  auto self = static_cast<long>(::getpid());
  double main_ms = 0, io_ms = 0, caf_ms = 0;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.')
      continue;
    auto base = std::string{"/proc/self/task/"} + e->d_name;
    std::ifstream in{base + "/stat"};
    std::string stat{std::istreambuf_iterator<char>{in}, {}};
    // The fields after "(comm) ": state is the 1st, utime the 12th, stime
    // the 13th.
    auto close = stat.rfind(')');
    if (close == std::string::npos)
      continue;
    std::istringstream rest{stat.substr(close + 2)};
    std::string field;
    double ticks = 0;
    for (int i = 1; i <= 13 && rest >> field; ++i)
      if (i >= 12)
        ticks += std::strtod(field.c_str(), nullptr);
    auto ms = ticks * 1000.0 / hz;
    std::ifstream cin{base + "/comm"};
    std::string comm;
    std::getline(cin, comm);
    if (std::strtol(e->d_name, nullptr, 10) == self)
      main_ms += ms;
    else if (comm.rfind("castor-io-", 0) == 0)
      io_ms += ms;
    else
      caf_ms += ms;
  }
  ::closedir(dir);
  char buf[160];
  std::snprintf(buf, sizeof(buf),
                ",\"cpu_ms\":%.0f,\"cpu_main_ms\":%.0f,\"cpu_io_ms\":%.0f,"
                "\"cpu_caf_ms\":%.0f",
                main_ms + io_ms + caf_ms, main_ms, io_ms, caf_ms);
  return buf;
}

} // namespace castor_bus_cli
