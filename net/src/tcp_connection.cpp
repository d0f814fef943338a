#include "castor/net/tcp_connection.hpp"

#include "tcp_session.hpp"
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
          || o.active.count > detail::tcp_session::max_active_count))
    return make_error(errc::invalid_argument, "active", o.active.count);
  return caf::none;
}

caf::expected<tcp_connection>
connect_tcp(caf::actor_system& sys, io_shard& shard, const caf::actor& owner,
            const tcp_endpoint& to, const tcp_options& opts) {
  if (!owner)
    return make_error(errc::invalid_argument, "owner", "invalid actor");
  if (auto err = validate(opts))
    return err;
  asio::ip::tcp::socket sock{shard.context()};
  boost::system::error_code ec;
  sock.connect(to, ec);
  if (ec)
    return errno_error(errc::open_failed,
                       "connect " + to.address().to_string() + ":"
                         + std::to_string(to.port()),
                       ec.value());
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
