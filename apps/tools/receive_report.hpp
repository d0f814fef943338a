#pragma once

// castor-recv's accounting over all streams, and its three renderings:
//   - a table per stream plus a total row, for people;
//   - one `summary key=value ...` line, for shell scripts (the integration
//     tests and bench/relay read it with sed);
//   - JSON (--json), for everything else.
//
// Streams are told apart by the stream id in the probe header, not by the
// socket they arrive on, so one receiver can count a relay's fan-out of
// several inputs onto one group.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "stream_accounting.hpp"
#include <nlohmann/json.hpp>

namespace castor::tools {

/// What the receiver was told to expect; zeros mean "unknown".
struct expectation {
  /// Distinct stream ids; streams never seen count as wholly lost when
  /// per_stream is known.
  uint32_t streams = 0;
  /// Datagrams per stream.
  uint64_t per_stream = 0;
};

struct stream_row {
  uint32_t stream = 0;
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t duplicates = 0;
  uint64_t reordered = 0;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t max_ns = 0;
};

struct report_totals {
  stream_row all; ///< `stream` is the number of streams seen
  uint32_t missing_streams = 0;
  uint64_t foreign = 0;      ///< datagrams without a probe header
  uint64_t out_of_range = 0; ///< sequence numbers beyond the bitmap
  double seconds = 0;        ///< first to last arrival
  double pps = 0;            ///< received / seconds
};

class receive_report {
public:
  /// One datagram's header: stream, sequence, and its latency.
  void record(uint32_t stream, uint64_t sequence, uint64_t latency_ns,
              uint64_t now_ns);
  /// A datagram that is not ours.
  void record_foreign() noexcept { ++foreign_; }

  /// True once `expect` is fully met: every expected stream seen with all
  /// its datagrams. Needs both members of `expect` set.
  bool complete(const expectation& expect) const noexcept;

  std::vector<stream_row> rows(const expectation& expect) const;
  report_totals totals(const expectation& expect) const;

  std::string table(const expectation& expect) const;
  std::string summary_line(const expectation& expect) const;
  nlohmann::json to_json(const expectation& expect) const;

  uint64_t datagrams() const noexcept { return datagrams_; }

private:
  std::unordered_map<uint32_t, stream_accounting> streams_;
  uint64_t datagrams_ = 0;
  uint64_t foreign_ = 0;
  uint64_t first_ns_ = 0;
  uint64_t last_ns_ = 0;
};

} // namespace castor::tools
