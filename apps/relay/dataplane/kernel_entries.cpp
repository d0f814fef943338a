#include "dataplane/kernel_entries.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "dataplane/source_port.hpp"
#include "relay_maps6.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/drop_reason.hpp"
#include "castor/packet/frame_parser.hpp"
#include "castor/packet/udp_egress.hpp"

namespace castor::relay {

namespace {

// The program counts under castor::packet::drop_reason's indexes.
using packet::drop_reason;
using packet::index;
static_assert(CASTOR_DROP_TRUNCATED == index(drop_reason::truncated));
static_assert(CASTOR_DROP_BAD_HEADER == index(drop_reason::bad_header));
static_assert(CASTOR_DROP_IP_OPTIONS == index(drop_reason::ip_options));
static_assert(CASTOR_DROP_BAD_LENGTH == index(drop_reason::bad_length));
static_assert(CASTOR_DROP_FRAGMENT == index(drop_reason::fragment));
static_assert(CASTOR_DROP_BAD_CHECKSUM == index(drop_reason::bad_checksum));
static_assert(CASTOR_DROP_NOT_UDP == index(drop_reason::not_udp));
static_assert(CASTOR_DROP_HOP_BY_HOP == index(drop_reason::hop_by_hop));
static_assert(CASTOR_DROP_EXT_HEADERS == index(drop_reason::ext_headers));
static_assert(CASTOR_DROP_ZERO_CHECKSUM == index(drop_reason::zero_checksum));
static_assert(packet::drop_reason_count <= CASTOR_DROP_REASONS);
static_assert(CASTOR_MAX_IPV6_EXT_HEADERS
              == packet::max_ipv6_extension_headers);

template <class T>
std::vector<uint8_t> bytes_of(const T& x) {
  const auto* p = reinterpret_cast<const uint8_t*>(&x);
  return {p, p + sizeof x};
}

/// A number from /proc/sys/net/ipv6/conf/IF/NAME, or `fallback`.
unsigned ipv6_conf(const std::string& interface, const char* name,
                   unsigned fallback) {
  std::ifstream f{"/proc/sys/net/ipv6/conf/" + interface + "/" + name};
  unsigned v = 0;
  return f >> v ? v : fallback;
}

uint8_t output_flags(const rule_output& o) {
  return static_cast<uint8_t>(
    (o.address.is_multicast() ? CASTOR_OUT_MULTICAST : 0)
    | (o.ttl_decrement ? CASTOR_OUT_TTL_DEC : 0)
    | (o.tos_preserve ? CASTOR_OUT_TOS_KEEP : 0));
}

const kernel_link& link_of(const std::map<std::string, kernel_link>& links,
                           const std::string& name) {
  static const kernel_link missing;
  const auto i = links.find(name);
  return i == links.end() ? missing : i->second;
}

/// What an output entry of either family takes alike: counters, ports,
/// MTU, flags and the interface's MAC.
template <class Output>
void fill_common(Output& co, const rule_output& o, const kernel_link& l,
                 uint32_t slot) {
  co.slot = slot;
  co.dport = htons(o.port);
  co.sport = htons(o.source_port != 0 ? o.source_port : shared_source_port());
  co.mtu = static_cast<uint16_t>(std::min(l.mtu, 65535u));
  co.flags = output_flags(o);
  std::memcpy(co.smac, l.mac, 6);
}

/// Outputs a rule value holds: its outputs and their slots, at most
/// CASTOR_MAX_OUTPUTS.
uint32_t output_count(const rule& r, const std::vector<uint32_t>& slots) {
  return static_cast<uint32_t>(std::min<std::size_t>(
    {r.outputs.size(), slots.size(), CASTOR_MAX_OUTPUTS}));
}

kernel_entry encode4(const rule& r, unsigned ifindex, uint32_t rule_slot,
                     const std::vector<uint32_t>& output_slots,
                     const std::map<std::string, kernel_link>& links) {
  kernel_entry e;
  castor_rule_key k{};
  k.ifindex = ifindex;
  k.group = r.input.group.v4_be();
  k.source = r.input.source ? r.input.source->v4_be() : 0;
  k.port = htons(r.input.port);
  castor_group_key gk{ifindex, k.group};
  castor_rule_value v{};
  v.slot = rule_slot;
  v.count = output_count(r, output_slots);
  for (uint32_t i = 0; i < v.count; ++i) {
    const auto& o = r.outputs[i];
    const auto& l = link_of(links, o.interface);
    auto& co = v.outputs[i];
    fill_common(co, o, l, output_slots[i]);
    co.ifindex = l.ifindex;
    co.daddr = o.address.v4_be();
    co.saddr = l.addr_be;
    co.ttl = o.ttl;
    co.tos = o.tos;
  }
  e.key = bytes_of(k);
  e.group_key = bytes_of(gk);
  e.kind =
    k.source != 0 ? CASTOR_GROUP_SOURCE_SPECIFIC : CASTOR_GROUP_ANY_SOURCE;
  e.value = bytes_of(v);
  return e;
}

kernel_entry encode6(const rule& r, unsigned ifindex, uint32_t rule_slot,
                     const std::vector<uint32_t>& output_slots,
                     const std::map<std::string, kernel_link>& links) {
  kernel_entry e;
  e.v6 = true;
  castor_rule_key6 k{};
  k.ifindex = ifindex;
  k.port = htons(r.input.port);
  std::memcpy(k.group, r.input.group.bytes.data(), 16);
  if (r.input.source)
    std::memcpy(k.source, r.input.source->bytes.data(), 16);
  castor_group_key6 gk{};
  gk.ifindex = ifindex;
  std::memcpy(gk.group, k.group, 16);
  castor_rule_value6 v{};
  v.slot = rule_slot;
  v.count = output_count(r, output_slots);
  for (uint32_t i = 0; i < v.count; ++i) {
    const auto& o = r.outputs[i];
    const auto& l = link_of(links, o.interface);
    auto& co = v.outputs[i];
    fill_common(co, o, l, output_slots[i]);
    // No stable source address: the packet path cannot open the egress
    // and counts send_error; so does the program for ifindex 0.
    co.ifindex = l.addr6 ? l.ifindex : 0;
    if (l.addr6)
      std::memcpy(co.saddr, l.addr6->data(), 16);
    std::memcpy(co.daddr, o.address.bytes.data(), 16);
    // IPV6_MULTICAST_HOPS is the output's ttl; a unicast datagram leaves
    // with the interface's hop limit, as from the packet path's socket.
    co.hop_limit = o.address.is_multicast() ? o.ttl : l.hop_limit6;
    co.tclass = o.tos;
  }
  e.key = bytes_of(k);
  e.group_key = bytes_of(gk);
  e.kind =
    r.input.source ? CASTOR_GROUP_SOURCE_SPECIFIC : CASTOR_GROUP_ANY_SOURCE;
  e.value = bytes_of(v);
  return e;
}

} // namespace

std::string kernel_link::state() const {
  return ifindex == 0 ? "missing" : up ? "up" : "down";
}

kernel_link look_up_link(const std::string& name, bool ipv6) {
  kernel_link l;
  ifreq ifr{};
  if (name.empty() || name.size() >= sizeof ifr.ifr_name)
    return l;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return l;
  auto ask = [&](unsigned long req) {
    std::memset(&ifr, 0, sizeof ifr);
    std::memcpy(ifr.ifr_name, name.data(), name.size());
    return ::ioctl(fd, req, &ifr) == 0;
  };
  if (ask(SIOCGIFINDEX)) {
    l.ifindex = static_cast<unsigned>(ifr.ifr_ifindex);
    if (ask(SIOCGIFFLAGS))
      l.up = (ifr.ifr_flags & IFF_UP) != 0;
    if (ask(SIOCGIFHWADDR))
      std::memcpy(l.mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ask(SIOCGIFMTU))
      l.mtu = static_cast<unsigned>(ifr.ifr_mtu);
    if (ask(SIOCGIFADDR))
      l.addr_be =
        reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr)->sin_addr.s_addr;
  }
  ::close(fd);
  if (ipv6 && l.ifindex != 0) {
    l.addr6 = packet::stable_ipv6_source(l.ifindex);
    l.hop_limit6 = static_cast<uint8_t>(
      std::clamp(ipv6_conf(name, "hop_limit", 64), 1u, 255u));
    // The IPv6 MTU may be set below the link's; the socket goes by it.
    l.mtu = std::min(l.mtu, ipv6_conf(name, "mtu", l.mtu));
  }
  return l;
}

kernel_entry encode_rule(const rule& r, unsigned ifindex, uint32_t rule_slot,
                         const std::vector<uint32_t>& output_slots,
                         const std::map<std::string, kernel_link>& links) {
  return r.input.group.v6 ? encode6(r, ifindex, rule_slot, output_slots, links)
                          : encode4(r, ifindex, rule_slot, output_slots, links);
}

} // namespace castor::relay
