#pragma once

// What the two experiments of bench_socket share: the receive buffer every
// receiver gets, a bound loopback socket, and recvmmsg's buffers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>

#include <sys/socket.h>

#include "castor/net/io_shards.hpp"
#include "castor/net/udp_socket.hpp"

namespace castor::bench {

// Big enough to hold a whole drain batch; needs root (SO_RCVBUFFORCE),
// otherwise the kernel clamps it and the drain batch shrinks to fit.
constexpr int rcvbuf_bytes = 64 << 20;

/// A loopback UDP socket with rcvbuf_bytes of buffer, bound to a free port
/// (written to `ep`).
int bound_socket(net::udp_endpoint& ep);

/// recvmmsg's message array over `vlen` slots of 2048 bytes.
struct mmsg_buffers {
  explicit mmsg_buffers(size_t vlen);
  std::vector<uint8_t> data;
  std::vector<iovec> iov;
  std::vector<mmsghdr> msgs;
};

/// Median of `xs` (the upper one for an even count).
double median(std::vector<double> xs);

// -- drain: each receiver empties a buffer pre-filled with k datagrams ------
// Each returns datagrams per second, or 0 when it did not take all k.

/// Fills a fresh socket with `k` and drains it with recvmmsg until empty.
/// Returns {datagrams/s, datagrams that fit in the buffer}.
std::pair<double, uint64_t> drain_raw_recvmmsg(size_t payload, uint64_t k);

double drain_raw_asio(size_t payload, uint64_t k);

/// Who owns the castor socket: an actor on CAF's scheduler (open_udp) or
/// one on the socket's own shard (open_udp_on_shard).
enum class owner_kind { scheduled, on_shard };

/// The row label of each kind.
const char* owner_name(owner_kind kind);

double drain_castor(caf::actor_system& sys, net::io_shards& shards,
                    size_t payload, int32_t credit, uint64_t k,
                    owner_kind kind);

/// Erlang/OTP's gen_udp with {active, once} (credit 1) or {active, N}, in
/// erlang_udp.escript; nullopt when escript is not installed.
std::optional<double> drain_erlang(size_t payload, int32_t credit, uint64_t k);

} // namespace castor::bench
