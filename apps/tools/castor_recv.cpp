// castor-recv: the measuring receiver for castor-send's datagrams, the
// receiving half of msend/mreceive. It joins groups (any-source, or
// source-specific with --source) on an interface, or listens on a unicast
// port, and counts per stream what arrives: received, lost, duplicates,
// reordered, and latency percentiles (receive_report.hpp).
//
// One socket per destination, bound to its group and port with
// IP_MULTICAST_ALL off, so that each socket sees only its own group and no
// socket holds more than one membership (net.ipv4.igmp_max_memberships is 20
// per socket by default; other relays broke on it). IPv6 destinations
// ([ff3e::1:1]:5000) get AF_INET6 sockets, MLD joins and
// IPV6_MULTICAST_ALL off; IPv4 and IPv6 destinations may be mixed.
//
// It always ends: when every expected datagram has arrived, after --idle ms
// without traffic once traffic has started, after --duration seconds, or on
// SIGINT/SIGTERM; then it prints the report. Once its sockets are joined it
// prints "castor-recv: ready" to stderr, so that a script can start the
// sender.
//
// Exit status: 0; 1 when an --expect-* check fails; 2 bad usage; 3 a socket
// could not be set up.

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "endpoint.hpp"
#include "probe_header.hpp"
#include "receive_report.hpp"
#include "socket_util.hpp"
#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace {

using namespace castor::tools;

struct options {
  std::vector<std::string> endpoints;
  unsigned streams = 0;
  bool keep_port = false;
  std::string interface;
  std::string source;
  uint32_t expect_streams = 0;
  uint64_t expect_count = 0;
  double duration = 10;
  unsigned idle_ms = 1000;
  bool expect_zero_loss = false;
  bool expect_no_duplicates = false;
  bool expect_in_order = false;
  int rcvbuf = 8 << 20;
  unsigned batch = 64;
  bool json = false;
};

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) {
  stop_requested = 1;
}

/// A socket for one destination: joined to a group (ASM, or SSM with
/// `source`) on `ifindex`, or bound to a unicast address or 0.0.0.0. An
/// IPv6 destination gets an AF_INET6 socket and MLD joins.
int open_socket(const endpoint& at, unsigned ifindex, const std::string& source,
                int rcvbuf) {
  const bool v6 = at.v6;
  int fd = ::socket(family(at), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw_errno("socket");
  fd_guard guard{fd};
  int one = 1;
  // Several receivers (and several of our sockets) may share a port.
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    throw_errno("SO_REUSEADDR");
  set_socket_buffer(fd, true, rcvbuf);
  socklen_t length = 0;
  auto local = to_sockaddr(at, &length);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), length) != 0)
    throw_errno("bind " + to_string(at));
  if (!at.multicast())
    return guard.release();
  const int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  int zero = 0;
  if (::setsockopt(fd, level, v6 ? IPV6_MULTICAST_ALL : IP_MULTICAST_ALL, &zero,
                   sizeof(zero))
      != 0)
    throw_errno(v6 ? "IPV6_MULTICAST_ALL" : "IP_MULTICAST_ALL");
  endpoint group_only = at;
  group_only.port = 0;
  if (source.empty()) {
    group_req req{};
    req.gr_interface = ifindex;
    req.gr_group = to_sockaddr(group_only);
    if (::setsockopt(fd, level, MCAST_JOIN_GROUP, &req, sizeof(req)) != 0)
      throw_errno("join " + address_string(at));
  } else {
    group_source_req req{};
    req.gsr_interface = ifindex;
    req.gsr_group = to_sockaddr(group_only);
    req.gsr_source = to_sockaddr(parse_address(source));
    if (::setsockopt(fd, level, MCAST_JOIN_SOURCE_GROUP, &req, sizeof(req))
        != 0)
      throw_errno("join (" + source + ", " + address_string(at) + ")");
  }
  return guard.release();
}

