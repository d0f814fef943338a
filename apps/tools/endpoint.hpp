#pragma once

// ADDR:PORT arguments of castor-send and castor-recv, and the expansion of
// one of them into N consecutive streams (--streams N): group + i and, unless
// the port is kept, port + i. One rule per stream is what the relay's
// multi-stream tests configure, so both tools must agree on the expansion.

#include <cstdint>
#include <string>
#include <vector>

namespace castor::tools {

struct endpoint {
  uint32_t address = 0; ///< IPv4, host byte order
  uint16_t port = 0;

  bool multicast() const noexcept { return (address >> 28) == 0xE; }
  friend bool operator==(const endpoint& x, const endpoint& y) noexcept {
    return x.address == y.address && x.port == y.port;
  }
};

/// "239.1.1.1:5000". Throws std::invalid_argument with a message that
/// quotes the text.
endpoint parse_endpoint(const std::string& text);

/// A dotted IPv4 address in host byte order; throws std::invalid_argument.
uint32_t parse_ipv4(const std::string& text);

std::string to_string(uint32_t address);
std::string to_string(const endpoint& x);

/// With one endpoint and streams > 1: that endpoint and the next streams - 1
/// (address + i, port + i, or the same port if keep_port). With several
/// endpoints, streams must be 0 or their number. Throws
/// std::invalid_argument when the request makes no sense: no endpoint, an
/// address or port that would wrap, or a multicast range that would leave
/// 224.0.0.0/4.
std::vector<endpoint> expand_streams(const std::vector<endpoint>& given,
                                     unsigned streams, bool keep_port);

} // namespace castor::tools
