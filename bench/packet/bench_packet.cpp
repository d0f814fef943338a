// bench_packet: the two halves of castor::packet's benchmark, run by
// run.sh in two network namespaces joined by a veth pair.
//
//   bench_packet send --if IF --group G --port P --seconds S
//                     [--batch B] [--size BYTES] [--rate PPS (0 = max)]
//       Sends through udp_egress (sendmmsg, B messages per call) for S
//       seconds, at full speed or paced in 100 µs rounds. Each payload
//       carries a sequence number and a CLOCK_MONOTONIC send time (the
//       namespaces share the clock). Prints one "key=value" line. With
//       --marks 1, every datagram carries its own TTL and TOS (IP_TTL and
//       IP_TOS control messages: ttl = "decrement", tos = "preserve"),
//       to compare with the socket options (--marks 0) side by side.
//   bench_packet recv --if IF --group G --port P --seconds S
//                     [--mode ring|recvmmsg]
//       Receives through ingress_socket into a no-op callback (it only
//       reads the header) for S seconds. Prints one "key=value" line with
//       the rate, kernel drops, loss by sequence, CPU per packet and the
//       one-way latency percentiles.
//
//   bench_packet filter --out IF --in IF --rules N --filter chain|exact|tiered
//                       --traffic ruled|unruled --seconds S
//       The kernel filter's cost: sends 64-byte datagrams out of one end
//       of a veth and receives them at the other, both in this thread, with
//       the exact program (as a chain, before issue 15, or a search tree)
//       or build_filter()'s choice (the tree, then ports) for N rules (group
//       239.100.0.0 + i, port 5000). Prints CPU per datagram sent.
//
// All are bounded by --seconds; nothing runs longer than S + 1 s.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

#include "castor/packet/bpf_filter.hpp"
#include "castor/packet/ingress_socket.hpp"
#include "castor/packet/udp_egress.hpp"

using namespace castor::packet;

namespace {

struct stamp {
  uint64_t seq;
  uint64_t sent_ns;
};

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull
         + static_cast<uint64_t>(ts.tv_nsec);
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& d = "") const {
    auto i = kv.find(k);
    return i == kv.end() ? d : i->second;
  }
  double num(const std::string& k, double d) const {
    auto i = kv.find(k);
    return i == kv.end() ? d : std::stod(i->second);
  }
};

uint32_t parse_addr(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1)
    throw std::runtime_error("bad address " + s);
  return a.s_addr;
}

unsigned ifindex(const std::string& name) {
  const unsigned i = if_nametoindex(name.c_str());
  if (i == 0)
    throw std::runtime_error("no interface " + name);
  return i;
}