/// Reads everything queued on one socket, up to a bound so that one busy
/// socket cannot starve the others.
void drain(int fd, std::vector<mmsghdr>& msgs, receive_report& report) {
  for (int round = 0; round < 64; ++round) {
    int n = ::recvmmsg(fd, msgs.data(), static_cast<unsigned>(msgs.size()),
                       MSG_DONTWAIT, nullptr);
    if (n <= 0)
      return;
    // One clock read for the batch: the datagrams in it were queued at or
    // before this moment, so their latency is at most over-stated by the
    // time it took to take them off the queue.
    auto now = monotonic_ns();
    for (int i = 0; i < n; ++i) {
      auto& m = msgs[static_cast<std::size_t>(i)];
      auto h = read_probe_header(
        static_cast<const uint8_t*>(m.msg_hdr.msg_iov->iov_base), m.msg_len);
      if (!h)
        report.record_foreign();
      else
        report.record(h->stream, h->sequence,
                      now > h->sent_ns ? now - h->sent_ns : 0, now);
    }
    if (static_cast<std::size_t>(n) < msgs.size())
      return;
  }
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  CLI::App app{"castor-recv: joins groups (or listens on a unicast port) and "
               "counts castor-send's datagrams per stream: received, lost, "
               "duplicates, reordered, latency p50/p99/max."};
  app
    .add_option("-g,--group,--listen", opt.endpoints,
                "ADDR:PORT to receive: a group to join, or a local unicast "
                "address (0.0.0.0 for any) to bind (repeatable)")
    ->required();
  app
    .add_option("-s,--streams", opt.streams,
                "expand one group into N: group+i, port+i")
    ->check(CLI::Range(1u, 65535u));
  app.add_flag("--keep-port", opt.keep_port,
               "with --streams: same port for every group");
  app.add_option("-i,--interface", opt.interface,
                 "join on this interface (default: the kernel's choice)");
  app.add_option("-S,--source", opt.source,
                 "source-specific join (S,G) with this source");
  app.add_option("--expect-streams", opt.expect_streams,
                 "streams to expect (default with --expect-count: one per "
                 "destination)");
  app.add_option("-c,--expect-count", opt.expect_count,
                 "datagrams to expect per stream; stop once all arrived");
  app.add_option("-d,--duration", opt.duration, "seconds at most")
    ->check(CLI::Range(0.001, 3600.0));
  app
    .add_option("--idle", opt.idle_ms,
                "stop after this many ms without traffic, once traffic has "
                "started; 0: never")
    ->check(CLI::Range(0u, 3'600'000u));
  app.add_flag("--expect-zero-loss", opt.expect_zero_loss,
               "exit 1 if anything was lost (or a stream is missing)");
  app.add_flag("--expect-no-duplicates", opt.expect_no_duplicates,
               "exit 1 if anything arrived twice");
  app.add_flag("--expect-in-order", opt.expect_in_order,
               "exit 1 if a stream's datagram arrived after a later one");
  app.add_option("--rcvbuf", opt.rcvbuf, "socket receive buffer bytes")
    ->check(CLI::Range(4096, 1 << 30));
  app.add_option("--batch", opt.batch, "datagrams per recvmmsg")
    ->check(CLI::Range(1u, 1024u));
  app.add_flag("--json", opt.json, "print the report as JSON");
  CLI11_PARSE(app, argc, argv);

  std::vector<endpoint> endpoints;
  try {
    std::vector<endpoint> given;
    for (const auto& e : opt.endpoints)
      given.push_back(parse_endpoint(e));
    endpoints = expand_streams(given, opt.streams, opt.keep_port);
    for (const auto& e : endpoints)
      if (!opt.source.empty() && parse_address(opt.source).v6 != e.v6)
        throw std::invalid_argument("--source " + opt.source
                                    + " is not of the family of "
                                    + to_string(e));
  } catch (const std::invalid_argument& e) {
    std::cerr << "castor-recv: " << e.what() << "\n";
    return 2;
  }
  expectation expect{opt.expect_streams, opt.expect_count};
  if (expect.per_stream > 0 && expect.streams == 0)
    expect.streams = static_cast<uint32_t>(endpoints.size());

  std::vector<fd_guard> sockets;
  fd_guard epoll{::epoll_create1(EPOLL_CLOEXEC)};
  try {
    if (epoll.get() < 0)
      throw_errno("epoll_create1");
    unsigned ifindex =
      opt.interface.empty() ? 0 : interface_index(opt.interface);
    for (const auto& e : endpoints) {
      sockets.emplace_back(open_socket(e, ifindex, opt.source, opt.rcvbuf));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = sockets.back().get();
      if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, ev.data.fd, &ev) != 0)
        throw_errno("epoll_ctl");
    }
  } catch (const std::exception& e) {
    std::cerr << "castor-recv: " << e.what() << "\n";
    return 3;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal; // no SA_RESTART: epoll_wait returns EINTR
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  // Receive buffers: one slot per datagram of a batch, each large enough
  // for any UDP payload.
  constexpr std::size_t slot_bytes = 65536;
  std::vector<uint8_t> buffers(std::size_t{opt.batch} * slot_bytes);
  std::vector<iovec> iovs(opt.batch);
  std::vector<mmsghdr> msgs(opt.batch);
  for (std::size_t i = 0; i < opt.batch; ++i) {
    iovs[i] = iovec{buffers.data() + i * slot_bytes, slot_bytes};
    msgs[i].msg_hdr = msghdr{};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  std::cerr << "castor-recv: ready (" << sockets.size() << " socket"
            << (sockets.size() == 1 ? "" : "s") << ") on "
            << interface_note(opt.interface,
                              endpoints.empty() ? 0 : endpoints.front().address)
            << std::endl;

  const uint64_t idle_ns = uint64_t{opt.idle_ms} * 1'000'000;
  const auto deadline =
    monotonic_ns() + static_cast<uint64_t>(opt.duration * 1e9);
  uint64_t last_count = 0;
  uint64_t last_arrival = 0;
  std::vector<epoll_event> events(64);
  receive_report report;
  while (!stop_requested) {
    auto now = monotonic_ns();
    if (now >= deadline)
      break;
    uint64_t wait_ns = deadline - now;
    if (idle_ns > 0 && last_arrival > 0)
      wait_ns = std::min(wait_ns, last_arrival + idle_ns > now
                                    ? last_arrival + idle_ns - now
                                    : 0);
    int timeout_ms = static_cast<int>(
      std::min<uint64_t>((wait_ns + 999'999) / 1'000'000, 1000));
    int n = ::epoll_wait(epoll.get(), events.data(),
                         static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      std::cerr << "castor-recv: epoll_wait: " << std::strerror(errno) << "\n";
      return 3;
    }
    for (int i = 0; i < n; ++i)
      drain(events[static_cast<std::size_t>(i)].data.fd, msgs, report);
    now = monotonic_ns();
    if (report.datagrams() != last_count) {
      last_count = report.datagrams();
      last_arrival = now;
    }
    if (report.complete(expect))
      break;
    if (idle_ns > 0 && last_arrival > 0 && now - last_arrival >= idle_ns)
      break;
  }

  if (opt.json)
    std::cout << report.to_json(expect).dump() << "\n";
  else
    std::cout << report.table(expect) << report.summary_line(expect) << "\n";

  auto totals = report.totals(expect);
  int status = 0;
  if (opt.expect_zero_loss
      && (totals.all.lost > 0 || totals.all.received == 0)) {
    std::cerr << "castor-recv: lost " << totals.all.lost << " datagram(s)"
              << (totals.missing_streams > 0
                    ? " (" + std::to_string(totals.missing_streams)
                        + " stream(s) never seen)"
                    : std::string{})
              << (totals.all.received == 0 ? "; received nothing" : "") << "\n";
    status = 1;
  }
  if (opt.expect_no_duplicates && totals.all.duplicates > 0) {
    std::cerr << "castor-recv: " << totals.all.duplicates << " duplicate(s)\n";
    status = 1;
  }
  if (opt.expect_in_order && totals.all.reordered > 0) {
    std::cerr << "castor-recv: " << totals.all.reordered
              << " datagram(s) out of order\n";
    status = 1;
  }
  return status;
}
