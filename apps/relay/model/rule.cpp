#include "model/rule.hpp"

#include <cstring>

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

ip_addr::ip_addr(ipv4 x) noexcept {
  std::memcpy(bytes.data(), &x.be, sizeof x.be);
}

std::optional<ip_addr> ip_addr::parse(const std::string& text) {
  if (auto x = ipv4::parse(text))
    return ip_addr{*x};
  in6_addr a{};
  if (inet_pton(AF_INET6, text.c_str(), &a) != 1)
    return std::nullopt;
  std::array<uint8_t, 16> b;
  std::memcpy(b.data(), &a, b.size());
  return from_v6(b);
}

std::string ip_addr::to_string() const {
  if (!v6)
    return v4().to_string();
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

uint32_t ip_addr::v4_be() const noexcept {
  uint32_t be = 0;
  if (!v6)
    std::memcpy(&be, bytes.data(), sizeof be);
  return be;
}

bool ip_addr::is_multicast() const noexcept {
  return v6 ? bytes[0] == 0xff : v4().is_multicast();
}

bool ip_addr::is_unspecified() const noexcept {
  return bytes == std::array<uint8_t, 16>{};
}

unsigned ip_addr::multicast_scope() const noexcept {
  return v6 && bytes[0] == 0xff ? bytes[1] & 0x0fu : 0u;
}

bool ip_addr::is_link_local_multicast() const noexcept {
  if (!v6)
    return v4().is_link_local_multicast();
  if (!is_multicast())
    return false;
  const auto scope = multicast_scope();
  return scope <= 2 || scope == 15;
}

bool ip_addr::is_ssm6() const noexcept {
  // ff3x::/32: flags P and T set, prefix length 0 (RFC 3306, RFC 4607).
  return v6 && bytes[0] == 0xff && (bytes[1] & 0xf0) == 0x30 && bytes[2] == 0
         && bytes[3] == 0;
}

bool ip_addr::is_link_local_unicast6() const noexcept {
  return v6 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
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
