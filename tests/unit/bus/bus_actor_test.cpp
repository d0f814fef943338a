// The publisher actor under CAF's test DSL, on a real loopback socket whose
// io shard runs in manual mode (testkit::io_fixture): the test decides when
// the socket gets to send, and so can hold the publisher at its bounds.
//
// The topic is mapped to 127.0.0.1 and a plain socket's port, so that what
// the publisher sends can be counted without multicast routes.

#define CAF_SUITE bus_actor

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"
#include "castor/bus/publisher.hpp"
#include "castor/testkit/io_fixture.hpp"

using namespace castor;
using namespace castor::bus;

namespace {

// A plain UDP socket on 127.0.0.1 that counts the bus data datagrams
// reaching it.
class counting_peer {
public:
  counting_peer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CAF_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~counting_peer() { ::close(fd_); }

  uint16_t port() const { return port_; }

  /// Data datagrams received so far.
  size_t data() {
    uint8_t buf[2048];
    for (;;) {
      auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0)
        return data_;
      auto h = decode_header(buf, static_cast<size_t>(n));
      if (h && h->type == msg_type::data)
        ++data_;
    }
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
  size_t data_ = 0;
};

struct bus_fixture : testkit::io_fixture<> {
  /// False holds the io shard: the socket neither sends nor answers.
  bool io = true;
  counting_peer peer;

  bool handle_io_event() override {
    return io && io_fixture::handle_io_event();
  }

  caf::actor supervise(child_spec spec) {
    supervisor_flags flags;
    flags.name = "bus_sup";
    auto sup = spawn_supervisor(sys, flags, {std::move(spec)});
    settle();
    return sup;
  }

  /// A publisher of `topic` to the counting peer, a datagram a message,
  /// with no announcements.
  publisher_options to_peer(const std::string& topic) {
    publisher_options po;
    po.topic = topic;
    po.map.set(topic, 0x7f000001, peer.port());
    po.announce_interval = std::chrono::milliseconds{0};
    po.core.max_delay = std::chrono::microseconds{0};
    return po;
  }

  /// Sends `msgs` to `pub` as a publish request from a new actor; the
  /// answer (the number accepted) lands in the result, 0 until then.
  template <class Msgs>
  std::shared_ptr<uint32_t> request_publish(const caf::actor& pub, Msgs msgs) {
    auto acked = std::make_shared<uint32_t>(0);
    sys.spawn([pub, acked, msgs](caf::event_based_actor* self) {
      self->request(pub, caf::infinite, publish_atom::value, msgs)
        .then([acked](uint32_t n) { *acked = n; });
    });
    return acked;
  }

  static message_pack pack_of(const std::vector<std::string>& msgs) {
    message_pack p;
    for (auto& m : msgs)
      p.add(m);
    return p;
  }

  /// Asks `pub` for its report from a new actor; the answer lands in the
  /// result once the publisher has run (ask() would wait for it now).
  std::shared_ptr<std::optional<publisher_report>>
  report_later(const caf::actor& pub) {
    auto got = std::make_shared<std::optional<publisher_report>>();
    sys.spawn([pub, got](caf::event_based_actor* self) {
      self->request(pub, caf::infinite, bus_stats_atom::value)
        .then([got](const publisher_report& r) { *got = r; });
    });
    settle();
    return got;
  }

