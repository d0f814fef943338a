#include "castor/packet/udp_egress.hpp"

#include <cerrno>
#include <string>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/error.hpp"

namespace castor::packet {

namespace {

int send_batch(void* context, mmsghdr* msgs, unsigned count) {
  const int fd = *static_cast<const int*>(context);
  return ::sendmmsg(fd, msgs, count, MSG_DONTWAIT);
}

// The largest UDP payload that fits the interface's MTU unfragmented, or
// 0 if the MTU cannot be read.
std::size_t payload_limit(int fd, unsigned ifindex) {
  ifreq req{};
  if (::if_indextoname(ifindex, req.ifr_name) == nullptr
      || ::ioctl(fd, SIOCGIFMTU, &req) != 0)
    return 0;
  constexpr int headers = 20 + 8; // IPv4 without options, UDP
  return req.ifr_mtu > headers ? static_cast<std::size_t>(req.ifr_mtu - headers)
                               : 0;
}

void set_option(int fd, int level, int name, const void* value, socklen_t size,
                const char* what) {
  if (::setsockopt(fd, level, name, value, size) != 0)
    throw io_error(std::string("UDP egress: ") + what, errno);
}

} // namespace

sockaddr_in make_destination(uint32_t address_be, uint16_t port) noexcept {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = address_be;
  a.sin_port = htons(port);
  return a;
}

udp_egress::udp_egress(const egress_options& o)
    : ring_(o.slots, o.slot_bytes, o.max_outputs, o.max_batch,
            o.payload_bytes) {
  const int fd =
    ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw io_error("UDP egress: socket", errno);
  try {
    if (o.ifindex != 0) {
      ip_mreqn m{};
      m.imr_ifindex = static_cast<int>(o.ifindex);
      set_option(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m,
                 "IP_MULTICAST_IF");
      // IP_UNICAST_IF takes the index in network byte order.
      const uint32_t index_be = htonl(o.ifindex);
      set_option(fd, IPPROTO_IP, IP_UNICAST_IF, &index_be, sizeof index_be,
                 "IP_UNICAST_IF");
    }
    const int ttl = o.ttl;
    set_option(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl,
               "IP_MULTICAST_TTL");
    const int loop = o.multicast_loop ? 1 : 0;
    set_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop,
               "IP_MULTICAST_LOOP");
    const int tos = o.tos;
    set_option(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos, "IP_TOS");
    // The relay forwards datagrams, never fragments (it drops incoming
    // ones): one over the output's MTU is refused and counted (too_big).
    const int probe = IP_PMTUDISC_PROBE;
    set_option(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe,
               "IP_MTU_DISCOVER");
    // Drops after the socket (queue discipline, device) fail the send with
    // ENOBUFS instead of vanishing: counted as qdisc_drop.
    const int on = 1;
    set_option(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on, "IP_RECVERR");
    if (o.source_port != 0) {
      const int off = 0;
      set_option(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on, "SO_REUSEPORT");
      set_option(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off,
                 "IP_MULTICAST_ALL");
      const auto local = make_destination(INADDR_ANY, o.source_port);
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local)
          != 0) {
        const int err = errno;
        throw io_error("UDP egress: bind to source port "
                         + std::to_string(o.source_port),
                       err,
                       err == EADDRINUSE ? "another program (or user) holds "
                                           "the port"
                                         : "");
      }
    }
    if (o.ip_marks)
      ring_.enable_ip_marks();
    const int size = o.send_buffer;
    // FORCE passes net.core.wmem_max, which a namespace cannot raise; it
    // needs CAP_NET_ADMIN, so fall back to the capped plain option.
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
      set_option(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size, "SO_SNDBUF");
    // Segmentation needs the segment size to fit the output's MTU, so
    // only with a known interface; a kernel without UDP_SEGMENT (< 4.18)
    // refuses the probe (gso_size 0 changes nothing).
    const int no_gso = 0;
    if (o.segmentation && o.ifindex != 0
        && ::setsockopt(fd, IPPROTO_UDP, udp_segment_option, &no_gso,
                        sizeof no_gso)
             == 0)
      if (const auto limit = payload_limit(fd, o.ifindex); limit > 0)
        ring_.enable_segmentation(limit);
  } catch (...) {
    ::close(fd);
    throw;
  }
  fd_ = fd;
}

udp_egress::~udp_egress() {
  if (fd_ >= 0)
    ::close(fd_);
}

const send_batch_fn udp_egress::send_batch_ = &send_batch;

flush_result udp_egress::flush() noexcept {
  return ring_.flush(send_batch_, &fd_);
}

std::size_t udp_egress::drain_errors() noexcept {
  std::size_t n = 0;
  // The entry's data (the offending datagram) and control (the
  // sock_extended_err) are of no use here: the send that failed counted it.
  uint8_t sink[64];
  iovec iov{sink, sizeof sink};
  for (;;) {
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (::recvmsg(fd_, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
      return n;
    ++n;
  }
}

} // namespace castor::packet
