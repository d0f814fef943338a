#include "castor/packet/ingress_socket.hpp"

#include <cerrno>
#include <string>

#include "fanout.hpp"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

namespace castor::packet {

namespace {

// Closes the descriptor if the constructor throws half-way.
struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

io_error packet_socket_error(int err) {
  if (err == EPERM || err == EACCES)
    return io_error("AF_PACKET socket", err,
                    "needs CAP_NET_RAW, or set ingress = \"socket\"");
  return io_error("AF_PACKET socket", err);
}

ingress_socket::ingress_socket(const ingress_options& options)
    : ifindex_(options.ifindex), mode_(options.mode) {
  if (options.ifindex == 0)
    throw io_error("AF_PACKET ingress", EINVAL, "no interface index given");
  // Protocol 0: the socket is not hooked into the receive path until
  // bind() names the ethertype, so no frame arrives before filter and ring
  // exist.
  fd_guard guard{
    ::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (guard.fd < 0)
    throw packet_socket_error(errno);

  // Drop everything until the caller's rules are known.
  attach_filter(guard.fd,
                options.filter.empty() ? build_filter({}) : options.filter);

  if (mode_ == receive_mode::ring) {
    ring_.setup(guard.fd, options.ring, options.ifindex);
  } else {
    const int size = options.receive_buffer;
    // FORCE passes net.core.rmem_max, which a namespace cannot raise; it
    // needs CAP_NET_ADMIN, so fall back to the capped plain option.
    if (::setsockopt(guard.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size)
        != 0)
      ::setsockopt(guard.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    receiver_ =
      std::make_unique<mmsg_receiver>(options.batch, options.max_frame);
  }

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(options.protocol);
  addr.sll_ifindex = static_cast<int>(options.ifindex);
  if (::bind(guard.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw io_error("AF_PACKET bind to interface index "
                     + std::to_string(options.ifindex),
                   errno);

  fanout_id_ = join_fanout(
    guard.fd, fanout_settings{options.ifindex, options.fanout_defrag,
                              options.fanout_id, options.protocol});
  fd_ = guard.fd;
  guard.fd = -1;
}

ingress_socket::~ingress_socket() {
  if (fd_ >= 0)
    ::close(fd_);
}

void ingress_socket::set_filter(const bpf_program& program) {
  attach_filter(fd_, program);
}

void ingress_socket::update_kernel_stats() noexcept {
  // V3 has the extra freeze count; the first two fields are common.
  tpacket_stats_v3 st{};
  socklen_t len = mode_ == receive_mode::ring ? sizeof(tpacket_stats_v3)
                                              : sizeof(tpacket_stats);
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0)
    return;
  counters_.kernel_packets += st.tp_packets;
  counters_.kernel_drops += st.tp_drops;
  if (mode_ == receive_mode::ring)
    counters_.kernel_freezes += st.tp_freeze_q_cnt;
}

int ingress_socket::pending_error() noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return errno;
  return err;
}

} // namespace castor::packet
