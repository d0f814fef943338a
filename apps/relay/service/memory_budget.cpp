#include "service/memory_budget.hpp"

#include <map>
#include <set>
#include <utility>

#include "service/descriptor_budget.hpp"

namespace castor::relay {

namespace {

/// Output groups by input interface.
std::map<std::string, std::size_t>
output_groups(const std::vector<rule>& rules) {
  // One send ring per output interface and egress settings, as the data
  // plane opens them.
  using group = std::pair<std::string, egress_settings>;
  std::map<std::string, std::set<group>> groups;
  for (const auto& r : rules) {
    auto& of_input = groups[r.input.interface];
    for (const auto& o : r.outputs)
      of_input.emplace(o.interface, egress_settings_of(o));
  }
  std::map<std::string, std::size_t> out;
  for (const auto& [itf, set] : groups)
    out[itf] = set.size();
  return out;
}

std::string mib_text(uint64_t bytes) {
  // Rounded up: "needs 0 MiB" would read as a bug.
  return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

} // namespace

uint64_t buffer_memory_needed(const std::vector<rule>& rules,
                              std::size_t max_frame, unsigned workers) {
  uint64_t need = 0;
  for (const auto& [itf, groups] : output_groups(rules))
    need += uint64_t{workers}
            * (groups
                 * (send_ring_frames * max_frame
                    + send_ring_slots * send_slot_overhead)
               + receive_batch * max_frame);
  return need;
}

std::optional<std::string> check_memory(const std::vector<rule>& rules,
                                        const relay_settings& settings,
                                        unsigned workers) {
  const auto need = buffer_memory_needed(rules, settings.max_frame, workers);
  const uint64_t cap = settings.max_buffer_memory_mib << 20;
  if (need <= cap)
    return std::nullopt;
  std::size_t groups = 0;
  for (const auto& [itf, n] : output_groups(rules))
    groups += n;
  return std::to_string(rules.size()) + " rules need " + mib_text(need)
         + " of buffer memory (" + std::to_string(groups)
         + " output groups, each a distinct output interface, ttl, tos "
           "and source_port of an input interface, x "
         + std::to_string(workers) + " workers x "
         + std::to_string(send_ring_frames) + " frames of max_frame "
         + std::to_string(settings.max_frame) + " bytes and "
         + std::to_string(send_ring_slots)
         + " datagram slots per send ring, plus the receive buffers); the "
           "cap, [relay] "
           "max_buffer_memory_mib, is "
         + std::to_string(settings.max_buffer_memory_mib)
         + " MiB: raise it, or use fewer distinct ttl/tos/source_port per "
           "output interface, fewer workers or a smaller max_frame";
}

std::optional<std::string> check_rule_limits(const std::vector<rule>& rules,
                                             const relay_settings& settings,
                                             unsigned workers) {
  if (auto bad = check_descriptors(
        rules, settings.ingress == ingress_mode::socket ? ingress_mode::socket
                                                        : ingress_mode::packet))
    return bad;
  return check_memory(rules, settings, workers);
}

} // namespace castor::relay
