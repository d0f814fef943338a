#pragma once

// The relay's AF_PACKET ingress: one socket per forwarder, all forwarders of
// an input interface in one PACKET_FANOUT group, so the kernel spreads
// frames over them with no duplicates. PACKET_FANOUT_HASH keeps every flow
// (addresses and ports) on one socket, and so in order.
//
// Life of a socket (the order matters; see ingress_socket.cpp):
//   socket(AF_PACKET, SOCK_DGRAM, protocol 0)  receives nothing yet
//   SO_ATTACH_FILTER                            the rules, before any frame
//   TPACKET_V3 ring, or SO_RCVBUFFORCE          receive path
//   bind(ETH_P_IP, ifindex)                     frames start to arrive
//   PACKET_FANOUT                               join the group
// SOCK_DGRAM hands over frames from the IP header on, so the same code
// serves Ethernet, tun, WireGuard and any other link.
//
// Fanout group ids are per network namespace and 16 bits wide. A process
// gets one group per interface: the first socket asks the kernel for a
// fresh id (PACKET_FANOUT_FLAG_UNIQUEID, Linux >= 4.3), so it cannot land
// in another process's group, and later sockets of the process on that
// interface join that id (kept in a process-wide table). If the group has
// died meanwhile (all members closed) and its id was taken by another
// group with other settings, the join fails with EINVAL and a fresh id is
// allocated instead. Residual risk: another program could pick our id
// explicitly, with identical settings on the same interface, and share our
// traffic; nothing in the kernel API can prevent that.
//
// PACKET_FANOUT_FLAG_DEFRAG is off by default: it reassembles fragments
// before hashing, which only matters for flows the relay then drops anyway
// (it relays no fragments), and reassembly costs memory and CPU under a
// fragment flood. PACKET_FANOUT_FLAG_ROLLOVER is never set: moving packets
// to another socket under load would reorder a flow.
//
// Not thread-safe: one owner (a forwarder actor) uses it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "castor/packet/bpf_filter.hpp"
#include "castor/packet/detail/mmsg_receiver.hpp"
#include "castor/packet/detail/tpacket_ring.hpp"
#include "castor/packet/drop_reason.hpp"
#include "castor/packet/error.hpp"
#include "castor/packet/frame_parser.hpp"

namespace castor::packet {

enum class receive_mode : uint8_t {
  ring,     ///< TPACKET_V3 mmap ring: best throughput, ms latency when idle
  recvmmsg, ///< batched reads: µs latency, one copy per frame
};

struct ingress_options {
  unsigned ifindex = 0; ///< required: the input interface
  /// Ethertype to bind, host order. ETH_P_IP (0x0800) taps only received
  /// IPv4 frames. ETH_P_ALL (0x0003) also taps every frame this host
  /// *sends* on the interface (PACKET_OUTGOING), which the filter then has
  /// to drop; it exists to test exactly that.
  uint16_t protocol = 0x0800;
  receive_mode mode = receive_mode::ring;
  /// The filter to attach before the first frame; empty drops everything
  /// until set_filter() is called.
  bpf_program filter;
  /// Join this fanout id instead of the process-wide one for the interface
  /// (tests, or a caller that manages ids itself).
  std::optional<uint16_t> fanout_id;
  bool fanout_defrag = false;
  ring_geometry ring;
  /// recvmmsg mode: frames per syscall, largest frame, and the socket
  /// receive buffer (SO_RCVBUFFORCE, falling back to SO_RCVBUF).
  std::size_t batch = 64;
  std::size_t max_frame = 2048;
  int receive_buffer = 16 << 20;
};

struct ingress_counters {
  uint64_t frames = 0;     ///< frames taken from the kernel
  uint64_t datagrams = 0;  ///< well-formed ones handed to the callback
  uint64_t bytes = 0;      ///< UDP payload bytes of those
  drop_counters dropped{}; ///< malformed frames, by reason
  /// From PACKET_STATISTICS (summed; the kernel resets on each read):
  uint64_t kernel_packets = 0; ///< frames that passed the filter
  uint64_t kernel_drops = 0;   ///< lost because the ring/buffer was full
  uint64_t kernel_freezes = 0; ///< times the ring was full (V3 only)
};

class ingress_socket {
public:
  /// Opens, filters, binds and joins. Throws io_error; without CAP_NET_RAW
  /// the message says so and names the socket ingress as the alternative.
  explicit ingress_socket(const ingress_options& options);
  ~ingress_socket();
  ingress_socket(const ingress_socket&) = delete;
  ingress_socket& operator=(const ingress_socket&) = delete;

