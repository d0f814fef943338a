#include "service/capabilities.hpp"

#include <cstdint>

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace castor::relay {

bool has_effective_capability(int cap) {
  // capget(2) directly: glibc has no wrapper, and libcap would be a whole
  // library for one bit.
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0)
    return false;
  const auto word = static_cast<unsigned>(cap) / 32;
  const auto bit = static_cast<unsigned>(cap) % 32;
  if (word >= _LINUX_CAPABILITY_U32S_3)
    return false;
  return (data[word].effective & (uint32_t{1} << bit)) != 0;
}

namespace {

/// Why the kernel data path cannot run; empty when it can.
std::string kernel_unavailable(const capability_probe& has,
                               const kernel_probe& probe) {
  const bool admin = has(CAP_SYS_ADMIN);
  if (!(has(cap_bpf) || admin) || !(has(CAP_NET_ADMIN) || admin))
    return "the kernel data path needs CAP_BPF and CAP_NET_ADMIN (a tc eBPF "
           "program); grant them (AmbientCapabilities=CAP_BPF CAP_NET_ADMIN)";
  return probe ? probe() : std::string{};
}

void check_datapath(const relay_settings& settings, const capability_probe& has,
                    const kernel_probe& probe, capability_verdict& v) {
  v.datapath = datapath_mode::packet;
  if (settings.datapath == datapath_mode::packet)
    return;
  const auto why_not = kernel_unavailable(has, probe);
  if (settings.datapath == datapath_mode::kernel) {
    if (!why_not.empty())
      v.errors.push_back("datapath = \"kernel\": " + why_not
                         + ", or set [relay] datapath = \"packet\" (or "
                           "\"auto\")");
    v.datapath = datapath_mode::kernel;
  } else if (why_not.empty()) {
    v.datapath = datapath_mode::kernel;
    v.notes.push_back("datapath = \"auto\": using the kernel data path (a tc "
                      "eBPF program per input interface)");
  } else {
    v.warnings.push_back("datapath = \"auto\": " + why_not
                         + "; using the packet data path");
  }
  if (v.datapath == datapath_mode::kernel && v.ingress == ingress_mode::socket)
    v.warnings.push_back("ingress = \"socket\": its rules stay on the "
                         "forwarders (the kernel data path takes AF_PACKET "
                         "ingress only)");
}

} // namespace

capability_verdict check_capabilities(const relay_settings& settings,
                                      const capability_probe& has,
                                      const kernel_probe& probe) {
  capability_verdict v;
  const bool net_raw = has(CAP_NET_RAW);
  switch (settings.ingress) {
  case ingress_mode::packet:
    v.ingress = ingress_mode::packet;
    if (!net_raw)
      v.errors.push_back(
        "ingress = \"packet\" needs CAP_NET_RAW (AF_PACKET sockets); grant "
        "it (AmbientCapabilities=CAP_NET_RAW) or set [relay] ingress = "
        "\"socket\" (or \"auto\")");
    break;
  case ingress_mode::socket:
    v.ingress = ingress_mode::socket;
    break;
  case ingress_mode::automatic:
    v.ingress = net_raw ? ingress_mode::packet : ingress_mode::socket;
    v.notes.push_back(
      net_raw ? "ingress = \"auto\": CAP_NET_RAW is effective, using "
                "AF_PACKET sockets (ingress = \"packet\")"
              : "ingress = \"auto\": no CAP_NET_RAW, using UDP sockets "
                "(ingress = \"socket\"); grant CAP_NET_RAW for AF_PACKET");
    break;
  }
  // Both ingress modes send through udp_egress, which asks for
  // SO_SNDBUFFORCE; the packet ingress asks for SO_RCVBUFFORCE too.
  if (!has(CAP_NET_ADMIN))
    v.warnings.push_back(
      "no CAP_NET_ADMIN: socket buffers fall back from SO_RCVBUFFORCE / "
      "SO_SNDBUFFORCE to SO_RCVBUF / SO_SNDBUF, capped by "
      "net.core.rmem_max / wmem_max, so bursts may drop; grant it "
      "(AmbientCapabilities=CAP_NET_ADMIN) or raise those sysctls");
  check_datapath(settings, has, probe, v);
  return v;
}

} // namespace castor::relay
