// packet_probe: the end points of the castor::packet namespace test. Each
// mode is bounded in packets and in time, prints "READY" once it listens,
// and exits 0 only if its checks pass (1 otherwise, 2 on usage errors).
//
//   send    --if IF --group G --port P --count N [--rate PPS] [--flows F]
//           [--stream S] [--size BYTES] [--timeout SEC]
//       N datagrams round-robin over F sockets (F flows, distinct source
//       ports), rate-paced in 1 ms rounds. Payload: probe_header + padding;
//       seq runs 0..N-1 across flows.
//   fanout  --if IF --rules G:P[,G:P...] --expect N --stream S
//           [--sockets K] [--mode ring|recvmmsg] [--protocol ip|all]
//           [--own G:P:COUNT] [--timeout SEC]
//       K ingress sockets in one fanout group. Checks: stream S arrives
//       exactly once per seq and completely; each flow on one socket; every
//       socket used; nothing else (other streams, unruled destinations,
//       the COUNT datagrams it sends itself out of IF to G:P) arrives;
//       the kernel passed exactly N frames and dropped none.
//   relay   --in IF --rules G:P --out IF2 --to G2:P2 --expect N
//           [--mode ring|recvmmsg] [--timeout SEC]
//       Forwards what the ingress delivers to G2:P2 out of IF2 through a
//       udp_egress; stops after N forwarded.
//   recv    --if IF --group G --port P --expect N --stream S [--timeout SEC]
//       A plain UDP receiver joined to G on IF: stream S exactly once per
//       seq and completely.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/packet/bpf_filter.hpp"
#include "castor/packet/ingress_socket.hpp"
#include "castor/packet/udp_egress.hpp"

using namespace castor::packet;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr uint32_t probe_magic = 0x43535452; // "CSTR"

struct probe_header {
  uint32_t magic;
  uint32_t stream;
  uint32_t flow;
  uint32_t reserved;
  uint64_t seq;
};

struct args {
  std::map<std::string, std::string> kv;

