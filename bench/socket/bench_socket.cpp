// bench_socket: how close the active-N socket actor gets to a raw loop.
//
// Two experiments per payload size, each in interleaved rounds (so drift in
// the machine hits every path alike), medians reported:
//
// drain  The receive buffer is filled with K datagrams first, then the
//        receiver is started and timed until it has taken all K. Nothing
//        else runs meanwhile, so this is the receiver's own capacity; the
//        0.9x target is judged here.
// flood  A blaster thread floods the port for a fixed window while the
//        receiver runs. On loopback the sender pays for the kernel's
//        delivery, so this mostly shows how much CPU each receiver leaves
//        the sender on a small box.
//
// Receivers:
//   raw recvmmsg  one thread, blocking recvmmsg of up to 64
//   raw asio      one io_context thread, async_receive_from per datagram
//   castor N=k    an owner actor fed by castor::net's UDP socket in
//                 {active, k}, re-granting k on every passive notice
//                 (udp_credit::refill), on CAF's scheduler (open_udp)
//   castor shard  the same owner on the socket's own io shard, as an
//     N=k         actor_companion (open_udp_on_shard)
//   erlang N=k    (drain only) Erlang/OTP's gen_udp, {active, once} for
//                 k = 1, else {active, k}, in erlang_udp.escript; the
//                 runtime castor's sockets imitate, measured the same way.
//                 "n/a" where escript (Debian erlang-base) is missing.
// Flood figures: delivered/s, datagrams that reached the receiving code
// per second of sending, and rx ns/dgram, the receiving side's CPU time
// (process CPU minus the sender thread's) per delivered datagram.
// Loopback only.
//
//   bench_socket [--rounds R] [--window-ms W] [--smoke]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "bench_common.hpp"
#include <arpa/inet.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/net/io_shards.hpp"
#include "castor/net/udp_credit.hpp"
#include "castor/net/udp_socket.hpp"

namespace asio = boost::asio;
using namespace castor::net;
using namespace castor::bench;
using clock_type = std::chrono::steady_clock;

