#include "control/stats_view.hpp"

#include <cstddef>
#include <map>

namespace castor::relay {

control::drop_counts to_drop_counts(const output_drops& x) {
  return {{"queue_full", x.queue_full},
          {"send_error", x.send_error},
          {"too_big", x.too_big},
          {"ttl_expired", x.ttl_expired},
          {"qdisc_drop", x.qdisc_drop}};
}

std::vector<control::rule_stats>
merge_rule_stats(const std::vector<worker_snapshot>& workers,
                 const std::vector<std::string>& order) {
  // Per rule: totals, and its outputs by key in first-seen order.
  worker_snapshot total;
  for (const auto& w : workers)
    accumulate(total, w);
  std::map<std::string, const rule_snapshot*> by_name;
  for (const auto& r : total.rules)
    by_name[r.name] = &r;
  std::vector<control::rule_stats> out;
  out.reserve(order.size());
  for (const auto& name : order) {
    control::rule_stats rs;
    rs.name = name;
    auto i = by_name.find(name);
    if (i != by_name.end()) {
      rs.packets = i->second->packets;
      rs.bytes = i->second->bytes;
      // A rule's drops are those of its outputs: one datagram dropped on
      // two outputs counts twice, once per copy that did not leave.
      output_drops total;
      for (const auto& o : i->second->outputs) {
        accumulate(total, o.drops);
        control::output_stats os;
        os.interface = o.interface;
        os.address = o.address;
        os.port = o.port;
        os.packets = o.packets;
        os.bytes = o.bytes;
        os.drops = to_drop_counts(o.drops);
        os.state = o.state;
        rs.outputs.push_back(std::move(os));
      }
      rs.drops = to_drop_counts(total);
    }
    out.push_back(std::move(rs));
  }
  return out;
}

nlohmann::json
merge_ingress_stats(const std::vector<worker_snapshot>& workers) {
  ingress_snapshot total;
  for (const auto& w : workers) {
    total.frames += w.ingress.frames;
    total.no_rule += w.ingress.no_rule;
    total.kernel_drops += w.ingress.kernel_drops;
    for (std::size_t i = 0; i < packet::drop_reason_count; ++i)
      total.malformed[i] += w.ingress.malformed[i];
  }
  auto malformed = nlohmann::json::object();
  for (std::size_t i = 0; i < packet::drop_reason_count; ++i)
    malformed[std::string{packet::to_string(
      static_cast<packet::drop_reason>(i))}] = total.malformed[i];
  return {{"frames", total.frames},
          {"no_rule", total.no_rule},
          {"kernel_drops", total.kernel_drops},
          {"malformed", std::move(malformed)}};
}

} // namespace castor::relay
