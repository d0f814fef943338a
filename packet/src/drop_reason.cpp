#include "castor/packet/drop_reason.hpp"

namespace castor::packet {

std::string_view to_string(drop_reason r) noexcept {
  switch (r) {
  case drop_reason::truncated:
    return "truncated";
  case drop_reason::not_ipv4:
    return "not_ipv4";
  case drop_reason::bad_header:
    return "bad_header";
  case drop_reason::ip_options:
    return "ip_options";
  case drop_reason::bad_length:
    return "bad_length";
  case drop_reason::fragment:
    return "fragment";
  case drop_reason::not_udp:
    return "not_udp";
  case drop_reason::bad_checksum:
    return "bad_checksum";
  case drop_reason::foreign:
    return "foreign";
  case drop_reason::not_ipv6:
    return "not_ipv6";
  case drop_reason::hop_by_hop:
    return "hop_by_hop";
  case drop_reason::ext_headers:
    return "ext_headers";
  case drop_reason::zero_checksum:
    return "zero_checksum";
  }
  return "unknown";
}

} // namespace castor::packet
