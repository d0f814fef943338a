#pragma once

// Per-rule packet rate and time since the last packet, for `stats`,
// `groups`, `status` and `diagnose`, without a clock read on the packet
// path: the control handler samples every rule's packet count about once
// a second (relay_handler.cpp) and this class remembers, per rule, when
// the count last grew. The time of the last packet is therefore known to
// the sampling interval, which is what an operator asking "is anything
// arriving?" needs. CAF-free.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace castor::relay {

class rule_activity {
public:
  using clock = std::chrono::steady_clock;

  /// Samples shorter than this keep the previous rate (a `stats` right
  /// after a tick would divide by almost nothing).
  static constexpr auto min_rate_interval = std::chrono::milliseconds{500};

  /// Records that `rule` had counted `packets` at `now`. A count lower than
  /// the last one (the rule was removed and added again) starts afresh.
  void observe(const std::string& rule, uint64_t packets,
               clock::time_point now);

  /// Forgets rules not in `rules`.
  void retain(const std::vector<std::string>& rules);

  struct view {
    /// Packets per second over the last sample interval.
    double rate = 0;
    /// Seconds since the count last grew; negative when not known: never
    /// seen growing (no packet since it was first sampled, or only one
    /// sample yet).
    double last_packet_s = -1;
  };

  view at(const std::string& rule, clock::time_point now) const;

private:
  struct entry {
    /// The count at the start of the rate interval, and the last one seen.
    uint64_t packets = 0;
    uint64_t latest = 0;
    clock::time_point sampled{};
    double rate = 0;
    bool grew = false;
    clock::time_point last_growth{};
  };
  std::map<std::string, entry> rules_;
};

} // namespace castor::relay
