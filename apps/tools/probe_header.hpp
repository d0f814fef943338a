#pragma once

// The header castor-send writes at the start of every datagram and
// castor-recv reads back. The rest of the datagram, up to --size, is zero
// padding.
//
//   offset  size  field
//        0     4  magic "CSTR" (0x43535452), big-endian
//        4     4  stream id, big-endian
//        8     8  sequence number within the stream, from 0, big-endian
//       16     8  send time, CLOCK_MONOTONIC in ns, big-endian
//
// Network byte order so that a capture (tcpdump -X) reads naturally. The
// timestamp is only comparable between processes that share a monotonic
// clock: sender and receiver on one host, in different network namespaces,
// which is how the tests and the benchmark run.

#include <cstddef>
#include <cstdint>
#include <optional>

namespace castor::tools {

constexpr uint32_t probe_magic = 0x43535452; // "CSTR"
constexpr std::size_t probe_header_size = 24;

struct probe_header {
  uint32_t stream = 0;
  uint64_t sequence = 0;
  uint64_t sent_ns = 0;
};

/// Writes the header into `out`, which has room for probe_header_size bytes.
void write_probe_header(const probe_header& header, uint8_t* out) noexcept;

/// The header of a datagram, or nothing if it is too short or lacks the
/// magic (someone else's traffic on the same group).
std::optional<probe_header> read_probe_header(const uint8_t* data,
                                              std::size_t size) noexcept;

/// CLOCK_MONOTONIC now, in ns: the clock of probe_header::sent_ns.
uint64_t monotonic_ns() noexcept;

} // namespace castor::tools