namespace {

struct result {
  double delivered_per_s;
  double sent_per_s;
  double rx_ns_per_dgram;
};

double cpu_seconds(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// -- the blaster -------------------------------------------------------------

// Sends `payload`-byte datagrams to `to` in sendmmsg batches of 32 until
// `stop`. Returns the number sent; `cpu` gets the thread's CPU seconds.
uint64_t blast(const udp_endpoint& to, size_t payload,
               const std::atomic<bool>& stop, double& cpu) {
  auto cpu0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::connect(fd, to.data(), static_cast<socklen_t>(to.size()));
  constexpr size_t batch = 32;
  std::vector<uint8_t> buf(payload, 0x5a);
  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  for (size_t i = 0; i < batch; ++i) {
    iov[i] = {buf.data(), payload};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    auto n = ::sendmmsg(fd, msgs.data(), batch, 0);
    if (n > 0)
      sent += static_cast<uint64_t>(n);
  }
  ::close(fd);
  cpu = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  return sent;
}

// Runs the blaster against `to` for `window`, then lets the receiver drain
// for a moment, and turns `delivered()` into rates.
result measure(const udp_endpoint& to, size_t payload,
               std::chrono::milliseconds window,
               const std::function<uint64_t()>& delivered) {
  std::atomic<bool> stop{false};
  uint64_t sent = 0;
  double sender_cpu = 0;
  auto before = delivered();
  auto cpu0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  std::thread sender([&] { sent = blast(to, payload, stop, sender_cpu); });
  std::this_thread::sleep_for(window);
  stop = true;
  sender.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto rx_cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0 - sender_cpu;
  auto got = static_cast<double>(delivered() - before);
  auto secs = std::chrono::duration<double>(window).count();
  return {got / secs, static_cast<double>(sent) / secs,
          got > 0 ? rx_cpu * 1e9 / got : 0.0};
}

// -- raw recvmmsg --------------------------------------------------------------

result run_raw_recvmmsg(size_t payload, std::chrono::milliseconds window) {
  udp_endpoint ep;
  int fd = bound_socket(ep);
  timeval tv{0, 20000}; // wake up to notice `stop`
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  constexpr size_t vlen = 64;
  mmsg_buffers bufs{vlen};
  std::atomic<uint64_t> count{0};
  std::atomic<bool> stop{false};
  std::thread rx([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      auto n = ::recvmmsg(fd, bufs.msgs.data(), vlen, MSG_WAITFORONE, nullptr);
      if (n > 0)
        count.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
  });
  auto r = measure(ep, payload, window, [&] { return count.load(); });
  stop = true;
  rx.join();
  ::close(fd);
  return r;
}

// -- raw Asio ------------------------------------------------------------------

struct asio_receiver {
  asio::ip::udp::socket sock;
  std::vector<uint8_t> buf = std::vector<uint8_t>(2048);
  asio::ip::udp::endpoint from;
  std::atomic<uint64_t> count{0};

  explicit asio_receiver(asio::io_context& io, int fd)
      : sock(io, asio::ip::udp::v4(), fd) {}

  void arm() {
    sock.async_receive_from(asio::buffer(buf), from,
                            [this](boost::system::error_code ec, size_t) {
                              if (ec)
                                return;
                              count.fetch_add(1, std::memory_order_relaxed);
                              arm();
                            });
  }
};

result run_raw_asio(size_t payload, std::chrono::milliseconds window) {
  udp_endpoint ep;
  int fd = bound_socket(ep);
  asio::io_context io{1};
  asio_receiver rx{io, fd};
  rx.arm();
  std::thread t([&] { io.run(); });
  auto r = measure(ep, payload, window, [&] { return rx.count.load(); });
  asio::post(io, [&] { rx.sock.close(); });
  t.join();
  return r;
}

// -- castor --------------------------------------------------------------------

template <class Self>
caf::behavior counting_behavior(Self* self, std::atomic<uint64_t>* count,
                                std::shared_ptr<udp_credit> credit) {
  return {
    [count](udp_atom, const udp_batch& b) {
      count->fetch_add(b.size(), std::memory_order_relaxed);
    },
    // gen_udp's idiom: on {udp_passive, S}, setopts {active, N} again.
    [self, credit](udp_passive_atom) { credit->refill(self); },
  };
}

result run_castor(caf::actor_system& sys, io_shards& shards, size_t payload,
                  int32_t credit, std::chrono::milliseconds window,
                  owner_kind kind) {
  std::atomic<uint64_t> count{0};
  auto cr = std::make_shared<udp_credit>();
  udp_options o;
  o.active = active_mode::counted(credit);
  o.read_packets = 32;
  o.max_datagram = 2048;
  o.recv_buffer = rcvbuf_bytes;
  caf::actor owner;
  udp_endpoint local;
  if (kind == owner_kind::scheduled) {
    // No passive notice before the first batch, which needs a sender: the
    // credit is set before any can arrive.
    owner = sys.spawn([&count, cr](caf::event_based_actor* self) {
      return counting_behavior(self, &count, cr);
    });
    auto s = open_udp(sys, shards, owner, o);
    if (!s) {
      std::fprintf(stderr, "open_udp: %s\n", describe(s.error()).c_str());
      std::exit(1);
    }
    *cr = udp_credit{*s, credit};
    local = s->local;
  } else {
    auto s = open_udp_on_shard(
      sys, shards, o,
      [&count, cr, credit](caf::actor_companion* self, const udp_socket& sock) {
        *cr = udp_credit{sock, credit};
        return counting_behavior(self, &count, cr);
      });
    if (!s) {
      std::fprintf(stderr, "open_udp_on_shard: %s\n",
                   describe(s.error()).c_str());
      std::exit(1);
    }
    owner = s->owner;
    local = s->socket.local;
  }
  auto r = measure(local, payload, window, [&] { return count.load(); });
  // The socket is linked to its owner: ending the owner closes it.
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  return r;
}

// -- table ---------------------------------------------------------------------

struct row {
  std::string path;
  std::string n;
  std::function<result()> run;
  std::vector<double> delivered;
  std::vector<double> sent;
  std::vector<double> rx_ns;
};

} // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  auto window = std::chrono::milliseconds(300);
  std::vector<size_t> payloads{64, 1400};
  std::vector<int32_t> credits{1, 64, 1024};
  const owner_kind owner_kinds[] = {owner_kind::scheduled,
                                    owner_kind::on_shard};
  uint64_t drain_k = 20000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--smoke") {
      rounds = 1;
      window = std::chrono::milliseconds(50);
      payloads = {64};
      drain_k = 500;
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--window-ms" && i + 1 < argc) {
      window = std::chrono::milliseconds(std::max(10, std::atoi(argv[++i])));
    } else {
      std::fprintf(stderr, "usage: bench_socket [--rounds R] [--window-ms W] "
                           "[--smoke]\n");
      return 2;
    }
  }
  caf::actor_system_config cfg;
  register_errors(cfg);
  // Two cores: one for the io shard, one for CAF; the blaster competes with
  // both, as it would with any receiver.
  cfg.set("scheduler.max-threads", size_t{1});
  cfg.set("scheduler.max-throughput", size_t{300});
  caf::actor_system sys{cfg};
  int rc = 0;
  {
    io_shards shards{io_shards_options{1, true, "bench-io-"}};
    std::printf("bench_socket: loopback, %d interleaved rounds per cell, "
                "medians; castor read_packets=32\n\n",
                rounds);
    // -- drain ----------------------------------------------------------------
    std::printf("drain: receive capacity (buffer pre-filled, then emptied)\n");
    std::printf("%-7s %-15s %-5s %7s %12s %8s %10s\n", "payload", "path", "N",
                "K", "dgram/s", "vs asio", "vs erlang");
    for (auto payload : payloads) {
      // How many datagrams of this size the buffer holds, with a margin.
      auto fit = drain_raw_recvmmsg(payload, drain_k).second;
      auto k = std::max<uint64_t>(1, std::min(drain_k, fit * 9 / 10));
      struct cell {
        std::string path;
        int32_t n = 0; // 0: not a credit-driven path
        std::function<std::optional<double>()> run;
        std::vector<double> rates;
        bool missing = false;
      };
      std::vector<cell> cells;
      auto add = [&cells](std::string path, int32_t n,
                          std::function<std::optional<double>()> run) {
        cell c;
        c.path = std::move(path);
        c.n = n;
        c.run = std::move(run);
        cells.push_back(std::move(c));
      };
      add("raw recvmmsg", 0, [&]() -> std::optional<double> {
        auto r = drain_raw_recvmmsg(payload, k);
        return r.second == k ? r.first : 0.0;
      });
      add("raw asio", 0, [&]() -> std::optional<double> {
        return drain_raw_asio(payload, k);
      });
      for (auto kind : owner_kinds)
        for (auto n : credits)
          add(owner_name(kind), n, [&, n, kind]() -> std::optional<double> {
            return drain_castor(sys, shards, payload, n, k, kind);
          });
      for (auto n : credits)
        add("erlang", n, [&, n] { return drain_erlang(payload, n, k); });
      for (int r = 0; r < rounds; ++r)
        for (auto& c : cells) {
          auto x = c.run();
          c.missing = !x;
          c.rates.push_back(x.value_or(0.0));
        }
      auto asio_rate = median(cells[1].rates);
      auto erlang_rate = [&](int32_t n) {
        for (auto& c : cells)
          if (c.path == "erlang" && c.n == n && !c.missing)
            return median(c.rates);
        return 0.0;
      };
      for (auto& c : cells) {
        auto n = c.n > 0 ? std::to_string(c.n) : std::string{"-"};
        auto kk = static_cast<unsigned long long>(k);
        if (c.missing) {
          std::printf("%-7zu %-15s %-5s %7llu %12s\n", payload, c.path.c_str(),
                      n.c_str(), kk, "n/a");
          continue;
        }
        auto d = median(c.rates);
        auto e = c.path.rfind("castor", 0) == 0 ? erlang_rate(c.n) : 0.0;
        auto vs_erlang =
          e > 0 ? std::to_string(d / e).substr(0, 4) + "x" : std::string{"-"};
        std::printf("%-7zu %-15s %-5s %7llu %12.0f %7.2fx %10s\n", payload,
                    c.path.c_str(), n.c_str(), kk, d,
                    asio_rate > 0 ? d / asio_rate : 0.0, vs_erlang.c_str());
        if (d <= 0)
          rc = 1; // a path that did not take all K is broken, not slow
      }
    }
    // -- flood ----------------------------------------------------------------
    std::printf("\nflood: a blaster thread sends for %lld ms while the "
                "receiver runs\n",
                static_cast<long long>(window.count()));
    std::printf("%-7s %-15s %-5s %12s %12s %6s %8s %11s\n", "payload", "path",
                "N", "delivered/s", "sent/s", "loss%", "vs asio",
                "rx ns/dgram");
    for (auto payload : payloads) {
      std::vector<row> rows;
      rows.push_back({"raw recvmmsg",
                      "-",
                      [&] { return run_raw_recvmmsg(payload, window); },
                      {},
                      {},
                      {}});
      rows.push_back({"raw asio",
                      "-",
                      [&] { return run_raw_asio(payload, window); },
                      {},
                      {},
                      {}});
      for (auto kind : owner_kinds)
        for (auto n : credits)
          rows.push_back({owner_name(kind),
                          std::to_string(n),
                          [&, n, kind] {
                            return run_castor(sys, shards, payload, n, window,
                                              kind);
                          },
                          {},
                          {},
                          {}});
      for (int r = 0; r < rounds; ++r)
        for (auto& x : rows) {
          auto res = x.run();
          x.delivered.push_back(res.delivered_per_s);
          x.sent.push_back(res.sent_per_s);
          x.rx_ns.push_back(res.rx_ns_per_dgram);
        }
      auto asio_rate = median(rows[1].delivered);
      for (auto& x : rows) {
        auto d = median(x.delivered);
        auto s = median(x.sent);
        auto ns = median(x.rx_ns);
        auto loss = s > 0 ? 100.0 * (1.0 - d / s) : 0.0;
        std::printf("%-7zu %-15s %-5s %12.0f %12.0f %6.1f %7.2fx %11.0f\n",
                    payload, x.path.c_str(), x.n.c_str(), d, s,
                    std::max(0.0, loss), asio_rate > 0 ? d / asio_rate : 0.0,
                    ns);
        if (d <= 0)
          rc = 1;
      }
    }
    shards.stop();
  }
  return rc;
}
