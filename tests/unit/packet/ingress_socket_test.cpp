// The AF_PACKET ingress on the loopback of a private network namespace:
// filter, ring and recvmmsg paths, our own outgoing copies never seen,
// malformed frames counted, fanout group ids, and the CAP_NET_RAW message.
// Waits are bounded by a guard (poll with a long timeout) that only turns a
// hang into a failure; nothing asserts on time.

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>

#include "private_netns.hpp"
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "castor/packet/ingress_socket.hpp"

using namespace castor::packet;
using castor::packet::test::in_private_netns;

namespace {

constexpr uint16_t ruled_port = 5001;
constexpr uint16_t unruled_port = 5002;
constexpr int guard_ms = 10000;

#define EXPECT_OR_RETURN(cond, what)                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::ostringstream os_;                                                  \
      os_ << __LINE__ << ": " << what;                                         \
      return os_.str();                                                        \
    }                                                                          \
  } while (false)

uint32_t loopback() {
  return htonl(INADDR_LOOPBACK);
}

int udp_socket(uint16_t bind_port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (bind_port != 0) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = loopback();
    a.sin_port = htons(bind_port);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  return fd;
}

bool send_to(int fd, uint16_t port, const std::string& payload) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = loopback();
  a.sin_port = htons(port);
  return ::sendto(fd, payload.data(), payload.size(), 0,
                  reinterpret_cast<sockaddr*>(&a), sizeof a)
         == static_cast<ssize_t>(payload.size());
}

ingress_options lo_options(receive_mode mode, uint16_t protocol = 0x0800) {
  ingress_options o;
  o.protocol = protocol;
  o.ifindex = if_nametoindex("lo");
  o.mode = mode;
  o.filter = build_filter({{loopback(), ruled_port, std::nullopt}});
  o.ring.block_size = 1 << 16;
  // The tests send everything before they read. A block retires after
  // retire_timeout_ms even when nearly empty, so a sender slowed by a
  // loaded machine (CI's other jobs) spread its 600 datagrams over more
  // 1 ms blocks than 8 and the ring dropped the rest (CI, "got 178").
  // 16 blocks of 50 ms hold 800 ms of sending; a read waits at most 50 ms.
  o.ring.block_count = 16;
  o.ring.retire_timeout_ms = 50;
  return o;
}

// Drains until the datagram "end" arrives; returns the payloads before it.
// The guard only bounds a hang.
std::string collect_until_end(ingress_socket& s,
                              std::vector<std::string>& got) {
  bool done = false;
  while (!done) {
    pollfd p{s.fd(), POLLIN, 0};
    const int r = ::poll(&p, 1, guard_ms);
    if (r <= 0)
      return "no sentinel within the guard time; got "
             + std::to_string(got.size());
    s.drain(
      [&](const udp_datagram& d) {
        std::string text(reinterpret_cast<const char*>(d.payload),
                         d.payload_size);
        if (d.dst_port != ruled_port)
          got.push_back("WRONG PORT " + std::to_string(d.dst_port));
        else if (text == "end")
          done = true;
        else if (!done)
          got.push_back(text);
      },
      1000);
  }
  return {};
}

std::string receive_through_filter(receive_mode mode,
                                   uint16_t protocol = 0x0800) {
  const int sink = udp_socket(ruled_port); // no ICMP unreachable noise
  const int sink2 = udp_socket(unruled_port);
  ingress_socket in(lo_options(mode, protocol));
  const int tx = udp_socket(0);
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) {
    EXPECT_OR_RETURN(send_to(tx, ruled_port, "seq " + std::to_string(i)),
                     "send: " << std::strerror(errno));
    EXPECT_OR_RETURN(send_to(tx, unruled_port, "other"), "send other");
  }
  // With IP options (record route): passes the filter, counted by the
  // parser, never handed over.
  const uint8_t rr[8] = {7, 7, 4, 0, 0, 0, 0, 0};
  const int tx_opt = udp_socket(0);
  EXPECT_OR_RETURN(::setsockopt(tx_opt, IPPROTO_IP, IP_OPTIONS, rr, sizeof rr)
                     == 0,
                   "IP_OPTIONS: " << std::strerror(errno));
  for (int i = 0; i < 5; ++i)
    send_to(tx_opt, ruled_port, "with options");
  send_to(tx, ruled_port, "end");

  std::vector<std::string> got;
  auto err = collect_until_end(in, got);
  EXPECT_OR_RETURN(err.empty(), err);
  // Each datagram exactly once: the loopback's PACKET_OUTGOING copies and
  // the unruled port were filtered in the kernel.
  EXPECT_OR_RETURN(got.size() == n, "got " << got.size() << " of " << n);
  for (int i = 0; i < n; ++i)
    EXPECT_OR_RETURN(got[i] == "seq " + std::to_string(i),
                     "at " << i << ": " << got[i]);
  const auto& c = in.counters();
  EXPECT_OR_RETURN(c.dropped[index(drop_reason::ip_options)] == 5,
                   "ip_options " << c.dropped[index(drop_reason::ip_options)]);
  EXPECT_OR_RETURN(c.datagrams == n + 1, "datagrams " << c.datagrams);
  EXPECT_OR_RETURN(c.frames == n + 6, "frames " << c.frames);
  in.update_kernel_stats();
  EXPECT_OR_RETURN(in.counters().kernel_packets == n + 6,
                   "kernel_packets " << in.counters().kernel_packets);
  EXPECT_OR_RETURN(in.counters().kernel_drops == 0, "kernel drops");
  EXPECT_OR_RETURN(in.pending_error() == 0, "SO_ERROR set");
  ::close(tx);
  ::close(tx_opt);
  ::close(sink);
  ::close(sink2);
  return {};
}

