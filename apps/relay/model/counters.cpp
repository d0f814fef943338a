#include "model/counters.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace castor::relay {

void accumulate(output_drops& into, const output_drops& from) {
  into.queue_full += from.queue_full;
  into.send_error += from.send_error;
  into.too_big += from.too_big;
  into.ttl_expired += from.ttl_expired;
  into.qdisc_drop += from.qdisc_drop;
}

void accumulate(worker_snapshot& into, const worker_snapshot& from) {
  // Rules by name through an index: snapshots of 10,000 rules are merged
  // on every stats request and metrics scrape.
  // Reserved first, so that the names the index points into never move.
  into.rules.reserve(into.rules.size() + from.rules.size());
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(into.rules.capacity());
  for (std::size_t i = 0; i < into.rules.size(); ++i)
    index.emplace(into.rules[i].name, i);
  for (const auto& r : from.rules) {
    auto found = index.find(r.name);
    if (found == index.end()) {
      into.rules.push_back(r);
      index.emplace(into.rules.back().name, into.rules.size() - 1);
      continue;
    }
    auto* m = &into.rules[found->second];
    m->packets += r.packets;
    m->bytes += r.bytes;
    for (const auto& o : r.outputs) {
      auto i = std::find_if(m->outputs.begin(), m->outputs.end(),
                            [&](const auto& x) { return x.key == o.key; });
      if (i == m->outputs.end()) {
        m->outputs.push_back(o);
        continue;
      }
      i->packets += o.packets;
      i->bytes += o.bytes;
      accumulate(i->drops, o.drops);
      if (i->state.empty()) // the first worker's view (running before retired)
        i->state = o.state;
    }
  }
  into.output_links.insert(from.output_links.begin(), from.output_links.end());
  into.ingress.frames += from.ingress.frames;
  into.ingress.no_rule += from.ingress.no_rule;
  into.ingress.kernel_drops += from.ingress.kernel_drops;
  for (std::size_t i = 0; i < packet::drop_reason_count; ++i)
    into.ingress.malformed[i] += from.ingress.malformed[i];
}

void keep_rules(worker_snapshot& x, const std::vector<std::string>& keep) {
  const std::unordered_set<std::string_view> kept(keep.begin(), keep.end());
  x.rules.erase(std::remove_if(x.rules.begin(), x.rules.end(),
                               [&](const rule_snapshot& r) {
                                 return kept.count(r.name) == 0;
                               }),
                x.rules.end());
}

} // namespace castor::relay