  /// For readiness waits (e.g. asio posix::stream_descriptor::async_wait
  /// with wait_read). Stays owned by this object.
  int fd() const noexcept { return fd_; }
  uint16_t fanout_id() const noexcept { return fanout_id_; }
  receive_mode mode() const noexcept { return mode_; }
  unsigned ifindex() const noexcept { return ifindex_; }

  /// Replaces the filter atomically (rules changed). Throws io_error.
  void set_filter(const bpf_program& program);

  /// Takes up to `max_frames` frames, parses them, counts the malformed
  /// ones and calls on_datagram(const udp_datagram&) for the rest. The
  /// datagram's payload is valid only during the call. Returns the number
  /// of frames taken (0: nothing was ready).
  template <class F>
  std::size_t drain(F&& on_datagram, std::size_t max_frames) noexcept {
    return drain_parsed<udp_datagram, parse_udp_frame>(on_datagram, max_frames);
  }

  /// The same for a socket bound to ETH_P_IPV6 (0x86DD): frames are
  /// parsed by parse_udp6_frame and on_datagram(const udp6_datagram&)
  /// is called for the well-formed ones.
  template <class F>
  std::size_t drain6(F&& on_datagram, std::size_t max_frames) noexcept {
    return drain_parsed<udp6_datagram, parse_udp6_frame>(on_datagram,
                                                         max_frames);
  }

  /// Reads PACKET_STATISTICS into the kernel_* counters. A syscall: call it
  /// when reporting stats, not per drain.
  void update_kernel_stats() noexcept;

  /// SO_ERROR: non-zero when the interface went down or away (ENETDOWN,
  /// ENXIO); the owner should then fail and be restarted.
  int pending_error() noexcept;

  /// The same error when a drain's read took it from the socket instead
  /// (then SO_ERROR and poll() no longer show it); 0 if none. No syscall:
  /// check it after every drain.
  int read_error() noexcept { return receiver_ ? receiver_->take_error() : 0; }

  const ingress_counters& counters() const noexcept { return counters_; }

private:
  template <class D,
            parse_result (*Parse)(const uint8_t*, std::size_t, std::size_t,
                                  link_layer, D&) noexcept,
            class F>
  std::size_t drain_parsed(F& on_datagram, std::size_t max_frames) noexcept {
    auto per_frame = [&](const uint8_t* frame, uint32_t captured,
                         uint32_t wire) {
      ++counters_.frames;
      D d;
      const auto r = Parse(frame, captured, wire, link_layer::none, d);
      if (!r.ok) {
        ++counters_.dropped[index(r.reason)];
        return;
      }
      ++counters_.datagrams;
      counters_.bytes += d.payload_size;
      on_datagram(static_cast<const D&>(d));
    };
    if (mode_ != receive_mode::ring)
      return receiver_->drain(fd_, per_frame, max_frames);
    const std::size_t n = ring_.drain(per_frame, max_frames);
    const uint64_t foreign = ring_.take_foreign();
    counters_.frames += foreign;
    counters_.dropped[index(drop_reason::foreign)] += foreign;
    return n;
  }

  int fd_ = -1;
  unsigned ifindex_ = 0;
  uint16_t fanout_id_ = 0;
  receive_mode mode_;
  tpacket_ring ring_;
  std::unique_ptr<mmsg_receiver> receiver_;
  ingress_counters counters_;
};

/// The error for a failed AF_PACKET socket(): for EPERM it tells the
/// operator about CAP_NET_RAW and ingress = "socket".
io_error packet_socket_error(int err);

} // namespace castor::packet
