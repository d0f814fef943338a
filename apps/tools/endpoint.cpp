#include "endpoint.hpp"

#include <stdexcept>

#include <arpa/inet.h>

namespace castor::tools {

uint32_t parse_ipv4(const std::string& text) {
  in_addr addr{};
  if (::inet_pton(AF_INET, text.c_str(), &addr) != 1)
    throw std::invalid_argument("'" + text + "' is not an IPv4 address");
  return ntohl(addr.s_addr);
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
  return endpoint{parse_ipv4(text.substr(0, colon)),
                  static_cast<uint16_t>(port)};
}

std::string to_string(uint32_t address) {
  return std::to_string(address >> 24) + "."
         + std::to_string((address >> 16) & 0xFF) + "."
         + std::to_string((address >> 8) & 0xFF) + "."
         + std::to_string(address & 0xFF);
}

std::string to_string(const endpoint& x) {
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
  auto last_address = uint64_t{first.address} + streams - 1;
  auto last_port = uint64_t{first.port} + (keep_port ? 0 : streams - 1);
  if (last_port > 65535)
    throw std::invalid_argument("--streams " + std::to_string(streams)
                                + " from port " + std::to_string(first.port)
                                + " runs past 65535");
  if (first.multicast() && (last_address >> 28) != 0xE)
    throw std::invalid_argument("--streams " + std::to_string(streams)
                                + " from " + to_string(first.address)
                                + " leaves the multicast range");
  if (last_address > UINT32_MAX)
    throw std::invalid_argument("--streams " + std::to_string(streams)
                                + " runs past 255.255.255.255");
  std::vector<endpoint> out;
  out.reserve(streams);
  for (unsigned i = 0; i < streams; ++i)
    out.push_back(
      endpoint{first.address + i,
               static_cast<uint16_t>(first.port + (keep_port ? 0 : i))});
  return out;
}

} // namespace castor::tools
