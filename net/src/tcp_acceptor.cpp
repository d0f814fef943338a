// An acceptor: one accept loop of a listener, on one io shard.
//
// Like the connections it is a shard_companion, an actor driven on its
// shard's thread, so a supervisor can monitor, stop and restart it. It owns a dup()
// of the listener's socket: every acceptor waits for readiness on its own
// descriptor, and the kernel hands each pending connection to exactly one
// accept4(). After each accepted socket it waits for the connection
// supervisor's go-ahead (tcp_resume_atom): that wait is the throttle.

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include <caf/send.hpp>

#include "shard_companion.hpp"
#include "tcp_listener_shared.hpp"
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "castor/net/errors.hpp"
#include "castor/net/tcp_errors.hpp"

namespace castor::net::detail {

namespace {

namespace asio = boost::asio;

// Ranch sleeps this long when the process is out of file descriptors,
// instead of spinning on a listening socket that stays readable.
constexpr auto fd_exhausted_pause = std::chrono::milliseconds{100};

tcp_endpoint to_endpoint(const sockaddr_storage& ss) {
  tcp_endpoint ep;
  std::memcpy(ep.data(), &ss,
              ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6)
                                       : sizeof(sockaddr_in));
  return ep;
}

class acceptor_session final : public shard_companion {
public:
  acceptor_session(caf::actor_system& sys, io_shard& shard,
                   asio::ip::tcp::acceptor acc, caf::actor conns)
      : shard_companion(sys, shard), acc_(std::move(acc)),
        conns_(std::move(conns)), pause_(shard.context()) {}

  caf::actor start() {
    // Its supervisor stops it with user_shutdown; anything non-normal (or
    // our own terminate) ends it: the default ends_on.
    auto hdl = spawn_companion();
    companion()->become(caf::behavior{
      [this](tcp_resume_atom) {
        waiting_ = false;
        arm();
      },
    });
    return hdl;
  }

  void admitted() {
    admit([this] { arm(); });
  }

private:
  void release() override {
    boost::system::error_code ignored;
    acc_.close(ignored);
    pause_.cancel();
    conns_ = nullptr;
  }

  void arm() {
    if (!open_ || waiting_ || armed_)
      return;
    armed_ = true;
    acc_.async_wait(
      asio::ip::tcp::acceptor::wait_read,
      [s = self_as<acceptor_session>()](boost::system::error_code ec) {
        s->armed_ = false;
        if (ec || !s->open_)
          return;
        s->accept_one();
      });
  }

  void accept_one() {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int fd = ::accept4(acc_.native_handle(), reinterpret_cast<sockaddr*>(&ss),
                       &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      waiting_ = true;
      caf::send_as(handle(), conns_, tcp_start_atom::value,
                   accepted_socket{fd, to_endpoint(ss)});
      return;
    }
    auto err = errno;
    switch (err) {
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
      // Another acceptor took it, or the peer gave up already.
      arm();
      return;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      spdlog::warn("tcp acceptor: accept4: {}; pausing", std::strerror(err));
      pause_.expires_after(fd_exhausted_pause);
      pause_.async_wait(
        [s = self_as<acceptor_session>()](boost::system::error_code ec) {
          if (!ec)
            s->arm();
        });
      return;
    default:
      // The listening socket itself is broken: crash, so the supervisor
      // restarts us (and, past its intensity, the listener).
      terminate(errno_error(errc::recv_failed, "accept4", err));
    }
  }

  asio::ip::tcp::acceptor acc_;
  caf::actor conns_;
  asio::steady_timer pause_;
  bool armed_ = false;
  // An accepted socket is with the connection supervisor; no accept until
  // it says resume.
  bool waiting_ = false;
};

} // namespace

caf::expected<caf::actor> start_acceptor(caf::actor_system& sys,
                                         std::shared_ptr<listener_shared> ctx,
                                         size_t index) {
  auto conns = ctx->conns();
  if (!conns)
    return make_error(errc::invalid_argument, "acceptor",
                      "no connection supervisor");
  int fd = ctx->dup_listen_fd();
  if (fd < 0)
    return make_error(errc::invalid_argument, "acceptor",
                      "no listening socket");
  auto shards = ctx->shards.lock();
  if (!shards) {
    ::close(fd);
    return make_error(errc::shutting_down, "io_shards destroyed");
  }
  auto& shard = shards->at(index % shards->size());
  asio::ip::tcp::acceptor acc{shard.context()};
  boost::system::error_code ec;
  acc.assign(ctx->opts.local.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return errno_error(errc::open_failed, "assign listening socket",
                       ec.value());
  }
  acc.non_blocking(true, ec);
  auto session = std::make_shared<acceptor_session>(sys, shard, std::move(acc),
                                                    std::move(conns));
  caf::actor hdl;
  if (auto err = shard_access::admit(
        shard, [&] { hdl = session->start(); },
        [session] { session->admitted(); }))
    return err;
  return hdl;
}

} // namespace castor::net::detail
