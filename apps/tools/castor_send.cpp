// castor-send: a measuring multicast/unicast traffic generator, the sending
// half of msend/mreceive, for castor's integration tests and bench/relay.
//
// Every datagram starts with a probe header (probe_header.hpp: stream id,
// sequence number, CLOCK_MONOTONIC send time) and is zero-padded to --size.
// Sending is paced (send_pacer.hpp) and batched with sendmmsg; --threads
// spreads streams over cores (send_plan.hpp) when one thread cannot keep
// up. It always ends: after --count datagrams per stream or --duration
// seconds, whichever comes first.
//
// Prints one `sent ...` key=value line (or JSON with --json) and exits 0;
// 2 on bad usage, 3 when a socket cannot be set up.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "endpoint.hpp"
#include "probe_header.hpp"
#include "send_pacer.hpp"
#include "send_plan.hpp"
#include "socket_util.hpp"
#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

namespace {

using namespace castor::tools;

struct options {
  std::vector<std::string> destinations;
  unsigned streams = 0;
  bool keep_port = false;
  uint32_t stream_base = 0;
  std::string interface;
  std::string bind_address;
  int ttl = 1;
  int tos = 0;
  bool loop = false;
  double rate = 1000;
  uint64_t count = 0;
  double duration = 0;
  unsigned size = 64;
  unsigned batch = 64;
  unsigned threads = 1;
  int sndbuf = 4 << 20;
  bool json = false;
};

struct thread_result {
  uint64_t sent = 0;
  uint64_t errors = 0;
  int last_error = 0;
};

std::atomic<bool> stop_requested{false};

void on_signal(int) {
  stop_requested.store(true, std::memory_order_relaxed);
}

// The IPv4 or IPv6 name of an option, to set it by the socket's family.
void set_ip_option(int fd, bool v6, int v4_name, int v6_name, int value,
                   const std::string& what) {
  if (::setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? v6_name : v4_name,
                   &value, sizeof(value))
      != 0)
    throw_errno(what);
}

int open_socket(const options& opt, bool v6) {
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw_errno("socket");
  fd_guard guard{fd};
  if (!opt.interface.empty()) {
    auto index = interface_index(opt.interface);
    if (v6) {
      set_ip_option(fd, true, 0, IPV6_MULTICAST_IF, static_cast<int>(index),
                    "IPV6_MULTICAST_IF " + opt.interface);
    } else {
      ip_mreqn mreq{};
      mreq.imr_ifindex = static_cast<int>(index);
      if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq))
          != 0)
        throw_errno("IP_MULTICAST_IF " + opt.interface);
    }
    // Unicast destinations leave by the same interface (the index in
    // network order, for both families).
    set_ip_option(fd, v6, IP_UNICAST_IF, IPV6_UNICAST_IF,
                  static_cast<int>(htonl(index)),
                  (v6 ? "IPV6_UNICAST_IF " : "IP_UNICAST_IF ") + opt.interface);
  }
  const auto ttl = "TTL " + std::to_string(opt.ttl);
  set_ip_option(fd, v6, IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS, opt.ttl, ttl);
  set_ip_option(fd, v6, IP_TTL, IPV6_UNICAST_HOPS, opt.ttl, ttl);
  set_ip_option(fd, v6, IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP,
                opt.loop ? 1 : 0,
                v6 ? "IPV6_MULTICAST_LOOP" : "IP_MULTICAST_LOOP");
  if (opt.tos != 0)
    set_ip_option(fd, v6, IP_TOS, IPV6_TCLASS, opt.tos,
                  v6 ? "IPV6_TCLASS" : "IP_TOS");
  set_socket_buffer(fd, false, opt.sndbuf);
  if (!opt.bind_address.empty()) {
    socklen_t length = 0;
    auto local = to_sockaddr(parse_address(opt.bind_address), &length);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), length) != 0)
      throw_errno("bind " + opt.bind_address);
  }
  return guard.release();
}

void sleep_until(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000u),
              static_cast<long>(ns % 1'000'000'000u)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr)
         == EINTR)
    if (stop_requested.load(std::memory_order_relaxed))
      return;
}

