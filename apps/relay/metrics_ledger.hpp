#pragma once

// Keeps the relay's counters monotonic across forwarder restarts, which a
// Prometheus counter must be: a forwarder counts in its own loop from 0, so
// after a restart (or while one is restarting and cannot answer) the plain
// sum over running workers would fall, and rate() would read the fall as a
// reset and count the whole remaining total again as new traffic.
//
// Per worker id (fwd-eth0-1) the ledger keeps the last snapshot of the
// running incarnation and the sum of the final snapshots of the previous
// ones. A worker that does not answer keeps its last snapshot; a new
// incarnation (another actor id) retires the old one's last snapshot into
// the sum. What an incarnation counted after its last gather and before it
// died is lost; everything else is counted once.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "counters.hpp"

namespace castor::relay {

class worker_ledger {
public:
  /// The snapshot worker `id` answered with, from its incarnation
  /// `incarnation` (its actor id).
  void record(const std::string& id, uint64_t incarnation,
              worker_snapshot snapshot);

  /// Forgets workers not in `ids` (their interface has no rule any more)
  /// and retired counters of rules not in `rules` (removed rules).
  void retain(const std::vector<std::string>& ids,
              const std::vector<std::string>& rules);

  /// One snapshot per worker, in id order: retired plus current counters,
  /// the current queue depth.
  std::vector<worker_snapshot> totals() const;

private:
  struct entry {
    uint64_t incarnation = 0;
    worker_snapshot last;
    worker_snapshot retired;
  };
  std::map<std::string, entry> workers_;
};

} // namespace castor::relay
