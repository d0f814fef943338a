// bench_tcp: TCP echo throughput through castor's listener, against a raw
// Asio echo server, in the same run.
//
// Servers (both on loopback, both with one io thread):
//   raw asio   one io_context thread; per connection async_read_some into a
//              64 KiB buffer, async_write of what came, read again. It
//              echoes bytes and knows nothing of frames.
//   castor     make_tcp_listener (4 acceptors) in a supervisor; one io
//              shard; connections with a 4-byte length prefix in
//              {active, 1024}; each handler actor sends every batch back
//              to its connection ((send_atom, tcp_frames), no copy) and
//              grants 1024 more on every passive notice. CAF runs one
//              scheduler thread, so every batch crosses threads twice.
//   castor/shard  the same with make_tcp_listener_on_shards: the handler
//              is an actor on the connection's shard, so a batch and its
//              echo never leave the io thread.
// Load: C client threads, each with its own blocking connection. A client
// writes a window of W frames (4-byte prefix + payload) in one send, reads
// until all W came back, and repeats, for a fixed time. Every round runs
// both servers one after the other (so drift in the machine hits both
// alike); the table shows medians over the rounds and the median of the
// per-round ratios. msgs/s counts echoed frames, MB/s their payload bytes
// one way. Loopback only, bounded in time and count.
//
//   bench_tcp [--rounds R] [--seconds S] [--clients C] [--window W]
//             [--caf-default-polling] [--caf-spin N] [--smoke]
//
// --caf-default-polling keeps CAF's idle-worker polling (see main());
// --caf-spin N makes an idle CAF worker poll N times before it sleeps.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include <arpa/inet.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/errors.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/tcp_listener.hpp"

namespace asio = boost::asio;
using namespace castor::net;
using clock_type = std::chrono::steady_clock;

namespace {

// Stops a client even if time checks fail: about 10x what any run reaches.
constexpr uint64_t max_windows_per_client = 50'000'000;

struct load {
  int clients = 4;
  size_t window = 64;
  size_t payload = 64;
  double seconds = 2.0;
};

struct result {
  double msgs_per_s = 0;
  double mb_per_s = 0;
};

// -- the clients ---------------------------------------------------------------

// One client: windows of W frames until `deadline`; returns frames echoed.
uint64_t run_client(unsigned short port, const load& l,
                    clock_type::time_point deadline, bool& ok) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    ok = false;
    return 0;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<char> out;
  for (size_t i = 0; i < l.window; ++i) {
    auto n = static_cast<uint32_t>(l.payload);
    char hdr[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                   static_cast<char>(n >> 8), static_cast<char>(n)};
    out.insert(out.end(), hdr, hdr + 4);
    out.insert(out.end(), l.payload, static_cast<char>('a' + i % 26));
  }
  std::vector<char> in(out.size());
  uint64_t frames = 0;
  for (uint64_t w = 0; w < max_windows_per_client; ++w) {
    if ((w & 7) == 0 && clock_type::now() >= deadline)
      break;
    size_t sent = 0;
    while (sent < out.size()) {
      auto n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        ok = false;
        ::close(fd);
        return frames;
      }
      sent += static_cast<size_t>(n);
    }
    size_t got = 0;
    while (got < in.size()) {
      auto n = ::recv(fd, in.data() + got, in.size() - got, 0);
      if (n <= 0) {
        ok = false;
        ::close(fd);
        return frames;
      }
      got += static_cast<size_t>(n);
    }
    if (w == 0 && in != out) {
      ok = false; // an echo that is not one
      break;
    }
    frames += l.window;
  }
  ::close(fd);
  return frames;
}

