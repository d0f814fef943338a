#pragma once

// Which data path serves a rule (issue 16). With [relay] datapath =
// "kernel" (or "auto" resolved to it) a rule is forwarded by its input
// interface's tc eBPF program (dataplane/kernel_datapath.hpp) when the
// program can serve it, and by the forwarder actors otherwise; never by
// both. The forwarders' tables and the datapath actors' maps both ask
// kernel_refusals(), so the split is the same on both sides at every rule
// set.

#include <string>
#include <vector>

#include "model/daemon_config.hpp"
#include "model/rule.hpp"

namespace castor::relay {

/// Outputs per rule the program serves (relay_maps.h).
inline constexpr std::size_t kernel_max_outputs = 16;

/// Why the kernel path cannot serve `r` on its own under `s` ("socket
/// ingress", ...); empty when it could. Whether it does also depends on
/// the rules next to it: see kernel_refusals().
std::string kernel_refusal(const rule& r, const relay_settings& s);

inline bool served_by_kernel(const rule& r, const relay_settings& s) {
  return kernel_refusal(r, s).empty();
}

/// For each rule of `rules`, in order, why the kernel path does not serve
/// it; empty for the rules it serves. Rules that share an input interface,
/// group and port take one data path: if the kernel cannot serve one of
/// them, the packet path serves them all. A datagram then meets one rule
/// table, where a source-specific rule wins over an any-source one. On
/// two paths it would not: the tc program sees a frame before the
/// forwarders' (ETH_P_IP) sockets do and drops what it forwards, so a
/// kernel (*,G) rule would take the datagrams of a packet-path (S,G) rule.
std::vector<std::string> kernel_refusals(const std::vector<rule>& rules,
                                         const relay_settings& s);

/// Whether every input interface gets a datapath actor and its program
/// under `s`: datapath = "kernel" with packet ingress. An interface with no
/// kernel rule yet has the program attached with empty maps, so that its
/// first kernel rule is a map update, not a program load (which takes the
/// verifier a second on a loaded machine).
inline bool kernel_attaches(const relay_settings& s) {
  return s.datapath == datapath_mode::kernel
         && s.ingress != ingress_mode::socket;
}

/// The rules of `rules` the kernel path serves (`kernel` true) or the
/// packet path serves (`kernel` false), as kernel_refusals() splits them.
std::vector<rule> rules_on_path(const std::vector<rule>& rules,
                                const relay_settings& s, bool kernel);

/// "packet", "kernel", "auto".
std::string to_string(datapath_mode m);

/// The datapath actor's child id for an input interface: "kdp-eth0".
std::string datapath_id(const std::string& interface);

} // namespace castor::relay
