#include "model/datapath.hpp"

namespace castor::relay {

std::string kernel_refusal(const rule& r, const relay_settings& s) {
  if (s.datapath != datapath_mode::kernel)
    return "datapath = \"" + to_string(s.datapath) + "\"";
  // Socket ingress reads from UDP sockets behind the stack; the program
  // would take their datagrams before them.
  if (s.ingress == ingress_mode::socket)
    return "socket ingress";
  if (r.outputs.size() > kernel_max_outputs)
    return "more than " + std::to_string(kernel_max_outputs) + " outputs";
  for (const auto& o : r.outputs)
    if (o.interface == "lo")
      return "an output on lo";
  // The tc program and its maps are IPv4 only for now (issue 19).
  if (r.input.group.v6)
    return "an IPv6 input";
  for (const auto& o : r.outputs)
    if (o.address.v6)
      return "an IPv6 output";
  return {};
}

std::string to_string(datapath_mode m) {
  switch (m) {
  case datapath_mode::packet:
    return "packet";
  case datapath_mode::kernel:
    return "kernel";
  case datapath_mode::automatic:
    return "auto";
  }
  return "packet";
}

std::string datapath_id(const std::string& interface) {
  return "kdp-" + interface;
}

} // namespace castor::relay
