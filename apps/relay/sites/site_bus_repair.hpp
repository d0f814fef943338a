#pragma once

// A designated local repairer for castor::bus topics that an import brings
// from another site (docs/bus.md, "Across subnets"; PGM's DLR, RFC 3208
// §11, and NORM's repair proxies). CAF-free and socket-free: the engine
// thread (site_lan.cpp) feeds it and sends what it answers.
//
// A subscriber NAKs the source of the datagrams it hears. Behind an
// importing relay that source is the relay's output socket, not the
// publisher, so without a repairer a loss on the link or on this site's
// LAN ends as a gap notice. With one (`input.repair = "bus"`):
//
//   keep     every bus data datagram this site emits for the import is
//            kept in a ring per publisher (origin), by sequence number
//   answer   a NAK on the output socket is confirmed with an NCF on the
//            group (the publisher's suppression, so the other subscribers
//            here hold back theirs) and repaired from the ring, repair
//            flag set, to the group
//   upstream what the ring lacks (lost on the link, or older than the
//            ring) is NAKed to the exporting site, which hands the NAK to
//            the publisher; its repair comes back over the link like any
//            datagram of the group, and is kept and emitted here
//
// Holdoffs keep a burst of NAKs from several subscribers to one repair per
// datagram and one upstream NAK per range and round trip.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "castor/bus/token_bucket.hpp"

namespace castor::relay::sites {

struct bus_repair_stats {
  uint64_t kept = 0;     ///< data datagrams stored
  uint64_t naks = 0;     ///< NAKs from subscribers
  uint64_t repairs = 0;  ///< datagrams re-sent from the ring
  uint64_t upstream = 0; ///< NAK ranges sent on to the exporting site
  /// A datagram on the output socket that is no NAK, or does not parse.
  uint64_t malformed = 0;
  /// A NAK for a publisher or session this site has not carried (or has
  /// forgotten): not answered.
  uint64_t unknown = 0;
  /// Data datagrams not kept: larger than limits::max_datagram, or no
  /// room in limits::bytes with no other publisher to evict.
  uint64_t not_kept = 0;
  /// Repairs held back by limits::repair_rate: NAKed again later.
  uint64_t limited = 0;
};

class bus_repairer {
public:
  using clock = std::chrono::steady_clock;

  struct limits {
    /// Datagrams kept per publisher. At 1,300 datagrams/s (50k small
    /// messages/s) 8192 cover six seconds; at 100k, 80 ms, which is
    /// still several round trips of a LAN repair.
    std::size_t ring = 8192;
    /// Publishers (origins) tracked at once; the least recently heard
    /// goes first.
    std::size_t publishers = 64;
    /// A datagram is repaired again no sooner (NORM's holdoff): the NAKs
    /// of several subscribers for one loss cost one repair.
    clock::duration repair_holdoff = std::chrono::milliseconds{2};
    /// A missing datagram is asked upstream again no sooner: about the
    /// subscribers' NAK repeat, so each repeat may ask once more.
    clock::duration upstream_holdoff = std::chrono::milliseconds{15};
    /// The most of one NAK's range answered (as publisher_core does): a
    /// lagging subscriber NAKs the rest again.
    uint32_t max_per_nak = 1024;
    /// The buffers of all rings together, in bytes: a new publisher, or a
    /// ring's first round, that needs more evicts the least recently
    /// heard other publisher. 8192 datagrams of 1472 B are 12 MB.
    std::size_t bytes = std::size_t{64} << 20;
    /// Datagrams larger than this are not kept (bus datagrams fit the
    /// path MTU; a jumbo frame's 9000 B is the most expected).
    std::size_t max_datagram = 9216;
    /// Repairs sent, in bytes/s up to a burst (as the publisher's
    /// repair_rate): a host that floods the output socket with NAKs
    /// cannot make this site flood its LAN. 0: unlimited.
    uint64_t repair_rate = 25 << 20;
    uint64_t repair_burst = 1 << 20;
  };

  /// What to send for one NAK.
  struct answer {
    /// To the group, from the output socket: each points into the ring
    /// (valid until the next keep()), repair flag set.
    std::vector<std::pair<const uint8_t*, std::size_t>> repairs;
    /// To the group: an NCF for the range answered; empty if none.
    std::vector<uint8_t> ncf;
    /// Bus NAK datagrams for the exporting site, one per missing range.
    std::vector<std::vector<uint8_t>> upstream;

    void clear() {
      repairs.clear();
      ncf.clear();
      upstream.clear();
    }
  };

  bus_repairer();
  explicit bus_repairer(limits l);

  /// A datagram this site emitted for the import: kept if it is bus data
  /// (anything else is left alone). The hot path: a header check, a
  /// lookup that is cached for one publisher, and a copy into a slot
  /// whose buffer is reused.
  void keep(const uint8_t* data, std::size_t len);

  /// A datagram a subscriber sent to the import's output socket: false
  /// (and counted) if it is no NAK; otherwise `out` says what to send.
  bool on_nak(const uint8_t* data, std::size_t len, clock::time_point now,
              answer& out);

  const bus_repair_stats& stats() const noexcept { return stats_; }

private:
  struct slot {
    uint64_t seq = 0; ///< 0: empty (sequence numbers start at 1)
    clock::time_point repaired{};
    std::vector<uint8_t> bytes;
  };
  struct stream {
    uint32_t session = 0;
    uint64_t heard = 0; ///< keep()'s counter when last heard: eviction
    std::vector<slot> slots;
    /// Missing numbers asked upstream, and when; pruned by age now and
    /// then (pruned_at), and by size always.
    std::map<uint64_t, clock::time_point> asked;
    clock::time_point pruned_at{};
  };

  stream* find(uint64_t origin, uint32_t session, bool start);
  /// Evicts the least recently heard publisher other than `keep`; false if
  /// there is none.
  bool evict_other(const stream* keep);
  /// Gives a stream's buffers back to the byte budget.
  void release(stream& s);

  limits limits_;
  bus_repair_stats stats_;
  castor::bus::token_bucket bucket_;
  /// What the slots' buffers hold (their capacities), against limits.bytes.
  std::size_t bytes_ = 0;
  std::map<uint64_t, stream> streams_;
  uint64_t ticks_ = 0;
  /// The last publisher kept: a topic usually has one.
  uint64_t last_origin_ = 0;
  stream* last_ = nullptr;
};

} // namespace castor::relay::sites
