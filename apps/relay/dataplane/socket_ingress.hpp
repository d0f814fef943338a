#pragma once

// The forwarder's ingress for `ingress = "socket"`: plain UDP sockets, for
// operators who cannot grant CAP_NET_RAW. One socket per ruled (group,
// port), bound to the group address (so it gets that group only) and, with
// SO_BINDTODEVICE, to the input interface. SO_REUSEPORT lets a restarted
// forwarder bind while its predecessor's socket is still closing; it does
// NOT spread multicast: the kernel delivers a multicast datagram to every
// socket bound to the group, so socket ingress runs one forwarder per
// interface (relay_app.cpp), and there is no fanout. The
// memberships themselves are the group manager's: Linux delivers a group to
// every socket bound to it once any socket of the host joined it on that
// interface (IP_MULTICAST_ALL, on by default).
//
// Compared with the AF_PACKET ingress: the kernel has already checked and
// reassembled the datagram (no malformed counts, fragments are relayed
// whole), and the source filter is applied after receipt, by the rule
// table. Receives with recvmmsg into preallocated buffers; not thread-safe
// (one forwarder loop owns it). Each datagram's TTL and TOS arrive as
// IP_RECVTTL / IP_RECVTOS control messages in preallocated per-slot
// buffers, for outputs with ttl = "decrement" or tos = "preserve".
//
// Fragments: the kernel reassembles a fragmented datagram before any
// socket sees it (and drops it, uncounted here, if a fragment is lost or
// the reassembly times out: /proc/net/snmp ReasmFails). A reassembled
// datagram within max_frame is relayed whole; a larger one is truncated.
//
// Receive-buffer overflow: every socket has SO_RXQ_OVFL, so the kernel
// hands each datagram the socket's count of datagrams dropped so far
// (its buffer was full). The latest count per socket, plus those of
// closed sockets, is kernel_drops(). A drop shows with the next datagram
// that socket receives; it costs no system call.
//
// IPv6 groups get AF_INET6 sockets (IPV6_V6ONLY) with IPV6_RECVHOPLIMIT
// and IPV6_RECVTCLASS; their datagrams reach the callback as
// packet::udp6_datagram, so the callback takes both kinds.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "castor/packet/bpf_filter.hpp"
#include "castor/packet/frame_parser.hpp"

namespace castor::relay {

class socket_ingress {
public:
  /// `batch` datagrams of at most `max_datagram` bytes per recvmmsg.
  socket_ingress(std::string interface, std::size_t batch = 64,
                 std::size_t max_datagram = 2048);
  ~socket_ingress();
  socket_ingress(const socket_ingress&) = delete;
  socket_ingress& operator=(const socket_ingress&) = delete;

  /// Keeps exactly one socket per (group, port) of `matches` and
  /// `matches6` (sources are ignored here): opens the missing ones, closes
  /// the others. A socket that cannot be opened throws packet::io_error;
  /// the sockets opened before stay.
  void set_inputs(const std::vector<packet::filter_match>& matches,
                  const std::vector<packet::filter_match6>& matches6 = {});

  /// Appends one POLLIN entry per socket, in a stable order.
  void poll_fds(std::vector<pollfd>& out) const;

  /// Reads the sockets whose entries in `fds` (as appended by poll_fds)
  /// are readable, calling f(const packet::udp_datagram&) (or f(const
  /// packet::udp6_datagram&) for an IPv6 group) for each datagram, at most
  /// `max` in all. Returns how many.
  template <class F>
  std::size_t drain(const pollfd* fds, F&& f, std::size_t max) noexcept {
    std::size_t n = 0;
    std::size_t i = 0;
    for (auto& [key, in] : sockets_) {
      if (n >= max)
        break;
      if ((fds[i++].revents & POLLIN) == 0)
        continue;
      const auto want = static_cast<unsigned>(std::min(max - n, msgs_.size()));
      const int got =
        ::recvmmsg(in.fd, msgs_.data(), want, MSG_DONTWAIT, nullptr);
      for (int k = 0; k < got; ++k) {
        auto& h = msgs_[k].msg_hdr;
        uint8_t ttl = 0, tos = 0;
        read_control(h, in, ttl, tos);
        // Larger than a buffer: the kernel cut it. Counted, never relayed
        // cut (the send rings could not take it whole either).
        if (h.msg_flags & MSG_TRUNC) {
          ++truncated_;
          reset(h);
          continue;
        }
        const auto* payload =
          buffers_.get() + static_cast<std::size_t>(k) * slot_;
        const std::size_t size = msgs_[k].msg_len;
        ++datagrams_;
        bytes_ += size;
        if (key.v6) {
          packet::udp6_datagram d;
          std::memcpy(d.src.data(), &names_[k].sin6_addr, 16);
          d.src_port = ntohs(names_[k].sin6_port);
          d.dst = key.group;
          d.dst_port = key.port;
          d.hop_limit = ttl;
          d.traffic_class = tos;
          d.payload = payload;
          d.payload_size = size;
          f(static_cast<const packet::udp6_datagram&>(d));
        } else {
          packet::udp_datagram d;
          sockaddr_in from;
          std::memcpy(&from, &names_[k], sizeof from);
          d.src_be = from.sin_addr.s_addr;
          d.src_port = ntohs(from.sin_port);
          std::memcpy(&d.dst_be, key.group.data(), sizeof d.dst_be);
          d.dst_port = key.port;
          d.ttl = ttl;
          d.tos = tos;
          d.payload = payload;
          d.payload_size = size;
          f(static_cast<const packet::udp_datagram&>(d));
        }
        reset(h);
      }
      if (got > 0)
        n += static_cast<std::size_t>(got);
    }
    return n;
  }

