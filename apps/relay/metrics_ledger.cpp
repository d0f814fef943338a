#include "metrics_ledger.hpp"

#include <algorithm>
#include <utility>

namespace castor::relay {

void worker_ledger::record(const std::string& id, uint64_t incarnation,
                           worker_snapshot snapshot) {
  auto [i, added] = workers_.try_emplace(id);
  auto& e = i->second;
  if (!added && e.incarnation != incarnation)
    accumulate(e.retired, e.last);
  e.incarnation = incarnation;
  e.last = std::move(snapshot);
}

void worker_ledger::retain(const std::vector<std::string>& ids,
                           const std::vector<std::string>& rules) {
  for (auto i = workers_.begin(); i != workers_.end();) {
    if (std::find(ids.begin(), ids.end(), i->first) == ids.end()) {
      i = workers_.erase(i);
      continue;
    }
    // A rule removed and later added again under its name starts from 0,
    // like a new series, rather than from its old totals.
    keep_rules(i->second.retired, rules);
    ++i;
  }
}

std::vector<worker_snapshot> worker_ledger::totals() const {
  std::vector<worker_snapshot> out;
  out.reserve(workers_.size());
  for (const auto& [id, e] : workers_) {
    auto total = e.retired;
    accumulate(total, e.last);
    total.worker = id;
    total.interface = e.last.interface;
    total.epoch = e.last.epoch;
    total.queued = e.last.queued;
    out.push_back(std::move(total));
  }
  return out;
}

} // namespace castor::relay
