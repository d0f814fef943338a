// The publisher actor under CAF's test DSL, on a real loopback socket whose
// io shard runs in manual mode (testkit::io_fixture): the test decides when
// the socket gets to send, and so can hold the publisher at its bounds.
//
// The topic is mapped to 127.0.0.1 and a plain socket's port, so that what
// the publisher sends can be counted without multicast routes.

#define CAF_SUITE bus_actor

#include <memory>
#include <string>
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

  publisher_report report(const caf::actor& pub) {
    auto r = ask<publisher_report>(pub, bus_stats_atom::value);
    CAF_REQUIRE(r);
    return *r;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(bus_actor_tests, bus_fixture)

CAF_TEST(a publisher fed faster than it sends bounds its backlog) {
  publisher_options po;
  po.topic = "flow";
  po.map.set("flow", 0x7f000001, peer.port());
  po.announce_interval = std::chrono::milliseconds{0};
  po.core.max_delay = std::chrono::microseconds{0}; // a datagram a message
  po.socket_window = 2;
  po.max_backlog = 4;
  auto child = make_publisher("pub", shards, po);
  auto sup = supervise(child.spec);
  auto pub = child.info->actor();
  CAF_REQUIRE(pub);
  // The socket is held: two datagrams go to it (its window), four wait in
  // the backlog, and the other four messages sent without a request are
  // dropped and counted.
  io = false;
  for (int i = 0; i < 10; ++i)
    caf::anon_send(pub, publish_atom::value, "m" + std::to_string(i));
  settle();
  auto r = report(pub);
  CAF_CHECK_EQUAL(r.in_flight, 2u);
  CAF_CHECK_EQUAL(r.backlog, 4u);
  CAF_CHECK_EQUAL(r.refused, 4u);
  CAF_CHECK_EQUAL(r.core.messages, 6u);
  // A producer that asks is not dropped: its batch waits, unanswered, so
  // it sends no more (its credit is spent).
  auto acked = std::make_shared<uint32_t>(0);
  sys.spawn([pub, acked](caf::event_based_actor* self) {
    std::vector<std::string> msgs{"r0", "r1", "r2"};
    self->request(pub, caf::infinite, publish_atom::value, std::move(msgs))
      .then([acked](uint32_t n) { *acked = n; });
  });
  settle();
  CAF_CHECK_EQUAL(*acked, 0u);
  r = report(pub);
  CAF_CHECK_EQUAL(r.waiting_requests, 1u);
  CAF_CHECK_EQUAL(r.backlog, 4u);
  CAF_CHECK_EQUAL(r.refused, 4u);
  // The socket sends: the window moves, the backlog drains, the waiting
  // batch is taken and answered, and everything accepted arrives.
  io = true;
  settle();
  CAF_CHECK_EQUAL(*acked, 3u);
  r = report(pub);
  CAF_CHECK_EQUAL(r.waiting_requests, 0u);
  CAF_CHECK_EQUAL(r.backlog, 0u);
  CAF_CHECK_EQUAL(r.refused, 4u);
  CAF_CHECK_EQUAL(r.core.messages, 9u);
  CAF_CHECK_EQUAL(r.core.datagrams, 9u);
  CAF_CHECK_EQUAL(peer.data(), 9u);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  settle();
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

CAF_TEST_FIXTURE_SCOPE_END()
