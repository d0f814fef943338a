// bench_node: how many messages one castor node sends another over BASP on
// loopback, plaintext and TLS, against a plain TCP stream of 4-byte
// length-prefixed frames (a 64 KiB write buffer, the shape a dedicated
// per-peer stream through castor::net's TCP layer would have), in the same
// run: the figures for issue 17's choice "BASP for data, or a dedicated
// stream per peer". Each run sends `count` payloads of 64 and 1400 bytes;
// the BASP sender keeps at most two windows of 4096 messages unacknowledged,
// so memory stays bounded.
//
//   bench_node [--count N] [--reps R] [--smoke]
//
// Prints messages/s (median of R runs) and the ratio to the TCP baseline.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/system_config.hpp"
#include "castor/node/node.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using count_atom = caf::atom_constant<caf::atom("bn_count")>;
using go_atom = caf::atom_constant<caf::atom("bn_go")>;

constexpr uint64_t window = 4096;

// -- plain TCP baseline -------------------------------------------------------

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    auto k = ::write(fd, p, n);
    if (k <= 0)
      return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

double tcp_baseline(size_t payload, uint64_t count) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len);
  ::listen(lfd, 1);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  int cfd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(cfd, reinterpret_cast<sockaddr*>(&addr), len) != 0)
    return 0;
  int sfd = ::accept(lfd, nullptr, nullptr);
  ::close(lfd);
  int one = 1;
  ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto start = clock_type::now();
  std::thread writer{[&] {
    std::vector<char> buf;
    buf.reserve(64 << 10);
    std::string body(payload, 'x');
    for (uint64_t i = 0; i < count; ++i) {
      uint32_t n = htonl(static_cast<uint32_t>(payload));
      if (buf.size() + 4 + payload > buf.capacity()) {
        write_all(cfd, buf.data(), buf.size());
        buf.clear();
      }
      buf.insert(buf.end(), reinterpret_cast<char*>(&n),
                 reinterpret_cast<char*>(&n) + 4);
      buf.insert(buf.end(), body.begin(), body.end());
    }
    write_all(cfd, buf.data(), buf.size());
  }};
  std::vector<char> in(256 << 10);
  size_t have = 0;
  uint64_t got = 0;
  while (got < count) {
    auto k = ::read(sfd, in.data() + have, in.size() - have);
    if (k <= 0)
      break;
    have += static_cast<size_t>(k);
    size_t pos = 0;
    while (have - pos >= 4) {
      uint32_t n;
      std::memcpy(&n, in.data() + pos, 4);
      n = ntohl(n);
      if (have - pos < 4 + n)
        break;
      pos += 4 + n;
      ++got;
    }
    std::memmove(in.data(), in.data() + pos, have - pos);
    have -= pos;
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  writer.join();
  ::close(cfd);
  ::close(sfd);
  return got == count ? static_cast<double>(count) / secs : 0.0;
}

// -- BASP between two nodes ---------------------------------------------------

struct sink_state {
  uint64_t received = 0;
  static inline const char* name = "bench.sink";
};

caf::behavior sink(caf::stateful_actor<sink_state>* self) {
  return {
    [self](const std::string&) { ++self->state.received; },
    [self](count_atom) { return self->state.received; },
  };
}

struct sender_state {
  uint64_t sent = 0;
  uint64_t in_flight = 0;
  caf::response_promise done;
  static inline const char* name = "bench.sender";
};

// Sends a window, then asks the sink for its count; the answer releases the
// next window. Two windows in flight keep the pipe full.
void send_window(caf::stateful_actor<sender_state>* self, const caf::actor& to,
                 const std::string& body, uint64_t total) {
  auto& st = self->state;
  auto n = std::min(window, total - st.sent);
  for (uint64_t i = 0; i < n; ++i)
    self->send(to, body);
  st.sent += n;
  ++st.in_flight;
  self->request(to, caf::infinite, count_atom::value)
    .then(
      [self, to, body, total](uint64_t) {
        auto& st = self->state;
        --st.in_flight;
        if (st.sent < total)
          send_window(self, to, body, total);
        else if (st.in_flight == 0)
          st.done.deliver(caf::ok_atom::value);
      },
      [self](caf::error& err) { self->state.done.deliver(err); });
}

