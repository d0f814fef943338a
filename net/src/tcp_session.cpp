#include "tcp_session.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>

#include <boost/asio/post.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "castor/net/errors.hpp"
#include "castor/net/socket_options.hpp"

namespace castor::net::detail {

namespace asio = boost::asio;

tcp_session::tcp_session(caf::actor_system& sys, io_shard& shard,
                         asio::ip::tcp::socket sock, const tcp_options& opts)
    : shard_companion(sys, shard), sock_(std::move(sock)), active_(opts.active),
      framing_(opts.framing),
      // A prefix cannot declare more than it can encode.
      max_frame_(
        std::min<uint64_t>(opts.max_frame, opts.framing.max_encodable())),
      read_size_(opts.read_size), max_send_queue_(opts.max_send_queue) {}

caf::actor tcp_session::start(const caf::actor& owner) {
  auto hdl = spawn_companion();
  owner_ = owner;
  companion()->become(make_behavior());
  companion()->link_to(owner);
  return hdl;
}

bool tcp_session::ends_on(const caf::exit_msg& msg) const {
  // gen_tcp: the socket closes when its controlling process exits, for any
  // reason. Others (a connection supervisor) end it only with a non-normal
  // reason, as a plain link would.
  return shard_companion::ends_on(msg) || msg.source == owner_.address();
}

void tcp_session::admitted() {
  admit([this] { pump(); });
}

void tcp_session::finish(caf::error err) {
  if (!open_)
    return;
  if (err)
    to_owner(tcp_error_atom::value, std::move(err));
  to_owner(tcp_closed_atom::value);
  terminate(caf::none);
}

void tcp_session::later(std::function<void(tcp_session&)> fn) {
  asio::post(shard_.context(),
             [s = self_as<tcp_session>(), fn = std::move(fn)] {
               if (s->open_)
                 fn(*s);
             });
}

void tcp_session::release() {
  boost::system::error_code ignored;
  sock_.close(ignored);
  sendq_.clear();
  queued_bytes_ = 0;
  owner_ = nullptr;
}

// -- behavior ------------------------------------------------------------------

caf::behavior tcp_session::make_behavior() {
  return {
    [this](active_atom, int32_t n) -> caf::result<void> {
      return set_count(n);
    },
    [this](active_atom, once_atom) { set_mode(kind::once); },
    [this](active_atom, bool on) {
      set_mode(on ? kind::always : kind::passive);
    },
    [this](send_atom, std::vector<uint8_t>& payload) {
      auto* p = payload.data();
      auto n = payload.size();
      enqueue(p, n, std::move(payload), {});
    },
    [this](send_atom, const std::string& payload) {
      std::vector<uint8_t> bytes(payload.begin(), payload.end());
      auto* p = bytes.data();
      auto n = bytes.size();
      enqueue(p, n, std::move(bytes), {});
    },
    [this](send_atom, const tcp_frames& frames) {
      if (frames.empty())
        return;
      if (frames.header_size() == framing_.header_size()) {
        // Same prefix width: the wire format is already what we would
        // write. One item, one iovec, for the whole batch.
        enqueue_wire(frames);
        return;
      }
      for (size_t i = 0; i < frames.size(); ++i) {
        auto f = frames[i];
        enqueue(f.data, f.size, {}, frames);
      }
    },
    [this](controlling_atom, const caf::actor& next) -> caf::result<void> {
      auto* self = companion();
      if (caf::actor_cast<caf::actor_addr>(self->current_sender())
          != owner_.address())
        return make_error(errc::not_owner);
      if (!next)
        return make_error(errc::invalid_argument, "controlling_process",
                          "invalid actor");
      // Link first, so there is no moment in which nobody's exit would
      // close the connection.
      self->link_to(next);
      if (next != owner_)
        self->unlink_from(owner_);
      owner_ = next;
      return caf::unit;
    },
    [this](sockname_atom) {
      boost::system::error_code ec;
      return sock_.local_endpoint(ec);
    },
    [this](peername_atom) {
      boost::system::error_code ec;
      return sock_.remote_endpoint(ec);
    },
    [this](stats_atom) {
      auto s = stats_;
      s.buffered = tail_ - head_;
      s.send_queued = queued_bytes_;
      return s;
    },
    [this](caf::close_atom) {
      closing_ = true;
      if (sendq_.empty())
        companion()->quit();
      // Otherwise flush() ends the connection once the queue is out.
    },
  };
}

// -- active mode and reading ---------------------------------------------------

caf::result<void> tcp_session::set_count(int32_t n) {
  switch (active_.add(n)) {
  case active_state::count_result::refused:
    return make_error(errc::invalid_argument, "active", n);
  case active_state::count_result::passive:
    // Reaching 0 explicitly also turns the connection passive, with a
    // notice.
    to_owner(tcp_passive_atom::value);
    break;
  case active_state::count_result::counted:
    on_mode_changed();
    break;
  }
  return caf::unit;
}

void tcp_session::set_mode(kind m) {
  active_.set(m);
  on_mode_changed();
}

void tcp_session::on_mode_changed() {
  if (!wants_data() || pump_pending_)
    return;
  // Frames may wait in the buffer, or the peer may have closed: both are
  // handled by pump(), which can end the connection, so not from inside
  // this handler.
  pump_pending_ = true;
  later([](tcp_session& s) {
    s.pump_pending_ = false;
    s.pump();
  });
}

bool tcp_session::wants_data() const {
  return open_ && !closing_ && !active_.passive();
}

void tcp_session::pump() {
  if (!admitted_ || !open_)
    return;
  if (!deliver())
    return; // closed
  if (peer_closed_) {
    // Complete frames still buffered wait for credit; then we are done.
    auto d =
      decode_frame(framing_, max_frame_, buf_.data() + head_, tail_ - head_);
    if (d.what != decoded_frame::status::complete)
      finish(caf::none);
    return;
  }
  if (!reading_ && wants_data())
    arm_read();
}

bool tcp_session::deliver() {
  size_t budget = active_.budget(SIZE_MAX);
  if (budget == 0 || head_ == tail_ || closing_)
    return true;
  tcp_frames::builder out{64, tail_ - head_,
                          static_cast<uint8_t>(framing_.header_size())};
  caf::error err;
  while (out.frames() < budget) {
    auto d =
      decode_frame(framing_, max_frame_, buf_.data() + head_, tail_ - head_);
    if (d.what == decoded_frame::status::incomplete)
      break;
    if (d.what == decoded_frame::status::too_large) {
      err = make_error(tcp_errc::frame_too_large, uint64_t{d.size},
                       uint64_t{max_frame_});
      break;
    }
    out.add(buf_.data() + head_, d.size);
    head_ += d.total;
    stats_.bytes_in += d.size;
  }
  if (head_ == tail_)
    head_ = tail_ = 0;
  if (auto n = out.frames(); n > 0) {
    stats_.frames_in += n;
    ++stats_.batches;
    to_owner(tcp_atom::value, out.done());
    if (active_.delivered(n))
      to_owner(tcp_passive_atom::value);
  }
  if (err) {
    // The frames before the oversized one were delivered; the stream cannot
    // be resynchronised after it.
    finish(std::move(err));
    return false;
  }
  return true;
}

void tcp_session::arm_read() {
  if (head_ > 0) {
    std::memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
    tail_ -= head_;
    head_ = 0;
  }
  if (tail_ == 0 && buf_.size() > 4 * read_size_) {
    // A large frame grew the buffer; give the memory back once it is gone.
    std::vector<uint8_t>{}.swap(buf_);
  }
  if (buf_.size() < tail_ + read_size_)
    buf_.resize(tail_ + read_size_);
  reading_ = true;
  sock_.async_read_some(
    asio::buffer(buf_.data() + tail_, buf_.size() - tail_),
    [s = self_as<tcp_session>()](boost::system::error_code ec, size_t n) {
      s->reading_ = false;
      if (ec == asio::error::operation_aborted || !s->open_)
        return;
      if (ec == asio::error::eof) {
        s->peer_closed_ = true;
        s->pump();
        return;
      }
      if (ec) {
        s->finish(errno_error(errc::recv_failed, "recv", ec.value()));
        return;
      }
      ++s->stats_.reads;
      s->tail_ += n;
      s->pump();
    });
}

// -- sending -------------------------------------------------------------------

void tcp_session::enqueue(const uint8_t* data, size_t size,
                          std::vector<uint8_t> owned, tcp_frames keep) {
  if (closing_)
    return;
  if (size > framing_.max_encodable()) {
    // Not sent at all, so the stream stays intact: report and go on.
    to_owner(tcp_error_atom::value, make_error(errc::invalid_argument,
                                               "frame longer than the prefix "
                                               "allows",
                                               uint64_t{size}));
    return;
  }
  out_item item{{}, 0, data, size, std::move(owned), std::move(keep), 1, 0};
  item.header_size =
    static_cast<uint8_t>(encode_header(framing_, size, item.header.data()));
  push(std::move(item));
}

void tcp_session::enqueue_wire(const tcp_frames& frames) {
  if (closing_)
    return;
  auto& w = frames.wire();
  push(out_item{{}, 0, w.data(), w.size(), {}, frames, frames.size(), 0});
}

void tcp_session::push(out_item item) {
  queued_bytes_ += item.header_size + item.size;
  sendq_.push_back(std::move(item));
  if (queued_bytes_ > max_send_queue_) {
    // We are inside a behavior handler: quit directly. closing_ drops the
    // rest of a batch being queued.
    closing_ = true;
    to_owner(tcp_error_atom::value,
             make_error(errc::send_queue_full, uint64_t{queued_bytes_}));
    to_owner(tcp_closed_atom::value);
    companion()->quit();
    return;
  }
  if (!flush_pending_) {
    // Flush after the mailbox elements already posted to the shard ran, so
    // sends that arrive together leave in one sendmsg.
    flush_pending_ = true;
    later([](tcp_session& s) {
      s.flush_pending_ = false;
      s.flush();
    });
  }
}

void tcp_session::flush() {
  std::array<iovec, 2 * send_batch> iov;
  while (open_ && !sendq_.empty()) {
    size_t k = 0;
    size_t items = std::min(send_batch, sendq_.size());
    for (size_t i = 0; i < items; ++i) {
      auto& it = sendq_[i];
      if (it.sent < it.header_size)
        iov[k++] = iovec{it.header.data() + it.sent,
                         static_cast<size_t>(it.header_size - it.sent)};
      auto body_sent = it.sent > it.header_size ? it.sent - it.header_size : 0;
      if (it.size > body_sent)
        iov[k++] =
          iovec{const_cast<uint8_t*>(it.data) + body_sent, it.size - body_sent};
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = k;
    ++stats_.sendmsg_calls;
    auto n = ::sendmsg(fd(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      auto err = errno;
      if (err == EINTR)
        continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        // The send buffer is full: wait for room, keep the queue.
        flush_pending_ = true;
        sock_.async_wait(
          asio::ip::tcp::socket::wait_write,
          [s = self_as<tcp_session>()](boost::system::error_code ec) {
            s->flush_pending_ = false;
            if (!ec && s->open_)
              s->flush();
          });
        return;
      }
      finish(errno_error(errc::send_failed, "sendmsg", err));
      return;
    }
    // Retire what the kernel took; the front item may be taken in part.
    auto left = static_cast<size_t>(n);
    queued_bytes_ -= left;
    stats_.bytes_out += left;
    while (left > 0) {
      auto& it = sendq_.front();
      auto rest = it.header_size + it.size - it.sent;
      if (left < rest) {
        it.sent += left;
        break;
      }
      left -= rest;
      stats_.frames_out += sendq_.front().frames;
      sendq_.pop_front();
    }
    // Zero-length frames have nothing to take: retire them too.
    while (!sendq_.empty() && sendq_.front().header_size == 0
           && sendq_.front().size == 0) {
      stats_.frames_out += sendq_.front().frames;
      sendq_.pop_front();
    }
  }
  if (open_ && closing_ && sendq_.empty())
    terminate(caf::none);
}

// -- construction --------------------------------------------------------------

caf::expected<tcp_connection>
make_connection(caf::actor_system& sys, io_shard& shard,
                const caf::actor& owner, asio::ip::tcp::socket sock,
                const tcp_options& opts,
                const std::function<void(const caf::actor&)>& on_spawn) {
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  if (ec)
    return errno_error(errc::open_failed, "O_NONBLOCK", ec.value());
  auto fd = sock.native_handle();
  if (opts.no_delay) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
      return errno_error(errc::socket_option, "TCP_NODELAY", errno);
  }
  if (opts.recv_buffer > 0)
    if (auto r = set_recv_buffer(fd, opts.recv_buffer); !r)
      return std::move(r.error());
  if (opts.send_buffer > 0)
    if (auto r = set_send_buffer(fd, opts.send_buffer); !r)
      return std::move(r.error());
  tcp_connection result;
  result.local = sock.local_endpoint(ec);
  if (!ec)
    result.peer = sock.remote_endpoint(ec);
  if (ec)
    return errno_error(errc::open_failed, "getpeername", ec.value());
  auto session =
    std::make_shared<tcp_session>(sys, shard, std::move(sock), opts);
  // Spawned only once the shard has accepted the connection (see
  // open_udp): a companion no shard runs could never be closed.
  if (auto err = shard_access::admit(
        shard,
        [&] {
          result.actor = session->start(owner);
          if (on_spawn)
            on_spawn(result.actor);
        },
        [session] { session->admitted(); }))
    return err;
  return result;
}

} // namespace castor::net::detail
