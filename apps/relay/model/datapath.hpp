#pragma once

// Which data path serves a rule (issue 16). With [relay] datapath =
// "kernel" (or "auto" resolved to it) a rule is forwarded by its input
// interface's tc eBPF program (dataplane/kernel_datapath.hpp) when the
// program can serve it, and by the forwarder actors otherwise; never by
// both. The forwarders' tables and the datapath actors' maps both ask this
// one function, so the split is the same on both sides at every rule set.

#include <string>

#include "model/daemon_config.hpp"
#include "model/rule.hpp"

namespace castor::relay {

/// Outputs per rule the program serves (relay_maps.h).
inline constexpr std::size_t kernel_max_outputs = 16;

/// Why the kernel path cannot serve `r` under `s` ("socket ingress", ...);
/// empty when it does.
std::string kernel_refusal(const rule& r, const relay_settings& s);

inline bool served_by_kernel(const rule& r, const relay_settings& s) {
  return kernel_refusal(r, s).empty();
}

/// "packet", "kernel", "auto".
std::string to_string(datapath_mode m);

/// The datapath actor's child id for an input interface: "kdp-eth0".
std::string datapath_id(const std::string& interface);

} // namespace castor::relay