int run_send(const args& a) {
  const auto batch = static_cast<std::size_t>(a.num("batch", 64));
  const auto size = std::max<std::size_t>(
    sizeof(stamp), static_cast<std::size_t>(a.num("size", 64)));
  const double seconds = a.num("seconds", 2);
  const double rate = a.num("rate", 0);
  egress_options o;
  o.ifindex = ifindex(a.get("if"));
  o.ttl = 1;
  o.slots = std::max<std::size_t>(batch, 1024);
  o.max_batch = batch;
  // One frame per datagram on the veth: with UDP GSO the receiver's packet
  // tap would see runs joined into frames larger than it reads (counted
  // as truncated: nothing arrived, and the smoke run failed).
  o.segmentation = false;
  o.ip_marks = a.num("marks", 0) != 0;
  // What a decremented TTL of 64 and a preserved DSCP EF would carry.
  const ip_marks marks = o.ip_marks ? ip_marks{63, 0xb8} : ip_marks{};
  udp_egress out(o);
  const auto dest = make_destination(parse_addr(a.get("group")),
                                     static_cast<uint16_t>(a.num("port", 0)));
  std::vector<uint8_t> payload(size, 0x42);
  uint64_t seq = 0, sent = 0, blocked = 0;
  const double cpu0 = cpu_seconds();
  const uint64_t start = now_ns();
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  for (uint64_t t = start; t < end; t = now_ns()) {
    std::size_t n = batch;
    if (rate > 0) {
      const auto due =
        static_cast<uint64_t>(static_cast<double>(t - start) / 1e9 * rate);
      n = due > seq ? static_cast<std::size_t>(due - seq) : 0;
      if (n == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
    }
    while (n > 0) {
      const std::size_t round = std::min(n, batch);
      for (std::size_t i = 0; i < round; ++i) {
        stamp s{seq++, now_ns()};
        std::memcpy(payload.data(), &s, sizeof s);
        if (!out.enqueue(0, dest, payload.data(), payload.size(), marks))
          --seq; // ring full after EAGAIN: retry this seq later
      }
      auto r = out.flush();
      sent += r.sent;
      if (r.blocked) {
        ++blocked;
        pollfd p{out.fd(), POLLOUT, 0};
        ::poll(&p, 1, 10);
      }
      n -= round;
    }
  }
  sent += out.flush().sent;
  const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
  const double cpu = cpu_seconds() - cpu0;
  std::printf("send batch=%zu size=%zu marks=%d sent=%lu pps=%.0f "
              "blocked=%lu send_error=%lu cpu_us_per_pkt=%.3f\n",
              batch, size, o.ip_marks ? 1 : 0, (unsigned long)sent,
              static_cast<double>(sent) / elapsed, (unsigned long)blocked,
              (unsigned long)out.ring().counters(0).send_error,
              sent ? cpu * 1e6 / static_cast<double>(sent) : 0.0);
  return 0;
}

int run_recv(const args& a) {
  const double seconds = a.num("seconds", 2);
  ingress_options o;
  o.ifindex = ifindex(a.get("if"));
  o.mode = a.get("mode", "ring") == "ring" ? receive_mode::ring
                                           : receive_mode::recvmmsg;
  o.filter =
    build_filter({{parse_addr(a.get("group")),
                   static_cast<uint16_t>(a.num("port", 0)), std::nullopt}});
  ingress_socket in(o);
  std::printf("READY\n");
  std::fflush(stdout);
  std::vector<uint32_t> latency_us;
  latency_us.reserve(1 << 22); // no allocation while receiving
  uint64_t got = 0, max_seq = 0, first_ns = 0, last_ns = 0;
  double cpu0 = 0;
  const uint64_t end = now_ns() + static_cast<uint64_t>(seconds * 1e9);
  pollfd p{in.fd(), POLLIN, 0};
  while (now_ns() < end) {
    if (::poll(&p, 1, 10) <= 0)
      continue;
    in.drain(
      [&](const udp_datagram& d) {
        if (d.payload_size < sizeof(stamp))
          return;
        stamp s;
        std::memcpy(&s, d.payload, sizeof s);
        const uint64_t t = now_ns();
        if (got == 0) {
          first_ns = t;
          cpu0 = cpu_seconds();
        }
        last_ns = t;
        ++got;
        max_seq = std::max(max_seq, s.seq);
        if (latency_us.size() < latency_us.capacity() && t > s.sent_ns)
          latency_us.push_back(static_cast<uint32_t>((t - s.sent_ns) / 1000));
      },
      4096);
  }
  const double cpu = cpu_seconds() - cpu0;
  in.update_kernel_stats();
  std::sort(latency_us.begin(), latency_us.end());
  auto pct = [&](double q) -> unsigned {
    if (latency_us.empty())
      return 0;
    return latency_us[static_cast<std::size_t>(
      q * static_cast<double>(latency_us.size() - 1))];
  };
  const double span = static_cast<double>(last_ns - first_ns) / 1e9;
  const uint64_t expected = got ? max_seq + 1 : 0;
  std::printf("recv mode=%s got=%lu pps=%.0f lost=%lu kernel_drops=%lu "
              "cpu_us_per_pkt=%.3f p50_us=%u p99_us=%u\n",
              a.get("mode", "ring").c_str(), (unsigned long)got,
              span > 0 ? static_cast<double>(got) / span : 0.0,
              (unsigned long)(expected > got ? expected - got : 0),
              (unsigned long)in.counters().kernel_drops,
              got ? cpu * 1e6 / static_cast<double>(got) : 0.0, pct(0.5),
              pct(0.99));
  return 0;
}

// The kernel filter's cost by rule count. One process, one thread, both
// ends of a veth in one namespace: each sendmmsg crosses the veth and the
// receive softirq (where the filter runs) on this thread, so the process's
// CPU time holds the whole path. Without IRQ time accounting (this
// kernel), softirq time is charged to the task it interrupted.
int run_filter(const args& a) {
  const auto rules = static_cast<uint32_t>(a.num("rules", 1));
  const double seconds = a.num("seconds", 2);
  const std::string kind = a.get("filter", "tiered");
  const bool ruled = a.get("traffic", "ruled") == "ruled";
  const uint16_t port = 5000;
  // Rule i: 239.100.0.0 + i, port 5000 (one port, as IPTV channels).
  std::vector<filter_match> matches;
  std::vector<std::pair<uint32_t, uint16_t>> keys; // the forwarder's table
  for (uint32_t i = 0; i < rules; ++i) {
    const uint32_t g = htonl((239u << 24) | (100u << 16) | i);
    matches.push_back({g, port, std::nullopt});
    keys.emplace_back(g, port);
  }
  std::sort(keys.begin(), keys.end());
  filter_tier tier = filter_tier::exact;
  bpf_program program;
  if (kind == "exact" || kind == "chain") {
    filter_options fo;
    if (kind == "chain")
      fo.tree_leaf = 0; // the exact program as before issue 15
    try {
      program = build_exact_filter(matches, fo);
    } catch (const std::length_error&) {
      std::printf("filter rules=%u kind=%s fits=no\n", rules, kind.c_str());
      return 0;
    }
  } else {
    program = build_filter(matches, {}, &tier);
  }
  ingress_options in_o;
  in_o.ifindex = ifindex(a.get("in"));
  in_o.mode = receive_mode::recvmmsg;
  in_o.batch = 64;
  in_o.filter = program;
  ingress_socket in(in_o);
  egress_options out_o;
  out_o.ifindex = ifindex(a.get("out"));
  out_o.ttl = 1;
  out_o.slots = 1024;
  out_o.max_batch = 64;
  out_o.segmentation = false; // a frame, and a filter run, per datagram
  udp_egress out(out_o);
  // Ruled: the highest group, last in the exact program's chain (its worst
  // case). Unruled: a group no rule has, on the ruled port.
  const uint32_t group = ruled
                           ? htonl((239u << 24) | (100u << 16) | (rules - 1))
                           : htonl((239u << 24) | (200u << 16) | 1);
  const auto dest = make_destination(group, port);
  std::vector<uint8_t> payload(64, 0x42);
  uint64_t sent = 0, got = 0, matched = 0;
  auto on_datagram = [&](const udp_datagram& d) {
    ++got;
    // rule_table::find: a binary search over sorted (group, port) keys.
    auto k = std::make_pair(d.dst_be, d.dst_port);
    auto i = std::lower_bound(keys.begin(), keys.end(), k);
    matched += i != keys.end() && *i == k;
  };
  const double cpu0 = cpu_seconds();
  const uint64_t start = now_ns();
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  while (now_ns() < end) {
    for (int i = 0; i < 64; ++i)
      out.enqueue(0, dest, payload.data(), payload.size());
    sent += out.flush().sent;
    while (in.drain(on_datagram, 64) == 64) {
    }
  }
  while (in.drain(on_datagram, 64) > 0) {
  }
  const double cpu = cpu_seconds() - cpu0;
  std::printf("filter rules=%u kind=%s tier=%s insns=%zu traffic=%s "
              "sent=%lu got=%lu matched=%lu cpu_ns_per_pkt=%.0f\n",
              rules, kind.c_str(), kind == "chain" ? "chain" : to_string(tier),
              program.size(), ruled ? "ruled" : "unruled", (unsigned long)sent,
              (unsigned long)got, (unsigned long)matched,
              sent ? cpu * 1e9 / static_cast<double>(sent) : 0.0);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc % 2 != 0) {
    std::fprintf(stderr,
                 "usage: bench_packet send|recv|filter --key value...\n");
    return 2;
  }
  args a;
  for (int i = 2; i + 1 < argc; i += 2)
    a.kv[std::string(argv[i]).substr(2)] = argv[i + 1];
  try {
    if (std::string(argv[1]) == "send")
      return run_send(a);
    if (std::string(argv[1]) == "recv")
      return run_recv(a);
    if (std::string(argv[1]) == "filter")
      return run_filter(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_packet: %s\n", e.what());
    return 1;
  }
  return 2;
}