result run_load(unsigned short port, const load& l, bool& ok) {
  std::vector<std::thread> threads;
  std::vector<uint64_t> frames(static_cast<size_t>(l.clients), 0);
  std::vector<char> oks(static_cast<size_t>(l.clients), 1);
  auto start = clock_type::now();
  auto deadline = start
                  + std::chrono::duration_cast<clock_type::duration>(
                    std::chrono::duration<double>(l.seconds));
  for (int i = 0; i < l.clients; ++i)
    threads.emplace_back([&, i] {
      bool good = true;
      frames[static_cast<size_t>(i)] = run_client(port, l, deadline, good);
      oks[static_cast<size_t>(i)] = good;
    });
  for (auto& t : threads)
    t.join();
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  uint64_t total = 0;
  for (auto f : frames)
    total += f;
  for (auto g : oks)
    ok = ok && g;
  result r;
  r.msgs_per_s = static_cast<double>(total) / secs;
  r.mb_per_s = r.msgs_per_s * static_cast<double>(l.payload) / 1e6;
  return r;
}

// -- the raw Asio echo server ---------------------------------------------------

class raw_echo_session : public std::enable_shared_from_this<raw_echo_session> {
public:
  explicit raw_echo_session(asio::ip::tcp::socket s) : sock_(std::move(s)) {}

  void start() {
    asio::ip::tcp::no_delay nd{true};
    boost::system::error_code ec;
    sock_.set_option(nd, ec);
    read();
  }

private:
  void read() {
    sock_.async_read_some(
      asio::buffer(buf_),
      [s = shared_from_this()](boost::system::error_code ec, size_t n) {
        if (!ec)
          s->write(n);
      });
  }

  void write(size_t n) {
    asio::async_write(
      sock_, asio::buffer(buf_.data(), n),
      [s = shared_from_this()](boost::system::error_code ec, size_t) {
        if (!ec)
          s->read();
      });
  }

  asio::ip::tcp::socket sock_;
  std::array<char, 65536> buf_;
};

class raw_echo_server {
public:
  raw_echo_server()
      : acc_(io_, {asio::ip::address_v4::loopback(), 0}), thread_([this] {
          accept();
          io_.run();
        }) {}

  ~raw_echo_server() {
    io_.stop();
    thread_.join();
  }

  unsigned short port() const { return acc_.local_endpoint().port(); }

private:
  void accept() {
    acc_.async_accept(
      [this](boost::system::error_code ec, asio::ip::tcp::socket s) {
        if (ec)
          return;
        std::make_shared<raw_echo_session>(std::move(s))->start();
        accept();
      });
  }

  asio::io_context io_{1};
  asio::ip::tcp::acceptor acc_;
  std::thread thread_;
};

// -- the castor echo handler ----------------------------------------------------

constexpr int32_t credit = 1024;

caf::behavior echo_handler(caf::event_based_actor* self) {
  return {
    [](tcp_accepted_atom, const tcp_endpoint&) {},
    [=](tcp_atom, const tcp_frames& frames) {
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 send_atom::value, frames);
    },
    [=](tcp_passive_atom) {
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 active_atom::value, credit);
    },
    [=](tcp_closed_atom) { self->quit(); },
    [](tcp_error_atom, const caf::error&) {},
  };
}

