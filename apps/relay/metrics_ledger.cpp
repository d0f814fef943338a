#include "metrics_ledger.hpp"

#include <algorithm>
#include <utility>

namespace castor::relay {

namespace {

void add_counts(output_snapshot& acc, const output_snapshot& x) {
  acc.packets += x.packets;
  acc.bytes += x.bytes;
  acc.drops.queue_full += x.drops.queue_full;
  acc.drops.send_error += x.drops.send_error;
  acc.drops.too_big += x.drops.too_big;
}

void add_counts(rule_snapshot& acc, const rule_snapshot& x) {
  acc.packets += x.packets;
  acc.bytes += x.bytes;
  for (const auto& o : x.outputs) {
    auto i = std::find_if(acc.outputs.begin(), acc.outputs.end(),
                          [&](const auto& y) { return y.key == o.key; });
    if (i == acc.outputs.end())
      acc.outputs.push_back(o);
    else
      add_counts(*i, o);
  }
}

/// Adds `x`'s counters to `acc`: rules by name, outputs by key, ingress
/// field by field. `queued` is a level, not a count, and stays as in `acc`.
void add_counts(worker_snapshot& acc, const worker_snapshot& x) {
  if (acc.worker.empty()) {
    acc.worker = x.worker;
    acc.interface = x.interface;
  }
  for (const auto& r : x.rules) {
    auto i = std::find_if(acc.rules.begin(), acc.rules.end(),
                          [&](const auto& y) { return y.name == r.name; });
    if (i == acc.rules.end())
      acc.rules.push_back(r);
    else
      add_counts(*i, r);
  }
  acc.ingress.frames += x.ingress.frames;
  acc.ingress.no_rule += x.ingress.no_rule;
  acc.ingress.kernel_drops += x.ingress.kernel_drops;
  for (std::size_t i = 0; i < acc.ingress.malformed.size(); ++i)
    acc.ingress.malformed[i] += x.ingress.malformed[i];
}

} // namespace

void worker_ledger::record(const std::string& id, uint64_t incarnation,
                           worker_snapshot snapshot) {
  auto [i, added] = workers_.try_emplace(id);
  auto& e = i->second;
  if (!added && e.incarnation != incarnation)
    add_counts(e.retired, e.last);
  e.incarnation = incarnation;
  e.last = std::move(snapshot);
}

void worker_ledger::retain(const std::vector<std::string>& ids,
                           const std::vector<std::string>& rules) {
  auto listed = [](const std::vector<std::string>& xs, const std::string& x) {
    return std::find(xs.begin(), xs.end(), x) != xs.end();
  };
  for (auto i = workers_.begin(); i != workers_.end();) {
    if (!listed(ids, i->first)) {
      i = workers_.erase(i);
      continue;
    }
    // A rule removed and later added again under its name starts from 0,
    // like a new series, rather than from its old totals.
    auto& retired = i->second.retired.rules;
    retired.erase(std::remove_if(retired.begin(), retired.end(),
                                 [&](const rule_snapshot& r) {
                                   return !listed(rules, r.name);
                                 }),
                  retired.end());
    ++i;
  }
}

std::vector<worker_snapshot> worker_ledger::totals() const {
  std::vector<worker_snapshot> out;
  out.reserve(workers_.size());
  for (const auto& [id, e] : workers_) {
    auto total = e.retired;
    add_counts(total, e.last);
    total.worker = id;
    total.interface = e.last.interface;
    total.epoch = e.last.epoch;
    total.queued = e.last.queued;
    out.push_back(std::move(total));
  }
  return out;
}

} // namespace castor::relay
