#include "castor/net/tcp_connection.hpp"

#include <cerrno>

#include "tcp_session.hpp"
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::net {

namespace asio = boost::asio;

caf::error validate(const tcp_options& o) {
  if (!o.framing.valid())
    return make_error(errc::invalid_argument, "framing prefix width",
                      int{o.framing.width});
  if (o.max_frame < 1 || o.max_frame > (64u << 20))
    return make_error(errc::invalid_argument, "max_frame", o.max_frame);
  if (o.read_size < 1 || o.read_size > (16u << 20))
    return make_error(errc::invalid_argument, "read_size", o.read_size);
  if (o.max_send_queue < 1)
    return make_error(errc::invalid_argument, "max_send_queue", 0);
  if (o.active.mode == active_mode::kind::counted
      && (o.active.count < 0
          || o.active.count > detail::active_state::max_count))
    return make_error(errc::invalid_argument, "active", o.active.count);
  return caf::none;
}

namespace {

// A non-blocking connect, waited for with poll() until `timeout`: the
// caller's thread is held no longer than that (a blocking connect(2) to a
// host that drops SYNs waits for the kernel's retries, over two minutes).
caf::error connect_within(int fd, const tcp_endpoint& to,
                          std::chrono::milliseconds timeout,
                          const std::string& what) {
  if (::connect(fd, to.data(), static_cast<socklen_t>(to.size())) == 0)
    return caf::none;
  // EINTR: the connect goes on in the background, as with EINPROGRESS.
  if (errno != EINPROGRESS && errno != EINTR)
    return errno_error(errc::open_failed, what, errno);
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeout;
  for (;;) {
    auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      return make_error(errc::timeout, what,
                        std::to_string(timeout.count()) + " ms");
    pollfd p{fd, POLLOUT, 0};
    auto n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno_error(errc::open_failed, what + " (poll)", errno);
    if (n == 0)
      continue; // the deadline check above answers
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
    if (err != 0)
      return errno_error(errc::open_failed, what, err);
    return caf::none;
  }
}

} // namespace

caf::expected<tcp_connection>
connect_tcp(caf::actor_system& sys, io_shard& shard, const caf::actor& owner,
            const tcp_endpoint& to, const tcp_options& opts,
            std::chrono::milliseconds timeout) {
  if (!owner)
    return make_error(errc::invalid_argument, "owner", "invalid actor");
  if (timeout.count() <= 0)
    return make_error(errc::invalid_argument, "timeout",
                      std::to_string(timeout.count()) + " ms");
  if (auto err = validate(opts))
    return err;
  asio::ip::tcp::socket sock{shard.context()};
  boost::system::error_code ec;
  sock.open(to.protocol(), ec);
  if (!ec)
    sock.non_blocking(true, ec);
  if (ec)
    return errno_error(errc::open_failed, "socket", ec.value());
  if (auto err = connect_within(sock.native_handle(), to, timeout,
                                "connect " + to.address().to_string() + ":"
                                  + std::to_string(to.port())))
    return err;
  return detail::make_connection(sys, shard, owner, std::move(sock), opts,
                                 nullptr);
}

caf::expected<tcp_connection> adopt_tcp(caf::actor_system& sys, io_shard& shard,
                                        const caf::actor& owner, int fd,
                                        const tcp_options& opts) {
  caf::error err;
  if (!owner)
    err = make_error(errc::invalid_argument, "owner", "invalid actor");
  else
    err = validate(opts);
  if (err) {
    ::close(fd);
    return err;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    auto e = errno;
    ::close(fd);
    return errno_error(errc::open_failed, "getsockname", e);
  }
  auto proto =
    ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4();
  asio::ip::tcp::socket sock{shard.context()};
  boost::system::error_code ec;
  sock.assign(proto, fd, ec);
  if (ec) {
    ::close(fd);
    return errno_error(errc::open_failed, "assign", ec.value());
  }
  return detail::make_connection(sys, shard, owner, std::move(sock), opts,
                                 nullptr);
}

} // namespace castor::net