caf::behavior shard_echo_handler(caf::actor_companion* self) {
  auto sender = [self] {
    return caf::actor_cast<caf::actor>(self->current_sender());
  };
  return {
    [](tcp_accepted_atom, const tcp_endpoint&) {},
    [=](tcp_atom, const tcp_frames& frames) {
      self->send(sender(), send_atom::value, frames);
    },
    [=](tcp_passive_atom) { self->send(sender(), active_atom::value, credit); },
    [=](tcp_closed_atom) { self->quit(); },
    [](tcp_error_atom, const caf::error&) {},
  };
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

} // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  bool caf_polling = false;
  size_t caf_spin = 0; // 0: CAF's default of aggressive polls
  load base;
  std::vector<size_t> payloads{64, 1024};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--smoke") {
      rounds = 1;
      base.seconds = 0.2;
      base.clients = 2;
      payloads = {64};
    } else if (a == "--caf-default-polling") {
      caf_polling = true;
    } else if (a == "--caf-spin") {
      caf_spin = static_cast<size_t>(std::max(0, std::atoi(next())));
    } else if (a == "--rounds") {
      rounds = std::max(1, std::atoi(next()));
    } else if (a == "--seconds") {
      base.seconds = std::clamp(std::atof(next()), 0.05, 30.0);
    } else if (a == "--clients") {
      base.clients = std::clamp(std::atoi(next()), 1, 64);
    } else if (a == "--window") {
      base.window = static_cast<size_t>(std::clamp(std::atoi(next()), 1, 4096));
    } else {
      std::fprintf(stderr, "usage: bench_tcp [--rounds R] [--seconds S] "
                           "[--clients C] [--window W] [--caf-default-polling] "
                           "[--caf-spin N] "
                           "[--smoke]\n");
      return 2;
    }
  }

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{1});
  cfg.set("scheduler.max-throughput", size_t{300});
  if (!caf_polling) {
    // CAF 0.17's idle worker first sleeps in fixed 50 us steps (500 times)
    // without being woken by new work; only then does it wait on a
    // condition variable that enqueue signals. A request/response load
    // keeps it in the sleeping phase, so every hop into CAF waits ~100 us.
    // Skipping that phase makes enqueue wake the worker at once.
    cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  }
  if (caf_spin > 0)
    cfg.set("work-stealing.aggressive-poll-attempts", caf_spin);
  bool ok = true;
  {
    caf::actor_system sys{cfg};
    io_shards shards{io_shards_options{1, true, "bench-io-"}};
    tcp_listener_options lo;
    lo.connection.framing = tcp_framing::prefix(4);
    lo.connection.active = active_mode::counted(credit);
    auto listener = make_tcp_listener(
      "echo", shards, lo, [](caf::local_actor* sup, const tcp_endpoint&) {
        return sup->spawn(echo_handler);
      });
    auto on_shard = make_tcp_listener_on_shards(
      "echo_shard", shards, lo,
      [](caf::actor_companion* self, const tcp_endpoint&) {
        return shard_echo_handler(self);
      });
    auto sup = castor::start_supervisor(sys, castor::supervisor_flags{},
                                        {listener.spec, on_shard.spec});
    if (!sup) {
      std::fprintf(stderr, "listener: %s\n",
                   castor::describe(sup.error()).c_str());
      return 1;
    }
    raw_echo_server raw;
    auto castor_port = listener.info->local().port();
    auto shard_port = on_shard.info->local().port();

    std::printf("bench_tcp: loopback echo, %d clients x window %zu frames, "
                "%.1f s per run, %d interleaved rounds, medians; CAF idle "
                "polling: %s\n\n",
                base.clients, base.window, base.seconds, rounds,
                caf_polling ? "default" : "no moderate phase");
    std::printf("%-7s %-12s %12s %9s %7s\n", "payload", "server", "msgs/s",
                "MB/s", "ratio");
    for (auto payload : payloads) {
      auto l = base;
      l.payload = payload;
      // Per server: msgs/s, MB/s and the ratio to raw asio of each round.
      struct series {
        const char* name;
        unsigned short port;
        std::vector<double> msgs, mb, ratio;
      };
      std::vector<series> rows{{"raw asio", raw.port(), {}, {}, {}},
                               {"castor", castor_port, {}, {}, {}},
                               {"castor/shard", shard_port, {}, {}, {}}};
      for (int r = 0; r < rounds; ++r) {
        for (auto& x : rows) {
          auto res = run_load(x.port, l, ok);
          x.msgs.push_back(res.msgs_per_s);
          x.mb.push_back(res.mb_per_s);
        }
        for (auto& x : rows)
          x.ratio.push_back(
            rows[0].msgs.back() > 0 ? x.msgs.back() / rows[0].msgs.back() : 0);
      }
      for (auto& x : rows)
        std::printf("%-7zu %-12s %12.0f %9.1f %6.2fx\n", payload, x.name,
                    median(x.msgs), median(x.mb), median(x.ratio));
      std::fflush(stdout);
    }
    std::printf("\naccepted: %llu + %llu connections\n",
                static_cast<unsigned long long>(listener.info->accepted()),
                static_cast<unsigned long long>(on_shard.info->accepted()));
    caf::scoped_actor self{sys};
    self->monitor(*sup);
    self->send_exit(*sup, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});
    shards.stop();
  }
  if (!ok) {
    std::fprintf(stderr, "bench_tcp: a client failed or saw a wrong echo\n");
    return 1;
  }
  return 0;
}
