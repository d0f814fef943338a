#include "model/datapath.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <tuple>

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
  // The tc program rewrites a datagram's headers in place, one family in
  // and out (IPv4 or IPv6, issue 19); changing the family would rebuild
  // the IP header, which the packet path's sockets do.
  for (const auto& o : r.outputs)
    if (o.address.v6 != r.input.group.v6)
      return r.input.group.v6 ? "mixed address families (IPv6 in, IPv4 out)"
                              : "mixed address families (IPv4 in, IPv6 out)";
  std::size_t unicast = 0;
  for (const auto& o : r.outputs) {
    if (o.interface == "lo")
      return "an output on lo";
    unicast += o.address.is_multicast() || o.address.is_unspecified() ? 0 : 1;
  }
  // A unicast output needs its neighbour's MAC. The program takes it from
  // a FIB lookup, which the kernel refuses where IP forwarding is off, and
  // otherwise hands the datagram to bpf_redirect_neigh, which resolves it;
  // that ends the program, so it serves one such output per datagram.
  if (unicast > 1)
    return "more than one unicast output (the tc program resolves the "
           "neighbour of one per datagram)";
  return {};
}

std::vector<std::string> kernel_refusals(const std::vector<rule>& rules,
                                         const relay_settings& s) {
  std::vector<std::string> out;
  out.reserve(rules.size());
  // (interface, group, port) -> a rule of it the kernel cannot serve.
  using family =
    std::tuple<std::string, bool, std::array<uint8_t, 16>, uint16_t>;
  std::map<family, std::size_t> refused;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& in = rules[i].input;
    out.push_back(kernel_refusal(rules[i], s));
    if (!out.back().empty())
      refused.emplace(
        family{in.interface, in.group.v6, in.group.bytes, in.port}, i);
  }
  if (s.datapath != datapath_mode::kernel)
    return out;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& in = rules[i].input;
    auto f =
      refused.find(family{in.interface, in.group.v6, in.group.bytes, in.port});
    if (out[i].empty() && f != refused.end())
      out[i] = "shares its input group and port with rule "
               + rules[f->second].name + " (" + out[f->second] + ")";
  }
  return out;
}

std::vector<rule> rules_on_path(const std::vector<rule>& rules,
                                const relay_settings& s, bool kernel) {
  const auto why = kernel_refusals(rules, s);
  std::vector<rule> out;
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (why[i].empty() == kernel)
      out.push_back(rules[i]);
  return out;
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
