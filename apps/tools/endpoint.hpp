#pragma once

// ADDR:PORT arguments of castor-send and castor-recv (IPv4, or IPv6 as
// [ADDR]:PORT), and the expansion of
// one of them into N consecutive streams (--streams N): group + i and, unless
// the port is kept, port + i. One rule per stream is what the relay's
// multi-stream tests configure, so both tools must agree on the expansion.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/socket.h>

namespace castor::tools {

struct endpoint {
  uint32_t address = 0; ///< IPv4, host byte order (when !v6)
  uint16_t port = 0;
  bool v6 = false;
  std::array<uint8_t, 16> address6{}; ///< IPv6, network order (when v6)

  bool multicast() const noexcept {
    return v6 ? address6[0] == 0xff : (address >> 28) == 0xE;
  }
  friend bool operator==(const endpoint& x, const endpoint& y) noexcept {
    return x.v6 == y.v6 && x.port == y.port
           && (x.v6 ? x.address6 == y.address6 : x.address == y.address);
  }
};

/// "239.1.1.1:5000" or "[ff3e::1:1]:5000" (IPv6 in brackets). Throws
/// std::invalid_argument with a message that quotes the text.
endpoint parse_endpoint(const std::string& text);

/// An IPv4 or IPv6 address alone (port 0), for --bind and --source.
endpoint parse_address(const std::string& text);

/// A dotted IPv4 address in host byte order; throws std::invalid_argument.
uint32_t parse_ipv4(const std::string& text);

std::string to_string(uint32_t address);
/// The address alone ("239.1.1.1", "ff3e::1:1").
std::string address_string(const endpoint& x);
/// "239.1.1.1:5000", "[ff3e::1:1]:5000".
std::string to_string(const endpoint& x);

/// The endpoint as a sockaddr of its family; `*length` gets its size.
sockaddr_storage to_sockaddr(const endpoint& x, socklen_t* length = nullptr);

/// AF_INET or AF_INET6.
int family(const endpoint& x) noexcept;

/// With one endpoint and streams > 1: that endpoint and the next streams - 1
/// (address + i, port + i, or the same port if keep_port). With several
/// endpoints, streams must be 0 or their number. Throws
/// std::invalid_argument when the request makes no sense: no endpoint, an
/// address or port that would wrap, or a multicast range that would leave
/// 224.0.0.0/4. IPv6 addresses count up in their last 32 bits.
std::vector<endpoint> expand_streams(const std::vector<endpoint>& given,
                                     unsigned streams, bool keep_port);

} // namespace castor::tools
