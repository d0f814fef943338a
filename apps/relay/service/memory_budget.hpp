#pragma once

// The relay's buffer memory, bounded by [relay] max_buffer_memory_mib and
// checked wherever rules arrive (-t, start, add, reload), next to the
// descriptor budget (descriptor_budget.hpp): a rule set whose buffers would
// exceed the cap is refused up front with the computed need and the cap,
// and nothing is installed.
//
// What grows (docs/relay.md, "Send rings, and the memory they take"): each
// forwarder of an input interface keeps one send ring per *output group*,
// the distinct (output interface, TTL, TOS) of that interface's rules, of
// send_ring_frames x max_frame bytes of payload and send_ring_slots slots
// of at most send_slot_overhead bytes, and its receive buffers,
// receive_batch x max_frame bytes. So
//
//   memory = sum over input interfaces of
//              workers x (output groups x (send_ring_frames x max_frame
//                                          + send_ring_slots
//                                            x send_slot_overhead)
//                         + receive_batch x max_frame)
//
// The number of rules or of outputs in a group does not count (48 bytes of
// counters per output), nor the rest of the process (some 14 MiB).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/daemon_config.hpp"
#include "model/rule.hpp"

namespace castor::relay {

/// Frames per receive call (the recvmmsg buffers). The send rings' sizes
/// are in model/daemon_config.hpp, which the data plane reads too.
inline constexpr std::size_t receive_batch = 64;

/// Bytes of send rings and receive buffers that `rules` take with
/// `max_frame` and `workers` forwarders per input interface.
uint64_t buffer_memory_needed(const std::vector<rule>& rules,
                              std::size_t max_frame, unsigned workers);

/// An error stating the need and the cap when `rules` need more buffer
/// memory than settings.max_buffer_memory_mib; nothing when they fit.
std::optional<std::string> check_memory(const std::vector<rule>& rules,
                                        const relay_settings& settings,
                                        unsigned workers);

/// Every limit on a rule set (descriptors, then memory), as -t, the start,
/// add and reload check it: the first error, or nothing. `workers`:
/// forwarders per input interface (forwarders_per_interface()).
std::optional<std::string> check_rule_limits(const std::vector<rule>& rules,
                                             const relay_settings& settings,
                                             unsigned workers);

} // namespace castor::relay
