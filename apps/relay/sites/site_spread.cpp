#include "sites/site_spread.hpp"

namespace castor::relay::sites {

std::vector<spread_hop> spread_plan(std::size_t n) {
  std::vector<spread_hop> out;
  std::size_t at = 0;
  while (at < n) {
    // The target and its share take the first half (rounded up) of what is
    // left; the sender keeps the rest, so what is left halves each time.
    auto chunk = (n - at + 1) / 2;
    spread_hop hop;
    hop.target = at;
    for (auto k = at + 1; k < at + chunk; ++k)
      hop.share.push_back(k);
    out.push_back(std::move(hop));
    at += chunk;
  }
  return out;
}

namespace {

void put_name(std::string& out, const std::string& name) {
  auto len = name.size() < 255 ? name.size() : 255;
  out.push_back(static_cast<char>(len));
  out.append(name, 0, len);
}

bool get_name(const uint8_t*& p, const uint8_t* end, std::string& name) {
  if (p == end)
    return false;
  std::size_t len = *p++;
  if (static_cast<std::size_t>(end - p) < len)
    return false;
  name.assign(reinterpret_cast<const char*>(p), len);
  p += len;
  return true;
}

} // namespace

std::string encode_spread(const std::string& origin,
                          const std::vector<std::string>& share) {
  std::string out;
  put_name(out, origin);
  auto n = share.size() < 255 ? share.size() : 255;
  out.push_back(static_cast<char>(n));
  for (std::size_t i = 0; i < n; ++i)
    put_name(out, share[i]);
  return out;
}

bool decode_spread(const uint8_t* block, std::size_t size, std::string& origin,
                   std::vector<std::string>& share) {
  const auto* end = block + size;
  share.clear();
  if (!get_name(block, end, origin) || block == end)
    return false;
  std::size_t n = *block++;
  share.resize(n);
  for (auto& name : share)
    if (!get_name(block, end, name))
      return false;
  return block == end;
}

} // namespace castor::relay::sites
