#include "castor/bus/topic_map.hpp"

namespace castor::bus {

uint32_t topic_hash(const std::string& topic) noexcept {
  uint32_t h = 2166136261u;
  for (unsigned char c : topic) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::string check_group(const ip_address& group) {
  auto text = group.to_string();
  if (!group.is_multicast())
    return text + " is not a multicast group ("
           + (group.is_v4() ? "224.0.0.0/4" : "ff00::/8") + ")";
  if (group.is_v6()) {
    auto scope = group.v6_scope();
    if (scope == 0 || scope == 15)
      return text + " is a group of reserved scope " + std::to_string(scope);
    if (group.is_v6_ssm())
      return text
             + " is a source-specific multicast group (ff3x::/32, RFC 4607), "
               "which the bus cannot join any-source; use ff18::/16, ff1e::/16 "
               "or a unicast-prefix-based group (ff3e:40:PREFIX::, RFC 3306)";
  }
  return {};
}

std::string parse_group_port(const std::string& text, ip_address& group,
                             uint16_t& port) {
  std::string addr;
  std::string digits;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size()
        || text[close + 1] != ':')
      return "'" + text + "' is not [GROUP]:PORT";
    addr = text.substr(1, close - 1);
    digits = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return "'" + text + "' has no :PORT";
    addr = text.substr(0, colon);
    digits = text.substr(colon + 1);
    if (addr.find(':') != std::string::npos)
      return "'" + text + "': an IPv6 group goes in brackets, [GROUP]:PORT";
  }
  auto parsed = ip_address::parse(addr);
  if (!parsed)
    return "'" + addr + "' is not an IPv4 or IPv6 address";
  if (digits.empty() || digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos
      || std::stoul(digits) == 0 || std::stoul(digits) > 65535)
    return "'" + digits + "' is not a port (1..65535)";
  if (auto why = check_group(*parsed); !why.empty())
    return why;
  group = *parsed;
  port = static_cast<uint16_t>(std::stoul(digits));
  return {};
}

ip_address topic_map::default_base6() noexcept {
  return ip_address::v6({0xff, 0x18});
}

ip_address topic_map::default_discovery_group6() noexcept {
  return ip_address::v6(
    {0xff, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x4d});
}

topic_map::topic_map(ip_family f) {
  if (f == ip_family::v6)
    base_ = default_base6();
}

topic_map::topic_map(const ip_address& base, uint16_t port) : port_(port) {
  // Keep the prefix only: the /16 of IPv4, the /96 of IPv6.
  auto b = base.bytes();
  auto keep = base.is_v4() ? size_t{2} : size_t{12};
  for (auto i = keep; i < b.size(); ++i)
    b[i] = 0;
  base_ = base.is_v4()
            ? ip_address::v4((uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16))
            : ip_address::v6(b);
}

void topic_map::set(const std::string& topic, const ip_address& group,
                    uint16_t port, bool raw) {
  explicit_[topic] = topic_endpoint{topic, group, port, raw, topic_hash(topic)};
}

void topic_map::set_discovery(const ip_address& group, uint16_t port) {
  if (group.is_v6()) {
    discovery6_ = group;
    discovery_port6_ = port;
  } else {
    discovery4_ = group;
    discovery_port4_ = port;
  }
}

std::string topic_map::add_entry(const std::string& entry) {
  auto eq = entry.find('=');
  if (eq == std::string::npos || eq == 0)
    return "'" + entry + "' is not TOPIC=GROUP:PORT[,raw]";
  auto topic = entry.substr(0, eq);
  auto rest = entry.substr(eq + 1);
  bool raw = false;
  if (auto comma = rest.find(','); comma != std::string::npos) {
    if (rest.substr(comma + 1) != "raw")
      return "'" + rest.substr(comma + 1) + "' is not a flag (want ,raw)";
    raw = true;
    rest.resize(comma);
  }
  ip_address group;
  uint16_t port = 0;
  if (auto why = parse_group_port(rest, group, port); !why.empty())
    return why;
  set(topic, group, port, raw);
  return {};
}

topic_endpoint topic_map::resolve(const std::string& topic) const {
  if (auto i = explicit_.find(topic); i != explicit_.end())
    return i->second;
  auto h = topic_hash(topic);
  if (base_.is_v6()) {
    // The group ID: RFC 3307's dynamic range, 31 bits of the hash.
    auto id = 0x80000000u | (h & 0x7fffffffu);
    auto b = base_.bytes();
    for (int i = 0; i < 4; ++i)
      b[static_cast<size_t>(12 + i)] = static_cast<uint8_t>(id >> (24 - 8 * i));
    return topic_endpoint{topic, ip_address::v6(b), port_, false, h};
  }
  // Fold the hash to 16 bits; keep off .0.0 and .255.255.
  auto low = static_cast<uint16_t>((h >> 16) ^ h);
  if (low == 0 || low == 0xffff)
    low = 1;
  return topic_endpoint{topic, ip_address::v4(base_.to_v4() | low), port_,
                        false, h};
}

} // namespace castor::bus