caf::behavior sender(caf::stateful_actor<sender_state>* self, caf::actor to,
                     std::string body, uint64_t total) {
  return {[self, to, body, total](go_atom) {
    self->state.done = self->make_response_promise();
    send_window(self, to, body, total);
    if (self->state.sent < total)
      send_window(self, to, body, total);
    return self->state.done;
  }};
}

struct box {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<castor::node::node> node;
  caf::actor published;

  explicit box(const castor::node::node_options& opts) {
    castor::runtime_options rt;
    rt.scheduler_threads = 1; // two systems share this box's cores
    castor::configure(cfg, rt);
    if (auto err = castor::node::configure(cfg, opts)) {
      std::fprintf(stderr, "%s\n", castor::describe(err).c_str());
      std::exit(1);
    }
    sys = std::make_unique<caf::actor_system>(cfg);
    node = std::make_unique<castor::node::node>(*sys, opts);
    if (!node->start())
      std::exit(1);
  }

  ~box() {
    if (published)
      caf::anon_send_exit(published, caf::exit_reason::user_shutdown);
    node.reset();
    sys.reset();
  }
};

castor::node::node_options opts_for(const std::string& name,
                                    const std::string& certs) {
  castor::node::node_options o;
  o.name = name;
  if (certs.empty()) {
    o.insecure = true;
  } else {
    o.tls = {certs + "/" + name + ".crt", certs + "/" + name + ".key",
             certs + "/ca.crt", ""};
  }
  return o;
}

double basp(size_t payload, uint64_t count, const std::string& certs) {
  box b{opts_for("b", certs)};
  b.published = b.sys->spawn(sink);
  b.node->publish("sink", b.published);
  box a{opts_for("a", certs)};
  caf::scoped_actor self{*a.sys};
  a.node->subscribe_node_events(caf::actor_cast<caf::actor>(self));
  a.node->connect({"b", "127.0.0.1", b.node->port()});
  bool up = false;
  self->receive(
    [&](castor::node::node_up_atom, const std::string&) { up = true; },
    caf::after(std::chrono::seconds(30)) >> [] {});
  auto to = up ? a.node->whereis("b", "sink")
               : caf::expected<caf::actor>{caf::sec::invalid_argument};
  if (!to)
    return 0;
  auto s = a.sys->spawn(sender, *to, std::string(payload, 'x'), count);
  bool ok = false;
  auto start = clock_type::now();
  self->request(s, caf::infinite, go_atom::value)
    .receive([&](caf::ok_atom) { ok = true; }, [&](caf::error&) {});
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  return ok ? static_cast<double>(count) / secs : 0.0;
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  uint64_t count = 200000;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--smoke") {
      count = 5000;
      reps = 1;
    } else if (arg == "--count" && i + 1 < argc) {
      count = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--count N] [--reps R] [--smoke]\n",
                   argv[0]);
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  char templ[] = "/tmp/castor-bench-node-XXXXXX";
  std::string certs = ::mkdtemp(templ);
  auto cmd = std::string{CASTOR_MAKE_CERTS} + " " + certs + " a b";
  if (std::system(cmd.c_str()) != 0)
    return 1;
  std::printf("messages/s, one sender node to one receiver node on loopback, "
              "%llu messages, median of %d\n",
              static_cast<unsigned long long>(count), reps);
  std::printf("%-8s %14s %14s %14s %10s %10s\n", "payload", "tcp frames",
              "basp plain", "basp tls", "plain/tcp", "tls/tcp");
  bool all = true;
  for (size_t payload : {size_t{64}, size_t{1400}}) {
    std::vector<double> tcp, plain, tls;
    for (int r = 0; r < reps; ++r) {
      tcp.push_back(tcp_baseline(payload, count));
      plain.push_back(basp(payload, count, ""));
      tls.push_back(basp(payload, count, certs));
    }
    auto t = median(tcp), p = median(plain), s = median(tls);
    all = all && t > 0 && p > 0 && s > 0;
    std::printf("%-8zu %14.0f %14.0f %14.0f %10.3f %10.3f\n", payload, t, p, s,
                t > 0 ? p / t : 0.0, t > 0 ? s / t : 0.0);
  }
  std::system(("rm -rf " + certs).c_str());
  return all ? 0 : 1;
}