  std::string get(const std::string& k, const std::string& def = "") const {
    auto i = kv.find(k);
    return i == kv.end() ? def : i->second;
  }
  long num(const std::string& k, long def) const {
    auto i = kv.find(k);
    return i == kv.end() ? def : std::stol(i->second);
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

// "G:P" or "G:P:X" -> parts.
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    out.push_back(item);
  return out;
}

std::vector<filter_match> parse_rules(const std::string& spec) {
  std::vector<filter_match> m;
  for (const auto& r : split(spec, ',')) {
    auto p = split(r, ':');
    if (p.size() < 2)
      throw std::runtime_error("bad rule " + r);
    filter_match x;
    x.group_be = parse_addr(p[0]);
    x.port = static_cast<uint16_t>(std::stoi(p[1]));
    if (p.size() > 2)
      x.source_be = parse_addr(p[2]);
    m.push_back(x);
  }
  return m;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

void ready() {
  std::printf("READY\n");
  std::fflush(stdout);
}

bool read_header(const uint8_t* p, std::size_t n, probe_header& h) {
  if (n < sizeof h)
    return false;
  std::memcpy(&h, p, sizeof h);
  return h.magic == probe_magic;
}

// ---- send -----------------------------------------------------------------

int run_send(const args& a) {
  const unsigned ifi = ifindex(a.get("if"));
  const auto dest = make_destination(parse_addr(a.get("group")),
                                     static_cast<uint16_t>(a.num("port", 0)));
  const long count = a.num("count", 0);
  const long rate = a.num("rate", 20000);
  const long flows = std::max(1L, a.num("flows", 1));
  const auto stream = static_cast<uint32_t>(a.num("stream", 1));
  const auto size = static_cast<std::size_t>(
    std::max<long>(sizeof(probe_header), a.num("size", 64)));
  const double timeout = static_cast<double>(a.num("timeout", 30));

  std::vector<int> fds;
  for (long f = 0; f < flows; ++f) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ip_mreqn m{};
    m.imr_ifindex = static_cast<int>(ifi);
    const int ttl = 4;
    const int loop = 0;
    if (fd < 0
        || ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0
        || ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0
        || ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop)
             != 0) {
      std::perror("send: socket setup");
      return 1;
    }
    fds.push_back(fd);
  }
  std::vector<uint8_t> payload(size, 0x5a);
  const auto start = clock_type::now();
  long sent = 0;
  long failed = 0;
  while (sent < count && seconds_since(start) < timeout) {
    const auto due = std::min(
      count,
      static_cast<long>(seconds_since(start) * static_cast<double>(rate)) + 1);
    for (; sent < due; ++sent) {
      probe_header h{probe_magic, stream, static_cast<uint32_t>(sent % flows),
                     0, static_cast<uint64_t>(sent)};
      std::memcpy(payload.data(), &h, sizeof h);
      if (::sendto(fds[static_cast<std::size_t>(sent % flows)], payload.data(),
                   payload.size(), 0, reinterpret_cast<const sockaddr*>(&dest),
                   sizeof dest)
          < 0)
        ++failed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int fd : fds)
    ::close(fd);
  std::printf("send: stream %u sent %ld failed %ld in %.2f s\n", stream, sent,
              failed, seconds_since(start));
  return sent == count && failed == 0 ? 0 : 1;
}

// ---- fanout ---------------------------------------------------------------

receive_mode parse_mode(const std::string& s) {
  if (s.empty() || s == "ring")
    return receive_mode::ring;
  if (s == "recvmmsg")
    return receive_mode::recvmmsg;
  throw std::runtime_error("bad mode " + s);
}

int run_fanout(const args& a) {
  const auto rules = parse_rules(a.get("rules"));
  const long expect = a.num("expect", 0);
  const auto stream = static_cast<uint32_t>(a.num("stream", 1));
  const long k = std::max(1L, a.num("sockets", 2));
  const double timeout = static_cast<double>(a.num("timeout", 30));

  ingress_options o;
  o.ifindex = ifindex(a.get("if"));
  o.mode = parse_mode(a.get("mode"));
  o.protocol = a.get("protocol") == "all" ? 0x0003 : 0x0800;
  o.filter = build_filter(rules);
  std::vector<std::unique_ptr<ingress_socket>> socks;
  for (long i = 0; i < k; ++i)
    socks.push_back(std::make_unique<ingress_socket>(o));
  for (auto& s : socks)
    if (s->fanout_id() != socks[0]->fanout_id()) {
      std::printf("FAIL: sockets in different fanout groups\n");
      return 1;
    }

  // Our own output on the input interface, sent before READY: with the
  // ETH_P_ALL binding the kernel hands these to the sockets as
  // PACKET_OUTGOING, and the filter must drop them.
  long own_sent = 0;
  if (!a.get("own").empty()) {
    auto p = split(a.get("own"), ':');
    egress_options eo;
    eo.ifindex = o.ifindex;
    udp_egress out(eo);
    const auto dest = make_destination(parse_addr(p[0]),
                                       static_cast<uint16_t>(std::stoi(p[1])));
    const long n = std::stol(p[2]);
    std::vector<uint8_t> payload(64, 0);
    for (long i = 0; i < n; ++i) {
      probe_header h{probe_magic, 0xdead, 0, 0, static_cast<uint64_t>(i)};
      std::memcpy(payload.data(), &h, sizeof h);
      if (!out.enqueue(0, dest, payload.data(), payload.size())) {
        own_sent += static_cast<long>(out.flush().sent);
        out.enqueue(0, dest, payload.data(), payload.size());
      }
    }
    own_sent += static_cast<long>(out.flush().sent);
    if (own_sent != n) {
      std::printf("FAIL: sent only %ld of our own %ld\n", own_sent, n);
      return 1;
    }
  }
  ready();

  std::vector<uint32_t> seen(static_cast<std::size_t>(expect), 0);
  std::map<uint32_t, std::set<long>> flow_sockets;
  std::vector<long> per_socket(static_cast<std::size_t>(k), 0);
  long unique = 0, dups = 0, foreign = 0, unruled = 0, bad_seq = 0;
  std::vector<pollfd> pfds;
  for (auto& s : socks)
    pfds.push_back(pollfd{s->fd(), POLLIN, 0});
  const auto start = clock_type::now();
  // After the last expected datagram keep listening a little, so that
  // duplicates or strays arriving late are seen too (not a timing check).
  clock_type::time_point complete_at{};
  bool complete = false;
  while (seconds_since(start) < timeout) {
    if (complete && seconds_since(complete_at) > 0.3)
      break;
    if (::poll(pfds.data(), pfds.size(), 20) < 0)
      break;
    for (long i = 0; i < k; ++i) {
      socks[static_cast<std::size_t>(i)]->drain(
        [&](const udp_datagram& d) {
          bool ruled = false;
          for (const auto& r : rules)
            ruled |= r.group_be == d.dst_be && r.port == d.dst_port;
          if (!ruled)
            ++unruled;
          probe_header h;
          if (!read_header(d.payload, d.payload_size, h)
              || h.stream != stream) {
            ++foreign;
            return;
          }
          if (h.seq >= static_cast<uint64_t>(expect)) {
            ++bad_seq;
            return;
          }
          ++per_socket[static_cast<std::size_t>(i)];
          flow_sockets[h.flow].insert(i);
          if (seen[h.seq]++ == 0)
            ++unique;
          else
            ++dups;
        },
        4096);
    }
    if (!complete && unique == expect) {
      complete = true;
      complete_at = clock_type::now();
    }
  }

  bool ok = true;
  auto check = [&](bool c, const std::string& what) {
    if (!c) {
      std::printf("FAIL: %s\n", what.c_str());
      ok = false;
    }
  };
  ingress_counters total;
  for (long i = 0; i < k; ++i) {
    auto& s = *socks[static_cast<std::size_t>(i)];
    s.update_kernel_stats();
    const auto& c = s.counters();
    std::printf("socket %ld: fanout %u frames %lu datagrams %lu kernel "
                "passed %lu dropped %lu; stream datagrams %ld\n",
                i, s.fanout_id(), (unsigned long)c.frames,
                (unsigned long)c.datagrams, (unsigned long)c.kernel_packets,
                (unsigned long)c.kernel_drops,
                per_socket[static_cast<std::size_t>(i)]);
    total.kernel_packets += c.kernel_packets;
    total.kernel_drops += c.kernel_drops;
    total.frames += c.frames;
    for (std::size_t r = 0; r < drop_reason_count; ++r)
      total.dropped[r] += c.dropped[r];
    check(per_socket[static_cast<std::size_t>(i)] > 0,
          "socket " + std::to_string(i) + " got no flow");
  }
  long split_flows = 0;
  for (auto& [flow, set] : flow_sockets)
    split_flows += set.size() > 1;
  std::printf("fanout: unique %ld/%ld dups %ld foreign %ld unruled %ld "
              "bad_seq %ld flows %zu split_flows %ld own_sent %ld "
              "kernel_passed %lu kernel_drops %lu malformed",
              unique, expect, dups, foreign, unruled, bad_seq,
              flow_sockets.size(), split_flows, own_sent,
              (unsigned long)total.kernel_packets,
              (unsigned long)total.kernel_drops);
  for (std::size_t r = 0; r < drop_reason_count; ++r)
    std::printf(" %s=%lu",
                std::string(to_string(static_cast<drop_reason>(r))).c_str(),
                (unsigned long)total.dropped[r]);
  std::printf("\n");
  check(unique == expect, "lost datagrams");
  check(dups == 0, "duplicates");
  check(foreign == 0, "datagrams of other streams or our own output passed");
  check(unruled == 0, "unruled destination passed the filter");
  check(bad_seq == 0, "unexpected sequence numbers");
  check(split_flows == 0, "a flow was spread over sockets");
  check(total.kernel_drops == 0, "kernel dropped frames");
  check(total.kernel_packets == static_cast<uint64_t>(expect),
        "the kernel filter passed other frames than the stream");
  return ok ? 0 : 1;
}

// ---- relay ----------------------------------------------------------------

int run_relay(const args& a) {
  const auto rules = parse_rules(a.get("rules"));
  const long expect = a.num("expect", 0);
  const double timeout = static_cast<double>(a.num("timeout", 30));
  auto to = split(a.get("to"), ':');
  if (to.size() != 2)
    throw std::runtime_error("--to G:P");
  const auto dest = make_destination(parse_addr(to[0]),
                                     static_cast<uint16_t>(std::stoi(to[1])));

  ingress_options o;
  o.ifindex = ifindex(a.get("in"));
  o.mode = parse_mode(a.get("mode"));
  o.filter = build_filter(rules);
  ingress_socket in(o);
  egress_options eo;
  eo.ifindex = ifindex(a.get("out"));
  eo.ttl = 1;
  udp_egress out(eo);
  ready();

  long forwarded = 0;
  long blocked = 0;
  const auto start = clock_type::now();
  pollfd p{in.fd(), POLLIN, 0};
  while (forwarded < expect && seconds_since(start) < timeout) {
    if (out.ring().queued() > 0) {
      // Only after EAGAIN: wait for room rather than spin.
      pollfd w{out.fd(), POLLOUT, 0};
      ::poll(&w, 1, 20);
    } else if (::poll(&p, 1, 20) < 0) {
      break;
    }
    in.drain(
      [&](const udp_datagram& d) {
        out.enqueue(0, dest, d.payload, d.payload_size);
      },
      256);
    auto r = out.flush();
    forwarded += static_cast<long>(r.sent);
    blocked += r.blocked;
  }
  in.update_kernel_stats();
  const auto& c = out.ring().counters(0);
  std::printf("relay: forwarded %ld/%ld in %.2f s; ingress datagrams %lu "
              "kernel drops %lu; egress packets %lu queue_full %lu "
              "send_error %lu blocked flushes %ld\n",
              forwarded, expect, seconds_since(start),
              (unsigned long)in.counters().datagrams,
              (unsigned long)in.counters().kernel_drops,
              (unsigned long)c.packets, (unsigned long)c.queue_full,
              (unsigned long)c.send_error, blocked);
  return forwarded == expect && c.queue_full == 0 && c.send_error == 0 ? 0 : 1;
}

// ---- recv -----------------------------------------------------------------

int run_recv(const args& a) {
  const long expect = a.num("expect", 0);
  const auto stream = static_cast<uint32_t>(a.num("stream", 1));
  const double timeout = static_cast<double>(a.num("timeout", 30));
  const auto port = static_cast<uint16_t>(a.num("port", 0));
  const uint32_t group = parse_addr(a.get("group"));
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  const int big = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  sockaddr_in b = make_destination(group, port);
  ip_mreqn m{};
  m.imr_multiaddr.s_addr = group;
  m.imr_ifindex = static_cast<int>(ifindex(a.get("if")));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&b), sizeof b) != 0
      || ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0) {
    std::perror("recv: bind/join");
    return 1;
  }
  ready();
  std::vector<uint32_t> seen(static_cast<std::size_t>(expect), 0);
  long unique = 0, dups = 0, foreign = 0;
  const auto start = clock_type::now();
  clock_type::time_point complete_at{};
  bool complete = false;
  uint8_t buf[2048];
  while (seconds_since(start) < timeout) {
    if (complete && seconds_since(complete_at) > 0.3)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0)
      continue;
    for (;;) {
      const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0)
        break;
      probe_header h;
      if (!read_header(buf, static_cast<std::size_t>(n), h)
          || h.stream != stream || h.seq >= static_cast<uint64_t>(expect)) {
        ++foreign;
        continue;
      }
      if (seen[h.seq]++ == 0)
        ++unique;
      else
        ++dups;
    }
    if (!complete && unique == expect) {
      complete = true;
      complete_at = clock_type::now();
    }
  }
  std::printf("recv: unique %ld/%ld dups %ld foreign %ld\n", unique, expect,
              dups, foreign);
  return unique == expect && dups == 0 && foreign == 0 ? 0 : 1;
}

int usage() {
  std::fprintf(stderr, "usage: packet_probe send|fanout|relay|recv --key "
                       "value... (see the source header)\n");
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (argc % 2) != 0)
    return usage();
  args a;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0)
      return usage();
    a.kv[key.substr(2)] = argv[i + 1];
  }
  const std::string mode = argv[1];
  try {
    if (mode == "send")
      return run_send(a);
    if (mode == "fanout")
      return run_fanout(a);
    if (mode == "relay")
      return run_relay(a);
    if (mode == "recv")
      return run_recv(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "packet_probe %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
  return usage();
}
