#include "castor/bus/ip_address.hpp"

#include <arpa/inet.h>

namespace castor::bus {

ip_address ip_address::v4(uint32_t host_order) noexcept {
  ip_address a;
  for (int i = 0; i < 4; ++i)
    a.bytes_[static_cast<size_t>(i)] =
      static_cast<uint8_t>(host_order >> (24 - 8 * i));
  return a;
}

ip_address ip_address::v6(const bytes_type& bytes) noexcept {
  ip_address a;
  a.family_ = ip_family::v6;
  a.bytes_ = bytes;
  return a;
}

std::optional<ip_address> ip_address::parse(const std::string& text) {
  in_addr a4{};
  if (::inet_pton(AF_INET, text.c_str(), &a4) == 1)
    return v4(ntohl(a4.s_addr));
  bytes_type b{};
  if (::inet_pton(AF_INET6, text.c_str(), b.data()) == 1)
    return v6(b);
  return std::nullopt;
}

uint32_t ip_address::to_v4() const noexcept {
  if (!is_v4())
    return 0;
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16)
         | (uint32_t{bytes_[2]} << 8) | bytes_[3];
}

bool ip_address::is_multicast() const noexcept {
  return is_v4() ? (bytes_[0] & 0xf0) == 0xe0 : bytes_[0] == 0xff;
}

unsigned ip_address::v6_scope() const noexcept {
  return is_v6() && bytes_[0] == 0xff ? bytes_[1] & 0x0fu : 0u;
}

bool ip_address::is_v6_ssm() const noexcept {
  return is_v6() && bytes_[0] == 0xff && (bytes_[1] & 0xf0) == 0x30
         && bytes_[2] == 0 && bytes_[3] == 0;
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  auto af = is_v4() ? AF_INET : AF_INET6;
  if (::inet_ntop(af, bytes_.data(), buf, sizeof(buf)) == nullptr)
    return "?";
  return buf;
}

} // namespace castor::bus
