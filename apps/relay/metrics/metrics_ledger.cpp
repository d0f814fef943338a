#include "metrics/metrics_ledger.hpp"

#include <algorithm>
#include <utility>

namespace castor::relay {

namespace {

uint64_t retired_up_to(const retired_by_worker& retired,
                       const std::string& id) {
  auto i = retired.find(id);
  return i == retired.end() ? 0 : i->second.up_to;
}

} // namespace

void worker_ledger::record(const std::string& id, uint64_t incarnation,
                           worker_snapshot snapshot) {
  auto [i, added] = workers_.try_emplace(id);
  auto& e = i->second;
  if (added || incarnation == e.incarnation) {
    e.incarnation = incarnation;
    e.last = std::move(snapshot);
  } else if (incarnation > e.incarnation) {
    // A new incarnation: the old one has stopped.
    e.ended[e.incarnation] = std::move(e.last);
    e.incarnation = incarnation;
    e.last = std::move(snapshot);
  } else {
    // A late answer from an incarnation that has since been replaced.
    e.ended[incarnation] = std::move(snapshot);
  }
}

void worker_ledger::retain(const std::vector<std::string>& ids,
                           const std::vector<std::string>& rules,
                           const retired_by_worker& retired) {
  for (auto i = workers_.begin(); i != workers_.end();) {
    if (std::find(ids.begin(), ids.end(), i->first) == ids.end()) {
      i = workers_.erase(i);
      continue;
    }
    auto& e = i->second;
    const auto up_to = retired_up_to(retired, i->first);
    e.ended.erase(e.ended.begin(), e.ended.upper_bound(up_to));
    // A rule removed and later added again under its name starts from 0,
    // like a new series, rather than from its old totals.
    for (auto& [incarnation, snapshot] : e.ended)
      keep_rules(snapshot, rules);
    ++i;
  }
}

std::vector<worker_snapshot>
worker_ledger::totals(const retired_by_worker& retired) const {
  std::vector<worker_snapshot> out;
  out.reserve(workers_.size());
  for (const auto& [id, e] : workers_) {
    worker_snapshot total;
    const auto r = retired.find(id);
    const auto up_to = r == retired.end() ? 0 : r->second.up_to;
    if (r != retired.end())
      accumulate(total, r->second.sum);
    for (const auto& [incarnation, snapshot] : e.ended)
      if (incarnation > up_to)
        accumulate(total, snapshot);
    // The running incarnation, unless it has stopped too and its final
    // count is already in the sum.
    if (e.incarnation > up_to)
      accumulate(total, e.last);
    total.worker = id;
    total.interface = e.last.interface;
    total.epoch = e.last.epoch;
    total.queued = e.incarnation > up_to ? e.last.queued : 0;
    out.push_back(std::move(total));
  }
  return out;
}

} // namespace castor::relay
