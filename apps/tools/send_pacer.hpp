#pragma once

// Rate pacing for castor-send, as arithmetic on a start time so that it
// never drifts: by time t the sender may have sent floor((t - start) * rate)
// + 1 datagrams. On virtual machines a timer wake-up costs more CPU than
// sending a datagram, so waking once per datagram caps the rate the
// generator reaches; the sender therefore sleeps until a batch worth at
// least min_gap of traffic is due, then sends it with one sendmmsg. At
// 100 kpps and the default 50 us gap that is 5 datagrams per wake-up, each
// stamped with its own send time.

#include <cstdint>

namespace castor::tools {

class send_pacer {
public:
  /// rate_pps == 0: no pacing, every call allows a full batch.
  send_pacer(double rate_pps, uint64_t start_ns, unsigned max_batch,
             uint64_t min_gap_ns = 50'000) noexcept;

  /// How many datagrams may go at now_ns when `sent` have gone: 0 up to
  /// max_batch.
  unsigned allowed(uint64_t now_ns, uint64_t sent) const noexcept;

  /// When the next batch is due, given `sent`; only meaningful if paced.
  uint64_t wake_at(uint64_t sent) const noexcept;

  bool paced() const noexcept { return rate_ > 0; }

private:
  double rate_;
  uint64_t start_;
  unsigned max_batch_;
  uint64_t batch_; ///< datagrams to wait for between wake-ups, >= 1
};

} // namespace castor::tools
