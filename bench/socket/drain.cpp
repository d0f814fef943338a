// bench_socket's drain experiment: each receiver empties a receive buffer
// that was filled with k datagrams before it started, so nothing else runs
// while it is timed. Also the helpers both experiments share.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "bench_common.hpp"
#include <arpa/inet.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <netinet/in.h>
#include <unistd.h>

#include "castor/net/io_shards.hpp"
#include "castor/net/udp_credit.hpp"

#ifndef CASTOR_ERLANG_BENCH
#error "CASTOR_ERLANG_BENCH must name erlang_udp.escript"
#endif

namespace asio = boost::asio;

namespace castor::bench {

using net::active_atom;
using net::io_shards;
using net::open_udp;
using net::udp_atom;
using net::udp_batch;
using net::udp_endpoint;
using net::udp_options;
using net::udp_passive_atom;
using clock_type = std::chrono::steady_clock;

int bound_socket(udp_endpoint& ep) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_bytes,
               sizeof(rcvbuf_bytes));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ep = udp_endpoint{asio::ip::address_v4::loopback(), ntohs(a.sin_port)};
  return fd;
}

mmsg_buffers::mmsg_buffers(size_t vlen)
    : data(vlen * 2048), iov(vlen), msgs(vlen) {
  for (size_t i = 0; i < vlen; ++i) {
    iov[i] = {data.data() + i * 2048, 2048};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

namespace {

// Sends exactly `k` datagrams to `to` (the receiver is not reading yet).
void fill(const udp_endpoint& to, size_t payload, uint64_t k) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::connect(fd, to.data(), static_cast<socklen_t>(to.size()));
  std::vector<uint8_t> buf(payload, 0x5a);
  for (uint64_t i = 0; i < k; ++i)
    ::send(fd, buf.data(), payload, 0);
  ::close(fd);
}

double rate(uint64_t n, clock_type::time_point t0) {
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  return secs > 0 ? static_cast<double>(n) / secs : 0.0;
}

// What a drain owner does with a batch or a passive notice, whichever kind
// of actor it is: count, signal when all arrived, re-grant the credit.
struct drain_count {
  uint64_t got = 0;
  uint64_t target = 0;
  std::promise<void>* done = nullptr;

  void add(size_t n) {
    got += n;
    if (got >= target && done) {
      done->set_value();
      done = nullptr;
    }
  }
};

template <class Self>
caf::behavior drain_behavior(Self* self, std::shared_ptr<drain_count> st,
                             std::shared_ptr<net::udp_credit> credit) {
  return {
    [st](udp_atom, const udp_batch& b) { st->add(b.size()); },
    [self, credit](udp_passive_atom) { credit->refill(self); },
  };
}

} // namespace

std::pair<double, uint64_t> drain_raw_recvmmsg(size_t payload, uint64_t k) {
  udp_endpoint ep;
  int fd = bound_socket(ep);
  fill(ep, payload, k);
  constexpr size_t vlen = 64;
  mmsg_buffers bufs{vlen};
  uint64_t got = 0;
  auto t0 = clock_type::now();
  for (;;) {
    auto n = ::recvmmsg(fd, bufs.msgs.data(), vlen, MSG_DONTWAIT, nullptr);
    if (n <= 0)
      break; // nobody sends meanwhile: empty means done
    got += static_cast<uint64_t>(n);
  }
  auto r = rate(got, t0);
  ::close(fd);
  return {r, got};
}

double drain_raw_asio(size_t payload, uint64_t k) {
  udp_endpoint ep;
  int fd = bound_socket(ep);
  fill(ep, payload, k);
  asio::io_context io{1};
  asio::ip::udp::socket sock{io, asio::ip::udp::v4(), fd};
  std::vector<uint8_t> buf(2048);
  asio::ip::udp::endpoint from;
  uint64_t got = 0;
  std::function<void()> arm = [&] {
    sock.async_receive_from(asio::buffer(buf), from,
                            [&](boost::system::error_code ec, size_t) {
                              if (!ec && ++got < k)
                                arm();
                            });
  };
  auto t0 = clock_type::now();
  arm();
  io.run_for(std::chrono::seconds(10));
  return got == k ? rate(got, t0) : 0.0;
}

const char* owner_name(owner_kind kind) {
  return kind == owner_kind::scheduled ? "castor" : "castor shard";
}

double drain_castor(caf::actor_system& sys, io_shards& shards, size_t payload,
                    int32_t credit, uint64_t k, owner_kind kind) {
  std::promise<void> done;
  auto fut = done.get_future();
  auto st = std::make_shared<drain_count>();
  st->target = k;
  st->done = &done;
  // Filled in before the socket can send anything (see below).
  auto cr = std::make_shared<net::udp_credit>();
  udp_options o;
  o.read_packets = 32;
  o.max_datagram = 2048;
  o.recv_buffer = rcvbuf_bytes;
  caf::actor owner;
  udp_endpoint local;
  if (kind == owner_kind::scheduled) {
    owner = sys.spawn([st, cr](caf::event_based_actor* self) {
      return drain_behavior(self, st, cr);
    });
    auto s = open_udp(sys, shards, owner, o); // passive: nothing read yet
    if (!s) {
      std::fprintf(stderr, "open_udp: %s\n", describe(s.error()).c_str());
      std::exit(1);
    }
    *cr = net::udp_credit{*s, credit};
    local = s->local;
  } else {
    auto s =
      net::open_udp_on_shard(sys, shards, o,
                             [st, cr, credit](caf::actor_companion* self,
                                              const net::udp_socket& sock) {
                               *cr = net::udp_credit{sock, credit};
                               return drain_behavior(self, st, cr);
                             });
    if (!s) {
      std::fprintf(stderr, "open_udp_on_shard: %s\n",
                   describe(s.error()).c_str());
      std::exit(1);
    }
    owner = s->owner;
    local = s->socket.local;
  }
  fill(local, payload, k);
  auto t0 = clock_type::now();
  // The socket started passive; the first grant comes from outside.
  caf::anon_send(cr->socket(), active_atom::value, credit);
  bool ok = fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  auto r = ok ? rate(k, t0) : 0.0;
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  return r;
}

std::optional<double> drain_erlang(size_t payload, int32_t credit, uint64_t k) {
  if (std::system("command -v escript >/dev/null 2>&1") != 0)
    return std::nullopt;
  // The escript fills and drains its own socket and times only the drain,
  // so the VM's start-up is not counted.
  auto cmd = std::string{"escript "} + CASTOR_ERLANG_BENCH + " drain "
             + std::to_string(payload) + " " + std::to_string(credit) + " "
             + std::to_string(k);
  auto* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    return 0.0;
  double r = 0;
  if (std::fscanf(p, "%lf", &r) != 1)
    r = 0;
  ::pclose(p);
  return r;
}

} // namespace castor::bench
