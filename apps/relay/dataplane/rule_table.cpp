#include "dataplane/rule_table.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include <endian.h>
#include <net/if.h>

#include "castor/packet/udp_egress.hpp"

namespace castor::relay {

unsigned resolve_interface_index(const std::string& name) {
  return ::if_nametoindex(name.c_str());
}

egress_key egress_for(const relay::rule_output& o, unsigned ifindex) {
  const auto s = egress_settings_of(o);
  egress_key key;
  key.ifindex = ifindex;
  key.ttl = s.ttl;
  key.tos = s.tos;
  key.marks = s.marks;
  key.source_port = s.source_port;
  key.ipv6 = o.address.v6;
  return key;
}

std::shared_ptr<const rule_table>
rule_table::build(const std::vector<relay::rule>& rules,
                  const std::string& interface, uint64_t epoch,
                  const interface_resolver& resolve) {
  auto t = std::make_shared<rule_table>();
  t->interface_ = interface;
  t->epoch_ = epoch;
  // One lookup per output interface, not per output: a table of 10,000
  // rules is rebuilt on every change.
  std::map<std::string, unsigned> indexes;
  auto index_of = [&](const std::string& name) {
    auto i = indexes.find(name);
    if (i == indexes.end())
      i = indexes.emplace(name, resolve(name)).first;
    return i->second;
  };
  for (const auto& r : rules) {
    if (r.input.interface != interface)
      continue;
    const auto index = static_cast<uint32_t>(t->rules_.size());
    table_rule tr;
    tr.spec = r;
    tr.first_output = static_cast<uint32_t>(t->outputs_.size());
    tr.output_count = static_cast<uint32_t>(r.outputs.size());
    for (const auto& o : r.outputs) {
      table_output out;
      out.spec = o;
      out.key = r.name + "|" + o.address.to_string() + ":"
                + std::to_string(o.port) + "@" + o.interface;
      const auto key = egress_for(o, index_of(o.interface));
      // A link-local unicast destination needs its interface as scope.
      out.destination =
        o.address.v6 ? packet::destination{packet::make_destination6(
          o.address.bytes, o.port,
          o.address.is_link_local_unicast6() ? key.ifindex : 0)}
                     : packet::destination{
                       packet::make_destination(o.address.v4_be(), o.port)};
      out.usable = key.ifindex != 0;
      if (out.usable) {
        auto i = std::find(t->egresses_.begin(), t->egresses_.end(), key);
        out.egress = static_cast<uint32_t>(i - t->egresses_.begin());
        if (i == t->egresses_.end())
          t->egresses_.push_back(key);
      }
      t->outputs_.push_back(std::move(out));
    }
    t->rules_.push_back(std::move(tr));
    if (r.input.group.v6)
      t->entries6_.push_back(entry6{
        to_words(r.input.group.bytes), r.input.port, r.input.source.has_value(),
        r.input.source ? to_words(r.input.source->bytes) : words6{}, index});
    else
      t->entries_.push_back(
        entry{r.input.group.v4_be(), r.input.port, r.input.source.has_value(),
              r.input.source ? r.input.source->v4_be() : 0, index});
  }
  std::sort(
    t->entries6_.begin(), t->entries6_.end(),
    [](const entry6& x, const entry6& y) {
      return std::make_tuple(x.group.hi, x.group.lo, x.port, !x.source_specific,
                             x.source.hi, x.source.lo)
             < std::make_tuple(y.group.hi, y.group.lo, y.port,
                               !y.source_specific, y.source.hi, y.source.lo);
    });
  // Within one (group, port), source-specific entries come first so that
  // find() meets a matching (S,G) before the any-source fallback.
  std::sort(t->entries_.begin(), t->entries_.end(),
            [](const entry& x, const entry& y) {
              return std::make_tuple(x.group_be, x.port, !x.source_specific,
                                     x.source_be)
                     < std::make_tuple(y.group_be, y.port, !y.source_specific,
                                       y.source_be);
            });
  return t;
}

std::shared_ptr<const rule_table>
rule_table::rebuilt(const interface_resolver& resolve) const {
  std::vector<relay::rule> rules;
  rules.reserve(rules_.size());
  for (const auto& r : rules_)
    rules.push_back(r.spec);
  return build(rules, interface_, epoch_, resolve);
}

uint32_t rule_table::find(uint32_t dst_be, uint16_t dst_port,
                          uint32_t src_be) const noexcept {
  auto i = std::lower_bound(
    entries_.begin(), entries_.end(), std::make_pair(dst_be, dst_port),
    [](const entry& e, std::pair<uint32_t, uint16_t> k) {
      return std::make_pair(e.group_be, e.port) < k;
    });
  for (; i != entries_.end() && i->group_be == dst_be && i->port == dst_port;
       ++i)
    if (!i->source_specific || i->source_be == src_be)
      return i->rule;
  return no_rule;
}

rule_table::words6
rule_table::to_words(const std::array<uint8_t, 16>& a) noexcept {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::memcpy(&hi, a.data(), sizeof hi);
  std::memcpy(&lo, a.data() + 8, sizeof lo);
  return {be64toh(hi), be64toh(lo)};
}

std::array<uint8_t, 16> rule_table::to_bytes(words6 w) noexcept {
  std::array<uint8_t, 16> a{};
  const uint64_t hi = htobe64(w.hi);
  const uint64_t lo = htobe64(w.lo);
  std::memcpy(a.data(), &hi, sizeof hi);
  std::memcpy(a.data() + 8, &lo, sizeof lo);
  return a;
}

uint32_t rule_table::find6(const std::array<uint8_t, 16>& dst,
                           uint16_t dst_port,
                           const std::array<uint8_t, 16>& src) const noexcept {
  const words6 group = to_words(dst);
  auto i = std::lower_bound(
    entries6_.begin(), entries6_.end(),
    std::make_tuple(group.hi, group.lo, dst_port),
    [](const entry6& e, const std::tuple<uint64_t, uint64_t, uint16_t>& k) {
      return std::make_tuple(e.group.hi, e.group.lo, e.port) < k;
    });
  if (i == entries6_.end() || !(i->group == group) || i->port != dst_port)
    return no_rule;
  const words6 source = to_words(src);
  for (; i != entries6_.end() && i->group == group && i->port == dst_port; ++i)
    if (!i->source_specific || i->source == source)
      return i->rule;
  return no_rule;
}

std::vector<packet::filter_match6> rule_table::filter_matches6() const {
  std::vector<packet::filter_match6> out;
  out.reserve(entries6_.size());
  for (const auto& e : entries6_) {
    packet::filter_match6 m;
    m.group = to_bytes(e.group);
    m.port = e.port;
    if (e.source_specific)
      m.source = to_bytes(e.source);
    out.push_back(m);
  }
  return out;
}

std::vector<packet::filter_match> rule_table::filter_matches() const {
  std::vector<packet::filter_match> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) {
    packet::filter_match m;
    m.group_be = e.group_be;
    m.port = e.port;
    if (e.source_specific)
      m.source_be = e.source_be;
    out.push_back(m);
  }
  return out;
}

} // namespace castor::relay
