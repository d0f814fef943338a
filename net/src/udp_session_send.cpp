// udp_session's sending half: the bounded send queue, and its flush in
// batches (sendmmsg, runs of equal datagrams joined into one UDP GSO
// message where the socket allows it). The rest of the session, reading and
// options, is udp_session.cpp.

#include <cerrno>
#include <cstring>

#include "udp_session.hpp"
#include <boost/asio/post.hpp>
#include <netinet/in.h>
#include <netinet/udp.h>

#include "castor/net/errors.hpp"

namespace castor::net::detail {

namespace asio = boost::asio;

namespace {

// The most a GSO message carries: an IPv4 UDP payload's limit, rounded down.
constexpr size_t max_segmented_bytes = 65000;

} // namespace

// -- sending -------------------------------------------------------------------

void udp_session::enqueue(out_item item) {
  if (sendq_.size() >= max_send_queue_) {
    ++stats_.send_dropped;
    if (dropped_unreported_++ == 0) {
      // One report per burst of drops, not one per datagram.
      asio::post(shard_.context(), [s = self_as<udp_session>()] {
        auto n = s->dropped_unreported_;
        s->dropped_unreported_ = 0;
        s->report(make_error(errc::send_queue_full, n));
      });
    }
    return;
  }
  sendq_.push_back(std::move(item));
  if (!flush_pending_) {
    // Flush after the mailbox elements already posted to the shard ran, so
    // sends that arrive together leave in one sendmmsg.
    flush_pending_ = true;
    asio::post(shard_.context(), [s = self_as<udp_session>()] {
      s->flush_pending_ = false;
      s->flush();
    });
  }
}

size_t udp_session::joinable(size_t first, size_t iovs_left) const {
  auto& head = sendq_[first];
  size_t n = 1;
  if (!segmentation_ || split_next_ || !head.has_dst || head.size == 0)
    return n;
  auto total = head.size;
  while (first + n < sendq_.size() && n < max_segments && n < iovs_left) {
    auto& next = sendq_[first + n];
    if (!next.has_dst || next.size == 0 || next.size > head.size
        || total + next.size > max_segmented_bytes || next.dst != head.dst)
      break;
    total += next.size;
    ++n;
    if (next.size < head.size)
      break; // only the last segment may be shorter
  }
  return n;
}

void udp_session::flush() {
  while (open_ && !sendq_.empty()) {
    // Up to send_batch messages; with segmentation, each joins a run of
    // datagrams (out_count_), whose iovecs are contiguous in out_iov_.
    size_t msgs = 0;
    size_t items = 0;
    size_t iovs = 0;
    while (msgs < send_batch && items < sendq_.size()
           && iovs < out_iov_.size()) {
      auto n = joinable(items, out_iov_.size() - iovs);
      for (size_t j = 0; j < n; ++j) {
        auto& item = sendq_[items + j];
        out_iov_[iovs + j].iov_base = const_cast<uint8_t*>(item.data);
        out_iov_[iovs + j].iov_len = item.size;
      }
      auto& item = sendq_[items];
      auto& h = out_msgs_[msgs].msg_hdr;
      h = msghdr{};
      h.msg_iov = &out_iov_[iovs];
      h.msg_iovlen = n;
      if (item.has_dst) {
        h.msg_name = const_cast<sockaddr*>(item.dst.data());
        h.msg_namelen = static_cast<socklen_t>(item.dst.size());
      }
      if (n > 1) {
        auto& ctl = out_ctl_[msgs];
        h.msg_control = ctl.bytes;
        h.msg_controllen = sizeof(ctl.bytes);
        auto* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = IPPROTO_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        auto gso_size = static_cast<uint16_t>(item.size);
        std::memcpy(CMSG_DATA(c), &gso_size, sizeof(gso_size));
      }
      out_count_[msgs] = static_cast<uint32_t>(n);
      ++msgs;
      items += n;
      iovs += n;
    }
    ++stats_.sendmmsg_calls;
    auto n = ::sendmmsg(fd(), out_msgs_.data(), static_cast<unsigned>(msgs),
                        MSG_DONTWAIT);
    if (n > 0) {
      size_t datagrams = 0;
      for (int j = 0; j < n; ++j) {
        datagrams += out_count_[static_cast<size_t>(j)];
        if (out_count_[static_cast<size_t>(j)] > 1)
          stats_.segmented += out_count_[static_cast<size_t>(j)];
      }
      stats_.sent += datagrams;
      if (recycle_) {
        for (size_t j = 0; j < datagrams; ++j)
          if (sendq_[j].owned.capacity() > 0)
            spent_.push_back(std::move(sendq_[j].owned));
        if (!spent_.empty())
          recycle_->put(spent_);
      }
      sendq_.erase(sendq_.begin(),
                   sendq_.begin() + static_cast<std::ptrdiff_t>(datagrams));
      split_next_ = false;
      continue;
    }
    auto err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      // The send buffer is full: wait for room, keep the queue.
      flush_pending_ = true;
      sock_.async_wait(
        asio::ip::udp::socket::wait_write,
        [s = self_as<udp_session>()](boost::system::error_code ec) {
          s->flush_pending_ = false;
          if (!ec)
            s->flush();
        });
      return;
    }
    if (err == EINTR)
      continue;
    if (out_count_[0] > 1) {
      // A joined message was refused: segmentation itself (then it stays
      // off), or something about a datagram, which the unjoined resend
      // finds datagram by datagram. Nothing is dropped here.
      if (err == EIO || err == EINVAL || err == EOPNOTSUPP
          || err == ENOPROTOOPT)
        segmentation_ = false;
      split_next_ = true;
      continue;
    }
    // The first datagram failed (EMSGSIZE, ENETUNREACH, EDESTADDRREQ,
    // ECONNREFUSED ...): drop it, tell the owner, go on with the rest.
    auto& item = sendq_.front();
    ++stats_.send_errors;
    auto dst = item.has_dst ? item.dst.address().to_string() + ":"
                                + std::to_string(item.dst.port())
                            : std::string{"peer"};
    sendq_.pop_front();
    split_next_ = false;
    report(errno_error(errc::send_failed, "sendmmsg to " + dst, err));
  }
}

} // namespace castor::net::detail
