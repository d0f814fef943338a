#pragma once

// Internal: ingress_socket.hpp holds one as a member, so it is installed,
// but it is no part of castor::packet's API.
//
// The ring's fallback: recvmmsg into preallocated buffers. Costs one
// syscall per batch and a copy per frame, but wakes up per packet, so its
// latency at low rates is microseconds instead of the ring's block timeout.
// Works on any socket whose datagrams are whole frames (AF_PACKET here).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <sys/socket.h>

namespace castor::packet {

class mmsg_receiver {
public:
  /// `batch` frames of at most `frame_size` bytes per syscall. Allocates
  /// all buffers here, none later.
  mmsg_receiver(std::size_t batch, std::size_t frame_size);

  /// Calls f(const uint8_t* frame, uint32_t captured, uint32_t wire_length)
  /// for at most `max_frames` frames from non-blocking reads of `fd`, until
  /// the socket is empty. Returns how many. A read error other than EAGAIN
  /// stops the drain and is kept in last_error(). `f` must not throw.
  template <class F>
  std::size_t drain(int fd, F&& f, std::size_t max_frames) noexcept {
    std::size_t n = 0;
    while (n < max_frames) {
      const auto want = static_cast<unsigned>(
        max_frames - n < msgs_.size() ? max_frames - n : msgs_.size());
      // MSG_TRUNC makes msg_len the frame's real length, so a frame longer
      // than our buffer is seen as truncated rather than silently cut.
      const int got = receive(fd, want);
      if (got <= 0)
        break;
      for (int i = 0; i < got; ++i) {
        const uint32_t wire = msgs_[i].msg_len;
        const uint32_t captured = wire < frame_size_ ? wire : frame_size_;
        f(static_cast<const uint8_t*>(iovs_[i].iov_base), captured, wire);
      }
      n += static_cast<std::size_t>(got);
      if (static_cast<unsigned>(got) < want)
        break; // the socket is empty
    }
    return n;
  }

  /// errno of the last failed read (0 if none), and how many failed.
  int last_error() const noexcept { return last_error_; }
  /// The error a read took from the socket since the last call (0: none),
  /// then forgets it. A read that fails with the socket's pending error
  /// (ENETDOWN when the interface goes away) clears SO_ERROR, so poll()
  /// no longer reports it: the owner must learn it here or never.
  int take_error() noexcept {
    const int e = unseen_error_;
    unseen_error_ = 0;
    return e;
  }
  uint64_t errors() const noexcept { return errors_; }

private:
  // recvmmsg with MSG_DONTWAIT; -1 on EAGAIN or error (recorded).
  int receive(int fd, unsigned count) noexcept;

  std::size_t frame_size_;
  std::unique_ptr<uint8_t[]> buffers_;
  std::vector<iovec> iovs_;
  std::vector<mmsghdr> msgs_;
  int last_error_ = 0;
  int unseen_error_ = 0;
  uint64_t errors_ = 0;
};

} // namespace castor::packet
