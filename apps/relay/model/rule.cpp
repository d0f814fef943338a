#include "model/rule.hpp"

#include <arpa/inet.h>

namespace castor::relay {

std::optional<ipv4> ipv4::parse(const std::string& text) {
  in_addr addr{};
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1)
    return std::nullopt;
  return ipv4{addr.s_addr};
}

std::string ipv4::to_string() const {
  char buf[INET_ADDRSTRLEN];
  in_addr addr{};
  addr.s_addr = be;
  inet_ntop(AF_INET, &addr, buf, sizeof(buf));
  return buf;
}

bool ipv4::is_multicast() const noexcept {
  return (ntohl(be) >> 28) == 0xE;
}

bool ipv4::is_link_local_multicast() const noexcept {
  return (ntohl(be) & 0xFFFFFF00u) == 0xE0000000u;
}

bool operator==(const rule_input& x, const rule_input& y) {
  return x.interface == y.interface && x.group == y.group && x.port == y.port
         && x.source == y.source;
}

bool operator==(const rule_output& x, const rule_output& y) {
  return x.interface == y.interface && x.address == y.address
         && x.port == y.port && x.ttl == y.ttl && x.tos == y.tos
         && x.ttl_decrement == y.ttl_decrement
         && x.tos_preserve == y.tos_preserve && x.source_port == y.source_port;
}

egress_settings egress_settings_of(const rule_output& o) {
  egress_settings s;
  s.ttl = o.ttl_decrement ? 1 : o.ttl;
  s.tos = o.tos_preserve ? 0 : o.tos;
  s.marks = o.ttl_decrement || o.tos_preserve;
  s.source_port = o.source_port;
  return s;
}

bool operator==(const rule& x, const rule& y) {
  return x.name == y.name && x.input == y.input && x.outputs == y.outputs;
}

} // namespace castor::relay