  std::size_t size() const noexcept { return sockets_.size(); }
  uint64_t datagrams() const noexcept { return datagrams_; }
  uint64_t bytes() const noexcept { return bytes_; }
  /// Datagrams larger than `max_datagram`, dropped.
  uint64_t truncated() const noexcept { return truncated_; }
  /// Datagrams the kernel dropped because a socket's receive buffer was
  /// full (SO_RXQ_OVFL), as last reported, closed sockets included.
  uint64_t kernel_drops() const noexcept;

private:
  struct input {
    int fd = -1;
    uint32_t overflows = 0; ///< the socket's SO_RXQ_OVFL count, last seen
  };
  /// A group (IPv4: its first four bytes, network order) and port.
  struct input_key {
    bool v6 = false;
    std::array<uint8_t, 16> group{};
    uint16_t port = 0;
    friend bool operator<(const input_key& x, const input_key& y) {
      return std::tie(x.v6, x.group, x.port) < std::tie(y.v6, y.group, y.port);
    }
  };
  // Room for one datagram's control messages: IP_TTL and IP_TOS (for ttl =
  // "decrement" and tos = "preserve") and SO_RXQ_OVFL.
  struct datagram_control {
    alignas(cmsghdr) unsigned char bytes[2 * CMSG_SPACE(sizeof(int))
                                         + CMSG_SPACE(sizeof(uint32_t))];
  };

  /// Takes the socket's overflow count, and the datagram's TTL and TOS
  /// (hop limit and traffic class; left 0 if absent), from one datagram's
  /// control messages.
  static void read_control(const msghdr& h, input& in, uint8_t& ttl,
                           uint8_t& tos) noexcept {
    for (auto* c = CMSG_FIRSTHDR(&h); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        std::memcpy(&in.overflows, CMSG_DATA(c), sizeof in.overflows);
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
        // IP_TTL comes as an int, IP_TOS as one byte.
        int v = 0;
        std::memcpy(&v, CMSG_DATA(c), sizeof v);
        ttl = static_cast<uint8_t>(v);
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
        tos = *CMSG_DATA(c);
      } else if (c->cmsg_level == IPPROTO_IPV6
                 && (c->cmsg_type == IPV6_HOPLIMIT
                     || c->cmsg_type == IPV6_TCLASS)) {
        // Both come as an int.
        int v = 0;
        std::memcpy(&v, CMSG_DATA(c), sizeof v);
        (c->cmsg_type == IPV6_HOPLIMIT ? ttl : tos) = static_cast<uint8_t>(v);
      }
    }
  }
  // For the next call: the kernel overwrote the name and control lengths.
  static void reset(msghdr& h) noexcept {
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_controllen = sizeof(datagram_control);
  }

  int open_socket(const input_key& key);

  std::string interface_;
  std::size_t slot_;
  /// (family, group, port in host order) -> its socket.
  std::map<input_key, input> sockets_;
  std::unique_ptr<uint8_t[]> buffers_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<sockaddr_in6> names_; ///< room for either family
  std::vector<datagram_control> controls_;
  uint64_t datagrams_ = 0;
  uint64_t bytes_ = 0;
  uint64_t truncated_ = 0;
  uint64_t closed_overflows_ = 0; ///< of sockets closed since
};

} // namespace castor::relay
