#include "control/rule_activity.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>

namespace castor::relay {

namespace {

double seconds(rule_activity::clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

} // namespace

void rule_activity::observe(const std::string& rule, uint64_t packets,
                            clock::time_point now) {
  auto [i, fresh] = rules_.try_emplace(rule);
  auto& e = i->second;
  if (fresh || packets < e.packets) {
    e = entry{};
    e.packets = packets;
    e.latest = packets;
    e.sampled = now;
    return;
  }
  const auto dt = now - e.sampled;
  if (packets > e.latest) {
    e.grew = true;
    e.last_growth = now;
  }
  e.latest = packets;
  if (dt < min_rate_interval)
    return;
  e.rate = static_cast<double>(packets - e.packets) / seconds(dt);
  e.packets = packets;
  e.sampled = now;
}

void rule_activity::retain(const std::vector<std::string>& rules) {
  // Through a hash set: this runs on every sample, with 10,000 rules, in
  // the control handler, which a linear search per rule kept busy for
  // seconds at a time (no stats answer, no stop, until it was killed).
  const std::unordered_set<std::string_view> keep(rules.begin(), rules.end());
  for (auto i = rules_.begin(); i != rules_.end();) {
    if (keep.count(i->first) == 0)
      i = rules_.erase(i);
    else
      ++i;
  }
}

rule_activity::view rule_activity::at(const std::string& rule,
                                      clock::time_point now) const {
  view out;
  auto i = rules_.find(rule);
  if (i == rules_.end())
    return out;
  out.rate = i->second.rate;
  if (i->second.grew)
    out.last_packet_s = std::max(0.0, seconds(now - i->second.last_growth));
  return out;
}

} // namespace castor::relay
