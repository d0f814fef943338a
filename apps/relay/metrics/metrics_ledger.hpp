#pragma once

// Keeps the relay's counters monotonic and exact across forwarder restarts,
// which a Prometheus counter must be: a forwarder counts in its own loop
// from 0, so after a restart (or while one is restarting and cannot answer)
// the plain sum over running workers would fall, and rate() would read the
// fall as a reset and count the whole remaining total again as new traffic.
//
// Per worker id (fwd-eth0-1) the ledger keeps the last snapshot each
// incarnation (actor id) answered a gather with. The stopped incarnations'
// exact final counts come from relay_context (retired_counts, recorded as
// each forwarder stops), so what an incarnation counted after its last
// gather is not lost. Until an incarnation's final count is in, its last
// gathered snapshot stands in for it; a worker that does not answer keeps
// its last snapshot.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/counters.hpp"

namespace castor::relay {

class worker_ledger {
public:
  /// The snapshot worker `id` answered with, from its incarnation
  /// `incarnation` (its actor id).
  void record(const std::string& id, uint64_t incarnation,
              worker_snapshot snapshot);

  /// Forgets workers not in `ids` (their interface has no rule any more),
  /// counters of rules not in `rules` (removed rules), and stand-ins for
  /// incarnations whose final counts are in `retired`.
  void retain(const std::vector<std::string>& ids,
              const std::vector<std::string>& rules,
              const retired_by_worker& retired);

  /// One snapshot per worker, in id order: its stopped incarnations'
  /// final counts from `retired`, plus the running one's (and the last
  /// snapshot of any stopped one whose final count is not in yet); the
  /// current queue depth.
  std::vector<worker_snapshot> totals(const retired_by_worker& retired) const;

private:
  struct entry {
    uint64_t incarnation = 0; ///< the newest incarnation heard from
    worker_snapshot last;
    /// Older incarnations' last snapshots, by actor id, until their final
    /// counts arrive in `retired`.
    std::map<uint64_t, worker_snapshot> ended;
  };
  std::map<std::string, entry> workers_;
};

} // namespace castor::relay
