#include "castor/bus/topic_map.hpp"

#include <cstdio>

namespace castor::bus {

uint32_t topic_hash(const std::string& topic) noexcept {
  uint32_t h = 2166136261u;
  for (unsigned char c : topic) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::optional<uint32_t> parse_ipv4(const std::string& text) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4
      || a > 255 || b > 255 || c > 255 || d > 255)
    return std::nullopt;
  return (a << 24) | (b << 16) | (c << 8) | d;
}

std::string format_ipv4(uint32_t addr) {
  return std::to_string(addr >> 24) + '.' + std::to_string((addr >> 16) & 255)
         + '.' + std::to_string((addr >> 8) & 255) + '.'
         + std::to_string(addr & 255);
}

void topic_map::set(const std::string& topic, uint32_t group, uint16_t port,
                    bool raw) {
  explicit_[topic] = topic_endpoint{topic, group, port, raw, topic_hash(topic)};
}

bool topic_map::parse_entry(const std::string& entry) {
  auto eq = entry.find('=');
  auto colon = entry.rfind(':');
  if (eq == std::string::npos || eq == 0 || colon == std::string::npos
      || colon < eq)
    return false;
  auto topic = entry.substr(0, eq);
  auto group = parse_ipv4(entry.substr(eq + 1, colon - eq - 1));
  auto rest = entry.substr(colon + 1);
  bool raw = false;
  auto comma = rest.find(',');
  if (comma != std::string::npos) {
    if (rest.substr(comma + 1) != "raw")
      return false;
    raw = true;
    rest.resize(comma);
  }
  if (!group || rest.empty() || rest.size() > 5
      || rest.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto port = std::stoul(rest);
  if (port == 0 || port > 65535)
    return false;
  set(topic, *group, static_cast<uint16_t>(port), raw);
  return true;
}

topic_endpoint topic_map::resolve(const std::string& topic) const {
  if (auto i = explicit_.find(topic); i != explicit_.end())
    return i->second;
  auto h = topic_hash(topic);
  // Fold the hash to 16 bits; keep off .0.0 and .255.255.
  auto low = static_cast<uint16_t>((h >> 16) ^ h);
  if (low == 0 || low == 0xffff)
    low = 1;
  return topic_endpoint{topic, base_ | low, port_, false, h};
}

} // namespace castor::bus
