#include "udp_session.hpp"

#include <cerrno>
#include <cstring>

#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>

#include <boost/asio/post.hpp>
#include <netinet/in.h>

#include "castor/net/errors.hpp"

namespace castor::net::detail {

namespace asio = boost::asio;

namespace {

unsigned short local_port(const asio::ip::udp::socket& sock) {
  boost::system::error_code ec;
  auto ep = sock.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

} // namespace

caf::error apply_join_defaults(int fd, bool multicast_all, bool packet_info) {
  if (multicast_all)
    if (auto err = set_multicast_all(fd, false))
      return err;
  if (packet_info)
    if (auto err = set_packet_info(fd, true))
      return err;
  return caf::none;
}

udp_session::udp_session(caf::actor_system& sys, io_shard& shard,
                         asio::ip::udp::socket sock, const udp_options& opts)
    : shard_companion(sys, shard), sock_(std::move(sock)),
      claim_(udp_port_claim::make(sock_.native_handle(), local_port(sock_))),
      active_(opts.active), read_packets_(opts.read_packets),
      pool_(batch_pool::create(opts.read_packets, opts.max_datagram)),
      max_loaned_(std::max<size_t>(
        1, static_cast<size_t>(opts.max_pinned_bytes / pool_->block_bytes()))),
      // Joined at open: configure() applied them already.
      auto_multicast_all_(opts.multicast_all < 0 && opts.memberships.empty()),
      auto_packet_info_(opts.packet_info < 0 && opts.memberships.empty()),
      max_send_queue_(opts.max_send_queue), out_msgs_(send_batch),
      out_iov_(opts.segmentation ? send_batch * max_segments : send_batch),
      segmentation_(opts.segmentation),
      out_ctl_(opts.segmentation ? send_batch : 0), out_count_(send_batch),
      recycle_(opts.recycle) {}

udp_session::~udp_session() {
  if (pool_) {
    pool_->clear_waker();
    pool_->release_owner();
  }
}

caf::actor udp_session::start(const caf::actor& owner) {
  auto hdl = spawn_companion();
  owner_ = owner;
  claim_->set_owner(owner.address());
  companion()->become(make_behavior());
  companion()->link_to(owner);
  return hdl;
}

bool udp_session::ends_on(const caf::exit_msg& msg) const {
  // gen_udp: the socket closes when its controlling process exits, for any
  // reason. Other linked actors (a supervisor) end it only with a
  // non-normal reason, as a plain link would.
  return shard_companion::ends_on(msg) || msg.source == owner_.address();
}

void udp_session::enqueued(const caf::mailbox_element& elem) {
  // The owner's exit is handed to us inside the owner's cleanup: free the
  // port right here, before the shard runs the exit (and long before a
  // supervisor that restarts the owner gets to its bind). Any exit that
  // ends us qualifies, the same test as ends_on minus what only the shard
  // knows.
  if (!elem.content().match_elements<caf::exit_msg>())
    return;
  auto& msg = elem.content().get_as<caf::exit_msg>(0);
  if (msg.reason || msg.source == claim_->owner())
    claim_->release_now();
}

void udp_session::admitted() {
  // Closed already (its owner was dead when it linked): no first step.
  admit([this] { update_reading(); });
}

void udp_session::release() {
  boost::system::error_code ignored;
  // Under the claim's lock: no other thread re-points the fd while (or
  // after) the shard closes it.
  claim_->close_on_shard([&] { sock_.close(ignored); });
  fail_pending_recvs(caf::make_error(caf::sec::request_receiver_down));
  sendq_.clear();
  if (pool_) {
    // Batches may come back long after the shard is gone.
    pool_->clear_waker();
    pool_->release_owner();
    pool_ = nullptr;
  }
}

void udp_session::released() {
  owner_ = nullptr;
}

void udp_session::report(caf::error err) {
  to_owner(udp_error_atom::value, std::move(err));
}

// -- behavior ------------------------------------------------------------------

caf::behavior udp_session::make_behavior() {
  return {
    [this](active_atom, int32_t n) -> caf::result<void> {
      return set_count(n);
    },
    [this](active_atom, once_atom) { set_mode(kind::once); },
    [this](active_atom, bool on) {
      set_mode(on ? kind::always : kind::passive);
    },
    [this](recv_atom, int64_t timeout_ms) -> caf::result<udp_batch> {
      return recv(timeout_ms);
    },
    [this](send_atom, const udp_endpoint& dst, std::vector<uint8_t>& payload) {
      auto* p = payload.data();
      auto n = payload.size();
      enqueue(out_item{dst, true, std::move(payload), {}, p, n});
    },
    [this](send_atom, std::vector<uint8_t>& payload) {
      auto* p = payload.data();
      auto n = payload.size();
      enqueue(out_item{{}, false, std::move(payload), {}, p, n});
    },
    [this](send_atom, const udp_endpoint& dst,
           std::vector<std::vector<uint8_t>>& payloads) {
      for (auto& payload : payloads) {
        auto* p = payload.data();
        auto n = payload.size();
        enqueue(out_item{dst, true, std::move(payload), {}, p, n});
      }
    },
    [this](send_atom, const udp_endpoint& dst, const udp_batch& batch) {
      for (auto d : batch.datagrams())
        enqueue(out_item{dst, true, {}, batch, d.data, d.size});
    },
    [this](setopt_atom, const udp_option& opt) -> caf::result<void> {
      if (auto err = setopt(opt))
        return err;
      return caf::unit;
    },
    [this](caf::join_atom, const multicast_membership& m) -> caf::result<void> {
      if (auto err = join_group(fd(), m))
        return err;
      if (auto_multicast_all_ || auto_packet_info_) {
        auto err =
          apply_join_defaults(fd(), auto_multicast_all_, auto_packet_info_);
        auto_multicast_all_ = auto_packet_info_ = false;
        if (err)
          return err;
      }
      return caf::unit;
    },
    [this](caf::leave_atom,
           const multicast_membership& m) -> caf::result<void> {
      if (auto err = leave_group(fd(), m))
        return err;
      return caf::unit;
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
      // close the socket.
      self->link_to(next);
      if (next != owner_)
        self->unlink_from(owner_);
      owner_ = next;
      claim_->set_owner(next.address());
      return caf::unit;
    },
    [this](sockname_atom) {
      boost::system::error_code ec;
      return sock_.local_endpoint(ec);
    },
    [this](stats_atom) {
      auto s = stats_;
      s.blocks_live = pool_ ? pool_->live_blocks() : 0;
      s.pinned_bytes =
        pool_ ? pool_->loaned_blocks() * pool_->block_bytes() : 0;
      return s;
    },
    [this](caf::close_atom) { companion()->quit(); },
  };
}

// -- active mode and reading ---------------------------------------------------

caf::result<void> udp_session::set_count(int32_t n) {
  switch (active_.add(n)) {
  case active_state::count_result::refused:
    return make_error(errc::invalid_argument, "active", n);
  case active_state::count_result::passive:
    // Reaching 0 explicitly also turns the socket passive with a notice.
    to_owner(udp_passive_atom::value);
    break;
  case active_state::count_result::counted:
    on_mode_changed();
    break;
  }
  return caf::unit;
}

void udp_session::set_mode(kind m) {
  active_.set(m);
  on_mode_changed();
}

void udp_session::on_mode_changed() {
  if (!active_.passive())
    fail_pending_recvs(make_error(errc::active_mode));
  update_reading();
}

bool udp_session::wants_data() const {
  return open_ && (!active_.passive() || !recvs_.empty());
}

void udp_session::update_reading() {
  if (admitted_ && !reading_ && wants_data())
    arm_read();
}

void udp_session::arm_read() {
  reading_ = true;
  // A zero-byte MSG_PEEK receive instead of async_wait(wait_read): Asio
  // starts a wait with an epoll_ctl(MOD) syscall on every arm, while a
  // receive is tried speculatively first and otherwise waits on the
  // registration the socket already has. The peek consumes nothing;
  // drain() reads with recvmmsg.
  sock_.async_receive(
    asio::buffer(&peek_byte_, 0), asio::socket_base::message_peek,
    [s = self_as<udp_session>()](boost::system::error_code ec, size_t) {
      s->reading_ = false;
      if (ec == asio::error::operation_aborted || !s->open_)
        return;
      if (ec) {
        s->on_read_error(ec.value());
        return;
      }
      s->drain();
    });
}

void udp_session::drain() {
  if (!wants_data())
    return;
  ++stats_.wakeups;
  // Passive, the socket serves the waiting recv calls, one datagram each.
  size_t want = active_.passive()
                  ? std::min<size_t>(read_packets_, recvs_.size())
                  : active_.budget(read_packets_);
  if (!below_pin_bound())
    return;
  auto* blk = pool_->acquire();
  blk->prepare(want);
  auto n = ::recvmmsg(fd(), blk->msgs(), static_cast<unsigned>(want),
                      MSG_DONTWAIT, nullptr);
  if (n <= 0) {
    auto err = errno;
    pool_->recycle(blk);
    if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
      on_read_error(err);
      return;
    }
    update_reading();
    return;
  }
  auto got = static_cast<size_t>(n);
  blk->complete(got);
  for (size_t i = 0; i < got; ++i) {
    if (blk->truncated(i))
      ++stats_.truncated;
    // A run UDP GRO joined counts as the datagrams it holds.
    auto seg = blk->segment_size(i);
    stats_.received += seg == 0 ? 1 : (blk->length(i) + seg - 1) / seg;
  }
  if (active_.passive()) {
    // Serving recv requests, one datagram each, all views of one block.
    // `keep` holds the block until every view exists: a caller that drops
    // its view at once must not return the block while we still hand out
    // the others (it would go back to the pool twice).
    udp_batch keep{blk, 0, static_cast<uint32_t>(got)};
    for (size_t i = 0; i < got; ++i) {
      auto p = std::move(recvs_.front());
      recvs_.pop_front();
      if (p.timer)
        p.timer->cancel();
      p.promise.deliver(udp_batch{blk, static_cast<uint32_t>(i), 1});
    }
  } else {
    ++stats_.batches;
    to_owner(udp_atom::value, udp_batch{blk, 0, static_cast<uint32_t>(got)});
    if (active_.delivered(got))
      to_owner(udp_passive_atom::value);
  }
  if (got == want && wants_data()) {
    // The queue may hold more. Take it in a later step instead of looping,
    // so other sockets on this shard get their turn (read_packets bound),
    // and without the epoll round trip of a new async_wait.
    reading_ = true;
    asio::post(shard_.context(), [s = self_as<udp_session>()] {
      s->reading_ = false;
      s->drain();
    });
    return;
  }
  update_reading();
}

bool udp_session::below_pin_bound() {
  if (pool_->loaned_blocks() < max_loaned_)
    return true;
  if (!waker_set_) {
    // Runs on the thread that drops a batch; only posts. Installed here, on
    // the first stall, and cleared in release(): after that no block's
    // return touches the shard.
    waker_set_ = true;
    pool_->set_waker([w = std::weak_ptr<udp_session>{self_as<udp_session>()},
                      &ctx = shard_.context()] {
      asio::post(ctx, [w] {
        if (auto s = w.lock())
          s->resume_reading();
      });
    });
  }
  if (pool_->wait_for_return(max_loaned_))
    return true; // one came back meanwhile
  // Stop reading: the kernel's buffer takes the pressure, as when the
  // active-N credit runs out. No read is armed while stalled.
  ++stats_.read_stalls;
  stalled_ = true;
  reading_ = true;
  return false;
}

void udp_session::resume_reading() {
  // A wake-up may also come when no stall is pending (wait_for_return found
  // a block back by itself): ignore it then.
  if (!stalled_ || !open_)
    return;
  stalled_ = false;
  reading_ = false;
  drain();
}

void udp_session::on_read_error(int err) {
  if (err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL) {
    terminate(errno_error(errc::recv_failed, "recvmmsg", err));
    return;
  }
  // A pending socket error (ICMP port unreachable on a connected socket
  // shows up as ECONNREFUSED) is consumed by the read that reports it:
  // tell the owner and carry on reading.
  report(errno_error(errc::recv_failed, "recvmmsg", err));
  update_reading();
}

void udp_session::fail_pending_recvs(const caf::error& err) {
  while (!recvs_.empty()) {
    auto p = std::move(recvs_.front());
    recvs_.pop_front();
    if (p.timer)
      p.timer->cancel();
    p.promise.deliver(err);
  }
}

caf::result<udp_batch> udp_session::recv(int64_t timeout_ms) {
  if (!active_.passive())
    return make_error(errc::active_mode);
  if (recvs_.empty() && pool_->loaned_blocks() < max_loaned_) {
    // Take what is queued right away: the common case needs no wait.
    auto* blk = pool_->acquire();
    blk->prepare(1);
    auto n = ::recvmmsg(fd(), blk->msgs(), 1, MSG_DONTWAIT, nullptr);
    if (n == 1) {
      blk->complete(1);
      ++stats_.received;
      if (blk->truncated(0))
        ++stats_.truncated;
      return udp_batch{blk, 0, 1};
    }
    auto err = errno;
    pool_->recycle(blk);
    if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
      return errno_error(errc::recv_failed, "recvmmsg", err);
  }
  if (timeout_ms == 0)
    return make_error(errc::timeout);
  auto id = next_recv_id_++;
  pending_recv p{companion()->make_response_promise(), nullptr, id};
  if (timeout_ms > 0) {
    p.timer = std::make_unique<asio::steady_timer>(
      shard_.context(), std::chrono::milliseconds{timeout_ms});
    p.timer->async_wait(
      [s = self_as<udp_session>(), id](boost::system::error_code ec) {
        if (ec)
          return;
        for (auto i = s->recvs_.begin(); i != s->recvs_.end(); ++i) {
          if (i->id == id) {
            auto rp = std::move(i->promise);
            s->recvs_.erase(i);
            rp.deliver(make_error(errc::timeout));
            return;
          }
        }
      });
  }
  auto rp = p.promise;
  recvs_.push_back(std::move(p));
  update_reading();
  return rp;
}

caf::error udp_session::setopt(const udp_option& opt) {
  using k = udp_option::kind;
  switch (opt.what) {
  case k::recv_buffer: {
    auto r = set_recv_buffer(fd(), opt.value);
    return r ? caf::error{} : std::move(r.error());
  }
  case k::send_buffer: {
    auto r = set_send_buffer(fd(), opt.value);
    return r ? caf::error{} : std::move(r.error());
  }
  case k::multicast_interface:
    return set_multicast_interface(fd(), static_cast<unsigned>(opt.value));
  case k::multicast_ttl:
    return set_multicast_ttl(fd(), opt.value);
  case k::multicast_loop:
    return set_multicast_loop(fd(), opt.value != 0);
  case k::tos:
    return set_tos(fd(), opt.value);
  case k::multicast_all:
    auto_multicast_all_ = false;
    return set_multicast_all(fd(), opt.value != 0);
  case k::packet_info:
    auto_packet_info_ = false;
    return set_packet_info(fd(), opt.value != 0);
  case k::read_packets:
    if (opt.value < 1 || static_cast<size_t>(opt.value) > pool_->slots())
      return make_error(errc::invalid_argument, "read_packets", opt.value);
    read_packets_ = static_cast<uint32_t>(opt.value);
    return caf::none;
  }
  return make_error(errc::invalid_argument, "udp_option");
}

} // namespace castor::net::detail
