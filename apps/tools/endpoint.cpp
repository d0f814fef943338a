#include "endpoint.hpp"

#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>

namespace castor::tools {

uint32_t parse_ipv4(const std::string& text) {
  in_addr addr{};
  if (::inet_pton(AF_INET, text.c_str(), &addr) != 1)
    throw std::invalid_argument("'" + text + "' is not an IPv4 address");
  return ntohl(addr.s_addr);
}

endpoint parse_address(const std::string& text) {
  endpoint out;
  if (text.find(':') == std::string::npos) {
    out.address = parse_ipv4(text);
    return out;
  }
  in6_addr addr{};
  if (::inet_pton(AF_INET6, text.c_str(), &addr) != 1)
    throw std::invalid_argument("'" + text + "' is not an IPv6 address");
  out.v6 = true;
  std::memcpy(out.address6.data(), &addr, 16);
  return out;
}

endpoint parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("'" + text + "': expected ADDR:PORT");
  auto port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5
      || port_text.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("'" + text + "': bad port '" + port_text + "'");
  auto port = std::stoul(port_text);
  if (port == 0 || port > 65535)
    throw std::invalid_argument("'" + text + "': port must be 1..65535");
  auto host = text.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      throw std::invalid_argument("'" + text + "': expected [IPv6]:PORT");
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string::npos)
      throw std::invalid_argument("'" + text + "': brackets are for IPv6");
  } else if (host.find(':') != std::string::npos) {
    throw std::invalid_argument("'" + text
                                + "': write an IPv6 address as [ADDR]:PORT");
  }
  auto out = parse_address(host);
  out.port = static_cast<uint16_t>(port);
  return out;
}

std::string address_string(const endpoint& x) {
  if (!x.v6)
    return to_string(x.address);
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, x.address6.data(), buf, sizeof(buf));
  return buf;
}

int family(const endpoint& x) noexcept {
  return x.v6 ? AF_INET6 : AF_INET;
}

sockaddr_storage to_sockaddr(const endpoint& x, socklen_t* length) {
  sockaddr_storage out{};
  if (x.v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(x.port);
    std::memcpy(&sa.sin6_addr, x.address6.data(), 16);
    std::memcpy(&out, &sa, sizeof(sa));
    if (length != nullptr)
      *length = sizeof(sa);
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(x.port);
    sa.sin_addr.s_addr = htonl(x.address);
    std::memcpy(&out, &sa, sizeof(sa));
    if (length != nullptr)
      *length = sizeof(sa);
  }
  return out;
}

std::string to_string(uint32_t address) {
  return std::to_string(address >> 24) + "."
         + std::to_string((address >> 16) & 0xFF) + "."
         + std::to_string((address >> 8) & 0xFF) + "."
         + std::to_string(address & 0xFF);
}

std::string to_string(const endpoint& x) {
  if (x.v6)
    return "[" + address_string(x) + "]:" + std::to_string(x.port);
  return to_string(x.address) + ":" + std::to_string(x.port);
}

std::vector<endpoint> expand_streams(const std::vector<endpoint>& given,
                                     unsigned streams, bool keep_port) {
  if (given.empty())
    throw std::invalid_argument("no destination: give --group or --dest");
  if (given.size() > 1) {
    if (streams != 0 && streams != given.size())
      throw std::invalid_argument(
        "--streams " + std::to_string(streams) + " with "
        + std::to_string(given.size())
        + " destinations: give one destination to expand, or as many as "
          "streams");
    return given;
  }
  if (streams <= 1)
    return given;
  auto first = given.front();
  auto last_port = uint64_t{first.port} + (keep_port ? 0 : streams - 1);
  if (last_port > 65535)
    throw std::invalid_argument("--streams " + std::to_string(streams)
                                + " from port " + std::to_string(first.port)
                                + " runs past 65535");
  // IPv6: the last 32 bits count up, as an IPv4 address does.
  uint32_t low = first.address;
  if (first.v6) {
    low = 0;
    for (std::size_t i = 12; i < 16; ++i)
      low = (low << 8) | first.address6[i];
  }
  auto last_address = uint64_t{low} + streams - 1;
  if (!first.v6 && first.multicast() && (last_address >> 28) != 0xE)
    throw std::invalid_argument("--streams " + std::to_string(streams)
                                + " from " + to_string(first.address)
                                + " leaves the multicast range");
  if (last_address > UINT32_MAX)
    throw std::invalid_argument(
      "--streams " + std::to_string(streams) + " runs past "
      + (first.v6 ? "the last 32 bits of " + address_string(first)
                  : std::string{"255.255.255.255"}));
  std::vector<endpoint> out;
  out.reserve(streams);
  for (unsigned i = 0; i < streams; ++i) {
    endpoint e = first;
    e.port = static_cast<uint16_t>(first.port + (keep_port ? 0 : i));
    if (first.v6) {
      const uint32_t v = low + i;
      for (std::size_t k = 0; k < 4; ++k)
        e.address6[12 + k] = static_cast<uint8_t>(v >> (24 - 8 * k));
    } else {
      e.address = low + i;
    }
    out.push_back(e);
  }
  return out;
}

} // namespace castor::tools
