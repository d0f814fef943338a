#include "sites/site_model.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace castor::relay {

std::optional<site_endpoint> site_endpoint::parse(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()
      || colon + 6 < text.size())
    return std::nullopt;
  uint32_t port = 0;
  for (auto c : text.substr(colon + 1)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port == 0 || port > 65535)
    return std::nullopt;
  site_endpoint out;
  out.port = static_cast<uint16_t>(port);
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    out.v6 = true;
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(),
                  out.addr.data())
        != 1)
      return std::nullopt;
    return out;
  }
  auto v4 = ipv4::parse(host);
  if (!v4)
    return std::nullopt;
  return of(*v4, out.port);
}

site_endpoint site_endpoint::of(ipv4 host, uint16_t port) {
  site_endpoint out;
  std::memcpy(out.addr.data(), &host.be, 4);
  out.port = port;
  return out;
}

std::string site_endpoint::host() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr.data(), text, sizeof(text));
  return text;
}

bool site_endpoint::host_is(const std::string& text) const {
  std::array<uint8_t, 16> a{};
  if (inet_pton(AF_INET, text.c_str(), a.data()) == 1)
    return !v6 && std::memcmp(a.data(), addr.data(), 4) == 0;
  if (inet_pton(AF_INET6, text.c_str(), a.data()) != 1)
    return false;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!v6)
    return std::memcmp(a.data(), mapped, 12) == 0
           && std::memcmp(a.data() + 12, addr.data(), 4) == 0;
  return a == addr;
}

std::string site_endpoint::to_string() const {
  auto port_text = ":" + std::to_string(port);
  return v6 ? "[" + host() + "]" + port_text : host() + port_text;
}

const peer_settings* sites_config::find_peer(const std::string& name) const {
  auto i = std::find_if(peers.begin(), peers.end(),
                        [&](const peer_settings& p) { return p.name == name; });
  return i == peers.end() ? nullptr : &*i;
}

bool operator==(const node_settings& x, const node_settings& y) {
  return x.name == y.name && x.listen == y.listen && x.tls_cert == y.tls_cert
         && x.tls_key == y.tls_key && x.tls_ca == y.tls_ca
         && x.insecure == y.insecure;
}

bool operator==(const peer_settings& x, const peer_settings& y) {
  return x.name == y.name && x.address == y.address;
}

bool operator==(const site_export& x, const site_export& y) {
  return x.name == y.name && x.input == y.input && x.peers == y.peers
         && x.spread == y.spread;
}

bool operator==(const site_import& x, const site_import& y) {
  return x.name == y.name && x.peer == y.peer && x.group == y.group
         && x.port == y.port && x.outputs == y.outputs
         && x.bus_repair == y.bus_repair;
}

bool operator==(const sites_config& x, const sites_config& y) {
  return x.node == y.node && x.peers == y.peers && x.exports == y.exports
         && x.imports == y.imports;
}

std::string encode_interest(const std::vector<site_group>& groups) {
  std::string out;
  for (auto& g : groups) {
    out.push_back(g.group.v6 ? 6 : 4);
    out.append(reinterpret_cast<const char*>(g.group.bytes.data()),
               g.group.v6 ? 16 : 4);
    out.push_back(static_cast<char>(g.port >> 8));
    out.push_back(static_cast<char>(g.port & 0xff));
  }
  return out;
}

std::optional<std::vector<site_group>>
decode_interest(const std::string& bytes) {
  std::vector<site_group> out;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  std::size_t at = 0;
  while (at < bytes.size()) {
    auto family = p[at];
    if (family != 4 && family != 6)
      return std::nullopt;
    std::size_t size = family == 6 ? 16 : 4;
    if (bytes.size() - at < 1 + size + 2)
      return std::nullopt;
    site_group g;
    g.group.v6 = family == 6;
    std::memcpy(g.group.bytes.data(), p + at + 1, size);
    g.port = static_cast<uint16_t>((p[at + 1 + size] << 8) | p[at + 2 + size]);
    out.push_back(g);
    at += 1 + size + 2;
  }
  return out;
}

const char* to_string(site_spread x) {
  return x == site_spread::log ? "log" : "all";
}

std::vector<std::string> check_site_files(const sites_config& sites) {
  std::vector<std::string> out;
  if (!sites.node || sites.node->insecure)
    return out;
  auto check = [&](const char* key, const std::string& path) {
    std::ifstream in{path};
    if (!in)
      out.push_back(std::string{"node.tls."} + key + ": cannot read " + path);
  };
  check("cert", sites.node->tls_cert);
  check("key", sites.node->tls_key);
  check("ca", sites.node->tls_ca);
  return out;
}

} // namespace castor::relay