/// One sender thread: its lanes round-robin, paced at its share of the rate,
/// until the lanes run out, the deadline passes or a signal arrives.
thread_result run_thread(const options& opt, const thread_plan& plan,
                         const std::vector<sockaddr_storage>& dests,
                         socklen_t dest_length, int fd, uint64_t start_ns,
                         uint64_t deadline_ns) {
  thread_result result;
  const unsigned batch = opt.batch;
  std::vector<uint8_t> buffers(std::size_t{batch} * opt.size, 0);
  std::vector<mmsghdr> msgs(batch);
  std::vector<iovec> iovs(batch);
  std::vector<probe_header> headers(batch);
  std::vector<send_lane> lanes = plan.lanes;
  std::vector<uint64_t> next(lanes.size());
  for (std::size_t i = 0; i < lanes.size(); ++i)
    next[i] = lanes[i].first;
  for (unsigned i = 0; i < batch; ++i) {
    iovs[i].iov_base = buffers.data() + std::size_t{i} * opt.size;
    iovs[i].iov_len = opt.size;
    msgs[i].msg_hdr = msghdr{};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_namelen = dest_length;
  }
  send_pacer pacer(opt.rate * plan.rate_share, start_ns, batch);
  std::size_t cursor = 0;
  std::size_t active = 0;
  for (std::size_t i = 0; i < lanes.size(); ++i)
    active += next[i] < lanes[i].end ? 1 : 0;
  sleep_until(start_ns);
  while (active > 0 && !stop_requested.load(std::memory_order_relaxed)) {
    auto now = monotonic_ns();
    if (now >= deadline_ns)
      break;
    auto allowed = pacer.allowed(now, result.sent);
    if (allowed == 0) {
      sleep_until(std::min(pacer.wake_at(result.sent), deadline_ns));
      continue;
    }
    unsigned n = 0;
    while (n < allowed && active > 0) {
      auto& lane = lanes[cursor];
      auto& seq = next[cursor];
      cursor = (cursor + 1) % lanes.size();
      if (seq >= lane.end)
        continue;
      headers[n] = probe_header{opt.stream_base + lane.stream_index, seq, 0};
      msgs[n].msg_hdr.msg_name =
        const_cast<sockaddr_storage*>(&dests[lane.stream_index]);
      seq += lane.stride;
      if (seq >= lane.end)
        --active;
      ++n;
    }
    // One clock read stamps the whole batch: it leaves within
    // microseconds, and a read per datagram would cost more than that.
    auto stamp = monotonic_ns();
    for (unsigned i = 0; i < n; ++i) {
      headers[i].sent_ns = stamp;
      write_probe_header(headers[i], static_cast<uint8_t*>(iovs[i].iov_base));
    }
    for (unsigned off = 0; off < n;) {
      int rc = ::sendmmsg(fd, msgs.data() + off, n - off, 0);
      if (rc > 0) {
        off += static_cast<unsigned>(rc);
      } else if (rc < 0 && errno == EINTR) {
        continue;
      } else {
        // The datagram at `off` failed (say ECONNREFUSED from an earlier
        // ICMP port unreachable): count it and go on with the next one.
        ++result.errors;
        result.last_error = errno;
        ++off;
      }
    }
    result.sent += n;
  }
  return result;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec)
           + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  CLI::App app{"castor-send: paced, measuring UDP traffic generator. Each "
               "datagram carries a stream id, a sequence number and a "
               "CLOCK_MONOTONIC send time for castor-recv."};
  app
    .add_option("-g,--group,--dest", opt.destinations,
                "destination ADDR:PORT or [IPv6]:PORT, multicast or "
                "unicast (repeatable)")
    ->required();
  app
    .add_option("-s,--streams", opt.streams,
                "expand one destination into N streams: group+i, port+i")
    ->check(CLI::Range(1u, 65535u));
  app.add_flag("--keep-port", opt.keep_port,
               "with --streams: same port for every stream");
  app.add_option("--stream-base", opt.stream_base,
                 "stream id of the first destination (ids count up)");
  app.add_option("-i,--interface", opt.interface,
                 "send through this interface, by name or index "
                 "(IP_MULTICAST_IF / IPV6_MULTICAST_IF by index)");
  app.add_option("-b,--bind", opt.bind_address,
                 "source address to bind (a local address)");
  app
    .add_option("-t,--ttl", opt.ttl,
                "IP TTL or IPv6 hop limit (multicast and unicast)")
    ->check(CLI::Range(1, 255));
  app.add_option("--tos", opt.tos, "IP TOS byte (IPv6 traffic class)")
    ->check(CLI::Range(0, 255));
  app.add_flag("--loop", opt.loop, "IP_MULTICAST_LOOP on (default off)");
  app
    .add_option("-r,--rate", opt.rate,
                "datagrams per second over all streams; 0: as fast as "
                "possible")
    ->check(CLI::Range(0.0, 1e8));
  app.add_option("-c,--count", opt.count,
                 "datagrams per stream (with --duration: whichever ends "
                 "first)");
  app
    .add_option("-d,--duration", opt.duration,
                "seconds to send (default 10 without --count)")
    ->check(CLI::Range(0.0, 3600.0));
  app.add_option("-z,--size", opt.size, "UDP payload bytes")
    ->check(CLI::Range(static_cast<unsigned>(probe_header_size), 65507u));
  app.add_option("--batch", opt.batch, "datagrams per sendmmsg")
    ->check(CLI::Range(1u, 1024u));
  app.add_option("-T,--threads", opt.threads, "sender threads")
    ->check(CLI::Range(1u, 64u));
  app.add_option("--sndbuf", opt.sndbuf, "socket send buffer bytes")
    ->check(CLI::Range(4096, 1 << 30));
  app.add_flag("--json", opt.json, "print the result as JSON");
  CLI11_PARSE(app, argc, argv);

  if (opt.count == 0 && opt.duration <= 0)
    opt.duration = 10;
  std::vector<sockaddr_storage> dests;
  socklen_t dest_length = 0;
  std::vector<endpoint> endpoints;
  try {
    std::vector<endpoint> given;
    for (const auto& d : opt.destinations)
      given.push_back(parse_endpoint(d));
    endpoints = expand_streams(given, opt.streams, opt.keep_port);
    // One socket family for all: IPv4 or IPv6 destinations, not both.
    for (const auto& e : endpoints)
      if (e.v6 != endpoints.front().v6)
        throw std::invalid_argument("destinations mix IPv4 and IPv6: "
                                    + to_string(endpoints.front()) + " and "
                                    + to_string(e));
    if (!opt.bind_address.empty()
        && parse_address(opt.bind_address).v6 != endpoints.front().v6)
      throw std::invalid_argument("--bind " + opt.bind_address
                                  + " is not of the destinations' family");
  } catch (const std::invalid_argument& e) {
    std::cerr << "castor-send: " << e.what() << "\n";
    return 2;
  }
  for (const auto& e : endpoints)
    dests.push_back(to_sockaddr(e, &dest_length));
  const bool v6 = endpoints.front().v6;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  auto plan =
    plan_threads(static_cast<uint32_t>(dests.size()), opt.threads, opt.count);
  std::vector<fd_guard> sockets;
  try {
    for (std::size_t i = 0; i < plan.size(); ++i)
      sockets.emplace_back(open_socket(opt, v6));
  } catch (const std::exception& e) {
    std::cerr << "castor-send: " << e.what() << "\n";
    return 3;
  }

  std::cerr << "castor-send: sending on "
            << interface_note(opt.interface,
                              endpoints.empty() ? 0 : endpoints.front().address)
            << std::endl;
  auto cpu_before = cpu_seconds();
  // Threads start together, a little after they are created.
  auto start = monotonic_ns() + 2'000'000;
  auto deadline = opt.duration > 0
                    ? start + static_cast<uint64_t>(opt.duration * 1e9)
                    : UINT64_MAX;
  std::vector<thread_result> results(plan.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < plan.size(); ++i)
    threads.emplace_back([&, i] {
      results[i] = run_thread(opt, plan[i], dests, dest_length,
                              sockets[i].get(), start, deadline);
    });
  for (auto& t : threads)
    t.join();
  auto end = monotonic_ns();
  auto cpu = cpu_seconds() - cpu_before;

  thread_result total;
  for (const auto& r : results) {
    total.sent += r.sent;
    total.errors += r.errors;
    if (r.last_error != 0)
      total.last_error = r.last_error;
  }
  auto seconds = end > start ? static_cast<double>(end - start) * 1e-9 : 0;
  auto pps = seconds > 0 ? static_cast<double>(total.sent) / seconds : 0;
  auto cpu_us =
    total.sent > 0 ? cpu * 1e6 / static_cast<double>(total.sent) : 0;
  if (opt.json) {
    nlohmann::json j{
      {"sent", total.sent},         {"send_errors", total.errors},
      {"streams", dests.size()},    {"threads", plan.size()},
      {"seconds", seconds},         {"pps", pps},
      {"cpu_us_per_packet", cpu_us}};
    if (total.last_error != 0)
      j["last_error"] = std::strerror(total.last_error);
    std::cout << j.dump() << "\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof(line),
                  "sent=%llu send_errors=%llu streams=%zu threads=%zu "
                  "seconds=%.3f pps=%.0f cpu_us_per_pkt=%.3f",
                  static_cast<unsigned long long>(total.sent),
                  static_cast<unsigned long long>(total.errors), dests.size(),
                  plan.size(), seconds, pps, cpu_us);
    std::cout << "sent " << line;
    if (total.last_error != 0)
      std::cout << " last_error=\"" << std::strerror(total.last_error) << "\"";
    std::cout << "\n";
  }
  return 0;
}