void expect_ok(const castor::packet::test::netns_outcome& o) {
  if (o.skipped)
    GTEST_SKIP() << "needs CAP_SYS_ADMIN for a private network namespace";
  EXPECT_EQ(o.failure, "");
}

} // namespace

TEST(ingress_socket, ring_receives_exactly_the_ruled_datagrams) {
  expect_ok(in_private_netns(
    [] { return receive_through_filter(receive_mode::ring); }));
}

TEST(ingress_socket, recvmmsg_receives_exactly_the_ruled_datagrams) {
  expect_ok(in_private_netns(
    [] { return receive_through_filter(receive_mode::recvmmsg); }));
}

TEST(ingress_socket, eth_p_all_sees_outgoing_frames_and_the_filter_drops_them) {
  // Bound to ETH_P_ALL, the loopback tap is handed each datagram twice:
  // once as PACKET_OUTGOING, once as received. Exactly-once delivery then
  // proves the filter's SKF_AD_PKTTYPE check works in the kernel.
  expect_ok(in_private_netns(
    [] { return receive_through_filter(receive_mode::ring, 0x0003); }));
}

TEST(ingress_socket, the_ring_hands_over_only_its_inputs_frames) {
  // A filter that passes everything, bound to ETH_P_ALL: the kernel puts
  // each datagram in the ring twice, once as PACKET_OUTGOING. The ring's
  // own check (the belt to the filter's) hands over the received copy
  // only, and counts the other as foreign.
  expect_ok(in_private_netns([]() -> std::string {
    const int sink = udp_socket(ruled_port);
    auto o = lo_options(receive_mode::ring, 0x0003);
    o.filter = {sock_filter{BPF_RET | BPF_K, 0, 0, bpf_accept}};
    ingress_socket in(o);
    const int tx = udp_socket(0);
    constexpr int n = 50;
    for (int i = 0; i < n; ++i)
      EXPECT_OR_RETURN(send_to(tx, ruled_port, "seq " + std::to_string(i)),
                       "send: " << std::strerror(errno));
    send_to(tx, ruled_port, "end");
    std::vector<std::string> got;
    auto err = collect_until_end(in, got);
    EXPECT_OR_RETURN(err.empty(), err);
    EXPECT_OR_RETURN(got.size() == n, "got " << got.size() << " of " << n);
    const auto foreign = in.counters().dropped[index(drop_reason::foreign)];
    EXPECT_OR_RETURN(foreign >= n + 1, "foreign " << foreign);
    ::close(tx);
    ::close(sink);
    return {};
  }));
}

TEST(ingress_socket, fragments_are_counted_when_passed_and_never_delivered) {
  // Loopback MTU 1500, so that a 3000-byte datagram leaves in 3 fragments.
  expect_ok(in_private_netns(
    [] {
      const int sink = udp_socket(ruled_port);
      auto o = lo_options(receive_mode::ring);
      filter_options fo;
      fo.fragments = fragment_policy::count_in_user;
      o.filter = build_filter({{loopback(), ruled_port, std::nullopt}}, fo);
      ingress_socket in(o);
      const int tx = udp_socket(0);
      for (int i = 0; i < 4; ++i)
        send_to(tx, ruled_port, std::string(3000, 'f'));
      send_to(tx, ruled_port, "end");
      std::vector<std::string> got;
      auto err = collect_until_end(in, got);
      EXPECT_OR_RETURN(err.empty(), err);
      EXPECT_OR_RETURN(got.empty(), "a fragment was delivered");
      const auto frags = in.counters().dropped[index(drop_reason::fragment)];
      EXPECT_OR_RETURN(frags == 12, "fragments counted " << frags);
      // The default policy drops them in the kernel instead.
      in.set_filter(build_filter({{loopback(), ruled_port, std::nullopt}}));
      send_to(tx, ruled_port, std::string(3000, 'f'));
      send_to(tx, ruled_port, "end");
      err = collect_until_end(in, got);
      EXPECT_OR_RETURN(err.empty(), err);
      EXPECT_OR_RETURN(in.counters().dropped[index(drop_reason::fragment)]
                         == 12,
                       "a fragment passed the default filter");
      ::close(tx);
      ::close(sink);
      return std::string{};
    },
    1500));
}