  publisher_report report(const caf::actor& pub) {
    auto r = ask<publisher_report>(pub, bus_stats_atom::value);
    CAF_REQUIRE(r);
    return *r;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(bus_actor_tests, bus_fixture)

CAF_TEST(a publisher fed faster than it sends bounds its backlog) {
  // The same whether the messages come as strings or packed.
  for (bool packed : {false, true}) {
    CAF_MESSAGE("packed = " << packed);
    counting_peer to;
    auto po = to_peer("flow");
    po.map.set("flow", 0x7f000001, to.port());
    po.socket_window = 2;
    po.max_backlog = 4;
    auto child = make_publisher("pub", shards, po);
    auto sup = supervise(child.spec);
    auto pub = child.info->actor();
    CAF_REQUIRE(pub);
    // The io shard is held. The publisher runs on it with its socket, so
    // what follows queues there and runs in this order once it goes on:
    // ten publishes without a request (two datagrams go to the socket, its
    // window; four wait in the backlog; the other four messages are
    // dropped and counted), a report, a publish request, a second report,
    // and only then the socket's sends, which the publisher's steps queued
    // behind.
    io = false;
    if (packed) {
      message_pack ten;
      for (int i = 0; i < 10; ++i)
        ten.add("m" + std::to_string(i));
      caf::anon_send(pub, publish_atom::value, std::move(ten));
    } else {
      for (int i = 0; i < 10; ++i)
        caf::anon_send(pub, publish_atom::value, "m" + std::to_string(i));
    }
    auto first = report_later(pub);
    std::vector<std::string> three{"r0", "r1", "r2"};
    // As strings, a fourth longer than any pack record (and datagram): the
    // waiting request still answers for it, and it is refused as oversize.
    auto four = three;
    four.push_back(std::string(70000, 'x'));
    auto acked = packed ? request_publish(pub, pack_of(three))
                        : request_publish(pub, four);
    settle();
    auto second = report_later(pub);
    io = true;
    settle();
    CAF_REQUIRE(*first);
    auto r = **first;
    CAF_CHECK_EQUAL(r.in_flight, 2u);
    CAF_CHECK_EQUAL(r.backlog, 4u);
    CAF_CHECK_EQUAL(r.refused, 4u);
    CAF_CHECK_EQUAL(r.core.messages, 6u);
    // A producer that asks is not dropped: its batch waited, unanswered,
    // so it sent no more (its credit was spent).
    CAF_REQUIRE(*second);
    r = **second;
    CAF_CHECK_EQUAL(r.waiting_requests, 1u);
    CAF_CHECK_EQUAL(r.backlog, 4u);
    CAF_CHECK_EQUAL(r.refused, 4u);
    // The socket sent: the window moved, the backlog drained, the waiting
    // batch was taken and answered, and everything accepted arrived.
    CAF_CHECK_EQUAL(*acked, packed ? 3u : 4u);
    r = report(pub);
    CAF_CHECK_EQUAL(r.core.oversize, packed ? 0u : 1u);
    CAF_CHECK_EQUAL(r.waiting_requests, 0u);
    CAF_CHECK_EQUAL(r.backlog, 0u);
    CAF_CHECK_EQUAL(r.refused, 4u);
    CAF_CHECK_EQUAL(r.core.messages, 9u);
    CAF_CHECK_EQUAL(r.core.datagrams, 9u);
    CAF_CHECK_EQUAL(to.data(), 9u);
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    settle();
  }
}

CAF_TEST(an idle publisher sends a burst at once in one datagram) {
  for (bool idle_flush : {true, false}) {
    CAF_MESSAGE("flush_when_idle = " << idle_flush);
    counting_peer to;
    publisher_options po;
    po.topic = "burst";
    po.map.set("burst", 0x7f000001, to.port());
    po.announce_interval = std::chrono::milliseconds{0};
    // A time bound nobody waits for: only the idle flush can seal.
    po.core.max_delay = std::chrono::hours{1};
    po.flush_when_idle = idle_flush;
    auto child = make_publisher("pub", shards, po);
    auto sup = supervise(child.spec);
    auto pub = child.info->actor();
    CAF_REQUIRE(pub);
    // Three publishes queued before the publisher runs: one burst.
    for (int i = 0; i < 3; ++i)
      caf::anon_send(pub, publish_atom::value, "m" + std::to_string(i));
    settle();
    auto r = report(pub);
    CAF_CHECK_EQUAL(r.core.messages, 3u);
    if (idle_flush) {
      // Sealed once the burst was in it, not a datagram per message.
      CAF_CHECK_EQUAL(r.core.datagrams, 1u);
      CAF_CHECK_EQUAL(to.data(), 1u);
    } else {
      // Still open: it waits to fill, or for max_delay.
      CAF_CHECK_EQUAL(r.core.datagrams, 0u);
      CAF_CHECK_EQUAL(to.data(), 0u);
    }
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    settle();
  }
}

CAF_TEST(a publisher with a rate limit holds the rest in its backlog) {
  auto po = to_peer("paced");
  // 4 KiB/s with a burst of one full datagram (1472 B): two datagrams of a
  // 500 B message (534 B with the header) go at once, the third waits.
  po.max_rate = 4096;
  po.max_rate_burst = 1;
  auto child = make_publisher("pub", shards, po);
  auto sup = supervise(child.spec);
  auto pub = child.info->actor();
  CAF_REQUIRE(pub);
  std::vector<std::string> msgs;
  for (int i = 0; i < 10; ++i)
    msgs.push_back(std::string(500, static_cast<char>('a' + i)));
  auto acked = request_publish(pub, std::move(msgs));
  settle();
  // Accepted (the backlog has room), sealed, but not sent beyond the burst.
  CAF_CHECK_EQUAL(*acked, 10u);
  auto r = report(pub);
  CAF_CHECK_EQUAL(r.core.datagrams, 10u);
  CAF_CHECK_EQUAL(peer.data(), 2u);
  CAF_CHECK_EQUAL(r.backlog, 8u);
  CAF_CHECK(r.rate_waits > 0u);
  // Time passes (the bucket runs on the real clock; the test's clock only
  // fires the publisher's wake-up): more leave, never more than were sent.
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  sched.trigger_timeouts();
  settle();
  auto sent = peer.data();
  CAF_CHECK(sent > 2u);
  CAF_CHECK(sent <= 10u);
  r = report(pub);
  // The rest still waits (with any heartbeat the wake-up queued behind it).
  CAF_CHECK(r.backlog >= 10u - sent);
  CAF_CHECK(r.backlog <= 10u - sent + r.core.heartbeats);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  settle();
}

CAF_TEST_FIXTURE_SCOPE_END()