TEST(ingress_socket, sockets_of_a_process_share_one_fanout_group_per_setting) {
  expect_ok(in_private_netns([] {
    auto o = lo_options(receive_mode::recvmmsg);
    ingress_socket a(o);
    ingress_socket b(o);
    EXPECT_OR_RETURN(a.fanout_id() == b.fanout_id(),
                     a.fanout_id() << " vs " << b.fanout_id());
    // Other flags make another group (the kernel refuses to mix them).
    auto d = o;
    d.fanout_defrag = true;
    ingress_socket c(d);
    EXPECT_OR_RETURN(c.fanout_id() != a.fanout_id(), "defrag shared an id");
    // Forcing our group's id with other settings is refused, and says why.
    d.fanout_id = a.fanout_id();
    try {
      ingress_socket e(d);
      return std::string("joined a group with other settings");
    } catch (const io_error& e) {
      EXPECT_OR_RETURN(e.code() == EINVAL, "errno " << e.code());
      EXPECT_OR_RETURN(std::string(e.what()).find("other settings")
                         != std::string::npos,
                       e.what());
    }
    // An explicit id that nobody uses creates that group.
    auto x = o;
    x.fanout_id = static_cast<uint16_t>(a.fanout_id() ^ 0x5a5a);
    ingress_socket f(x);
    EXPECT_OR_RETURN(f.fanout_id() == *x.fanout_id, "explicit id");
    return std::string{};
  }));
}

TEST(ingress_socket, missing_interface_is_a_clear_error) {
  ingress_options o;
  EXPECT_THROW(ingress_socket s(o), io_error);
}

TEST(ingress_socket, eperm_message_names_cap_net_raw_and_the_fallback) {
  EXPECT_STREQ(packet_socket_error(EPERM).what(),
               "AF_PACKET socket: Operation not permitted \u2014 needs "
               "CAP_NET_RAW, or set ingress = \"socket\"");
  EXPECT_EQ(packet_socket_error(EPERM).code(), EPERM);
  EXPECT_EQ(std::string(packet_socket_error(EMFILE).what()).find("CAP_NET_RAW"),
            std::string::npos);
}

TEST(ingress_socket, without_cap_net_raw_opening_fails_with_that_message) {
  // A child drops CAP_NET_RAW from its effective set (or never had it) and
  // tries for real; the parent checks the message it reports.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &hdr, data) == 0) {
      data[CAP_NET_RAW / 32].effective &= ~(1u << (CAP_NET_RAW % 32));
      ::syscall(SYS_capset, &hdr, data);
    }
    std::string msg = "opened";
    try {
      ingress_options o;
      o.ifindex = 1;
      ingress_socket s(o);
    } catch (const std::exception& e) {
      msg = e.what();
    }
    auto n = ::write(fds[1], msg.data(), msg.size());
    ::_exit(n >= 0 ? 0 : 1);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    msg.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(msg, "AF_PACKET socket: Operation not permitted \u2014 needs "
                 "CAP_NET_RAW, or set ingress = \"socket\"");
}

// When its interface goes away, a packet socket gets ENETDOWN as SO_ERROR.
// A read that happens first (the forwarder drains after waking for some
// other reason) takes that error and clears it, so poll() and SO_ERROR no
// longer show it: read_error() is then the only place it is left, and a
// forwarder that did not look there waited on a dead socket forever.
TEST(ingress_socket, an_error_a_read_took_is_kept_for_the_owner) {
  expect_ok(in_private_netns([]() -> std::string {
    EXPECT_OR_RETURN(
      std::system("ip link add cst_v0 type veth peer name cst_v1 && "
                  "ip link set cst_v0 up && ip link set cst_v1 up")
        == 0,
      "ip link add veth");
    auto o = lo_options(receive_mode::recvmmsg);
    o.ifindex = if_nametoindex("cst_v0");
    EXPECT_OR_RETURN(o.ifindex != 0, "no cst_v0");
    ingress_socket in{o};
    EXPECT_OR_RETURN(std::system("ip link del cst_v0") == 0, "ip link del");
    auto none = [](const udp_datagram&) {};
    EXPECT_OR_RETURN(in.drain(none, 16) == 0, "frames from a deleted link");
    const int err = in.read_error();
    EXPECT_OR_RETURN(err == ENETDOWN, "read_error() " << std::strerror(err));
    EXPECT_OR_RETURN(in.pending_error() == 0,
                     "SO_ERROR still set: the read did not take it");
    EXPECT_OR_RETURN(in.read_error() == 0, "read_error() is not cleared");
    return {};
  }));
}
