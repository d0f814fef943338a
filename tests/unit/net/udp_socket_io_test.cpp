// Deterministic tests of the UDP socket actor over real loopback sockets.
// The io shard runs in manual mode and the CAF test coordinator's run() polls
// it (handle_io_event), so actors, the socket's io steps and the kernel's
// loopback delivery all happen on this thread, in an order the test decides.
//
// This file: closing, ownership, sending and errors.

#define CAF_SUITE udp_socket

#include <cstring>
#include <memory>

#include "udp_test_support.hpp"
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"

CAF_TEST_FIXTURE_SCOPE(udp_socket_io_tests, fixture)

CAF_TEST(the socket closes when its owner dies abnormally) {
  open_sock();
  auto port = sock_ep.port();
  CAF_CHECK(net_test::port_in_use(port));
  self->monitor(sock);
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(!net_test::port_in_use(port));
  self->receive([&](caf::down_msg& dm) {
    CAF_CHECK_EQUAL(dm.reason, caf::exit_reason::user_shutdown);
  });
}

CAF_TEST(the socket closes when its owner ends normally too) {
  open_sock();
  auto port = sock_ep.port();
  caf::anon_send(owner, caf::close_atom::value);
  run();
  CAF_CHECK(!net_test::port_in_use(port));
}

CAF_TEST(close ends the socket normally without killing the owner) {
  open_sock();
  auto port = sock_ep.port();
  tell(caf::close_atom::value);
  CAF_CHECK(!net_test::port_in_use(port));
  // The owner is alive and still answers.
  caf::anon_send(owner, udp_passive_atom::value);
  run();
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(controlling_process moves the data and the link) {
  open_sock();
  auto next = sys.spawn(owner_actor);
  auto& next_st = deref<caf::stateful_actor<owner_state>>(next).state;
  // Only the owner may hand the socket over.
  auto err = ask_void(caf::make_message(controlling_atom::value, next));
  CAF_CHECK(is(err, errc::not_owner));
  // The owner asks. (inject() cannot target the socket: companions are not
  // scheduled by the test coordinator.)
  caf::send_as(owner, sock, controlling_atom::value, next);
  run();
  push("for next");
  tell(active_atom::value, true);
  CAF_CHECK_EQUAL(next_st.got, strs({"for next"}));
  CAF_CHECK(st().got.empty());
  // The old owner's death no longer closes the socket ...
  auto port = sock_ep.port();
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(net_test::port_in_use(port));
  // ... the new owner's does.
  caf::anon_send_exit(next, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(!net_test::port_in_use(port));
}

CAF_TEST(sends queued together leave in one sendmmsg) {
  open_sock();
  for (int i = 0; i < 10; ++i)
    caf::anon_send(sock, send_atom::value, peer.endpoint(),
                   to_bytes("m" + std::to_string(i)));
  run();
  for (int i = 0; i < 10; ++i)
    CAF_CHECK_EQUAL(peer.recv().value_or("<none>"), "m" + std::to_string(i));
  CAF_CHECK(!peer.recv());
  auto s = stats();
  CAF_CHECK_EQUAL(s.sent, 10u);
  CAF_CHECK_EQUAL(s.sendmmsg_calls, 1u);
}

CAF_TEST(
  several datagrams in one message leave in order under the queue bound) {
  udp_options o;
  o.max_send_queue = 4;
  open_sock(o);
  std::vector<std::vector<uint8_t>> several;
  for (int i = 0; i < 6; ++i)
    several.push_back(to_bytes("b" + std::to_string(i)));
  caf::anon_send(sock, send_atom::value, peer.endpoint(), std::move(several));
  run();
  // The first four fit the send queue and go in one sendmmsg; the other two
  // are dropped, counted and reported as any queued send would be.
  for (int i = 0; i < 4; ++i)
    CAF_CHECK_EQUAL(peer.recv().value_or("<none>"), "b" + std::to_string(i));
  CAF_CHECK(!peer.recv());
  auto s = stats();
  CAF_CHECK_EQUAL(s.sent, 4u);
  CAF_CHECK_EQUAL(s.send_dropped, 2u);
  CAF_CHECK_EQUAL(s.sendmmsg_calls, 1u);
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], errc::send_queue_full));
}

CAF_TEST(with segmentation a run of equal datagrams leaves as one GSO message) {
  udp_options o;
  o.segmentation = true;
  open_sock(o);
  raw_udp other;
  // Four of 10 bytes, one of 4 (the last of a run may be shorter), one of
  // 10 after it (a new run), one to another destination.
  std::vector<std::vector<uint8_t>> several;
  for (int i = 0; i < 4; ++i)
    several.push_back(to_bytes("datagram-" + std::to_string(i)));
  several.push_back(to_bytes("tail"));
  several.push_back(to_bytes("datagram-5"));
  caf::anon_send(sock, send_atom::value, peer.endpoint(), std::move(several));
  caf::anon_send(sock, send_atom::value, other.endpoint(), to_bytes("else"));
  run();
  // Each arrives as its own datagram, in order.
  for (int i = 0; i < 4; ++i)
    CAF_CHECK_EQUAL(peer.recv().value_or("<none>"),
                    "datagram-" + std::to_string(i));
  CAF_CHECK_EQUAL(peer.recv().value_or("<none>"), "tail");
  CAF_CHECK_EQUAL(peer.recv().value_or("<none>"), "datagram-5");
  CAF_CHECK(!peer.recv());
  CAF_CHECK_EQUAL(other.recv().value_or("<none>"), "else");
  auto s = stats();
  CAF_CHECK_EQUAL(s.sent, 7u);
  // The first five joined (loopback takes UDP GSO); the others alone.
  CAF_CHECK_EQUAL(s.segmented, 5u);
  CAF_CHECK_EQUAL(s.sendmmsg_calls, 1u);
}

CAF_TEST(with recycle the buffers of sent datagrams come back with capacity) {
  udp_options o;
  o.recycle = std::make_shared<send_buffers>();
  open_sock(o);
  std::vector<std::vector<uint8_t>> several;
  for (int i = 0; i < 5; ++i) {
    several.push_back(to_bytes("datagram-" + std::to_string(i)));
    several.back().reserve(1500);
  }
  caf::anon_send(sock, send_atom::value, peer.endpoint(), std::move(several));
  run();
  for (int i = 0; i < 5; ++i)
    CAF_CHECK_EQUAL(peer.recv().value_or("<none>"),
                    "datagram-" + std::to_string(i));
  CAF_CHECK_EQUAL(stats().sent, 5u);
  std::vector<std::vector<uint8_t>> back;
  CAF_CHECK_EQUAL(o.recycle->take(back, 10), 5u);
  for (auto& b : back) {
    CAF_CHECK(b.empty());
    CAF_CHECK_GREATER_OR_EQUAL(b.capacity(), 1500u);
  }
}

namespace {

// Sends `payload` to `to` over loopback as one UDP GSO message of
// `segment`-byte datagrams (UDP_SEGMENT), as a --gso publisher does.
void send_segmented(const udp_endpoint& to, const std::string& payload,
                    uint16_t segment) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  CAF_REQUIRE(fd >= 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(to.port());
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(uint16_t))] = {};
  msghdr m{};
  m.msg_name = &dst;
  m.msg_namelen = sizeof(dst);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  auto* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = IPPROTO_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  std::memcpy(CMSG_DATA(c), &segment, sizeof(segment));
  auto n = ::sendmsg(fd, &m, 0);
  ::close(fd);
  CAF_REQUIRE_EQUAL(n, static_cast<ssize_t>(payload.size()));
}

const std::string four_and_a_tail =
  "datagram-0datagram-1datagram-2datagram-3tail";

std::vector<std::string> segments_of(const std::string& entry, size_t seg) {
  std::vector<std::string> out;
  udp_endpoint from;
  datagram d{from,         reinterpret_cast<const uint8_t*>(entry.data()),
             entry.size(), false,
             {},           0,
             seg};
  for_each_segment(d, [&](const uint8_t* p, size_t n) {
    out.emplace_back(reinterpret_cast<const char*>(p), n);
  });
  return out;
}

} // namespace

CAF_TEST(
  with gro a GSO run arrives as one entry and splits into its datagrams) {
  udp_options o;
  o.gro = true;
  o.max_datagram = 65536;
  o.read_packets = 4;
  open_sock(o);
  send_segmented(sock_ep, four_and_a_tail, 10);
  tell(active_atom::value, true);
  // One entry for the five datagrams, read and woken for once.
  CAF_REQUIRE_EQUAL(st().got.size(), 1u);
  CAF_CHECK_EQUAL(st().segment_sizes[0], 10u);
  CAF_CHECK_EQUAL(
    segments_of(st().got[0], st().segment_sizes[0]),
    strs({"datagram-0", "datagram-1", "datagram-2", "datagram-3", "tail"}));
  // A lone datagram is itself, with no segment size.
  push("alone");
  run();
  CAF_REQUIRE_EQUAL(st().got.size(), 2u);
  CAF_CHECK_EQUAL(st().got[1], "alone");
  CAF_CHECK_EQUAL(st().segment_sizes[1], 0u);
  // The counters count datagrams, not entries.
  CAF_CHECK_EQUAL(stats().received, 6u);
}

CAF_TEST(without gro the kernel cuts a GSO run into datagrams) {
  open_sock();
  send_segmented(sock_ep, four_and_a_tail, 10);
  tell(active_atom::value, true);
  CAF_CHECK_EQUAL(st().got, strs({"datagram-0", "datagram-1", "datagram-2",
                                  "datagram-3", "tail"}));
  CAF_CHECK_EQUAL(st().segment_sizes, std::vector<size_t>(5, 0));
  CAF_CHECK_EQUAL(stats().received, 5u);
}

CAF_TEST(gro needs a 64 KB receive slot) {
  udp_options o;
  o.gro = true;
  auto s = open_udp(sys, shards.at(0), owner, o);
  CAF_REQUIRE(!s);
  CAF_CHECK(is(s.error(), errc::invalid_argument));
  CAF_CHECK(sys.render(s.error()).find("gro") != std::string::npos);
}

CAF_TEST(a connected socket sends to its peer) {
  udp_options o;
  o.peer = peer.endpoint();
  open_sock(o);
  tell(send_atom::value, to_bytes("hello"));
  CAF_CHECK_EQUAL(peer.recv().value_or("<none>"), "hello");
}

CAF_TEST(a received batch can be forwarded without copying) {
  udp_options o;
  o.read_packets = 8;
  open_sock(o);
  raw_udp sink;
  // A relay: the owner forwards each batch it receives to the sink.
  auto relay = sys.spawn([&](caf::event_based_actor* me) -> caf::behavior {
    return {
      [=, dst = sink.endpoint()](udp_atom, const udp_batch& b) {
        me->send(caf::actor_cast<caf::actor>(me->current_sender()),
                 send_atom::value, dst, b);
      },
    };
  });
  caf::send_as(owner, sock, controlling_atom::value, relay);
  push("f1");
  push("f2");
  push("f3");
  tell(active_atom::value, true);
  CAF_CHECK_EQUAL(sink.recv().value_or("<none>"), "f1");
  CAF_CHECK_EQUAL(sink.recv().value_or("<none>"), "f2");
  CAF_CHECK_EQUAL(sink.recv().value_or("<none>"), "f3");
  CAF_CHECK_EQUAL(stats().sendmmsg_calls, 1u);
  caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST(a failed send reaches the owner as an error message) {
  open_sock();
  // Larger than any IPv4 datagram: EMSGSIZE for this one only.
  tell(send_atom::value, peer.endpoint(), bytes(70000, 'x'));
  tell(send_atom::value, peer.endpoint(), to_bytes("ok"));
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], errc::send_failed));
  CAF_MESSAGE("error: " << describe(st().errors[0]));
  CAF_CHECK_NOT_EQUAL(describe(st().errors[0]).find("Message too long"),
                      std::string::npos);
  CAF_CHECK_EQUAL(peer.recv().value_or("<none>"), "ok");
  CAF_CHECK_EQUAL(stats().send_errors, 1u);
}

CAF_TEST(an ICMP port unreachable reaches the owner as an error message) {
  // Connect to a port nobody listens on: the kernel answers our datagram
  // with ICMP port unreachable, which surfaces as ECONNREFUSED on read.
  unsigned short dead_port;
  {
    raw_udp tmp;
    dead_port = tmp.endpoint().port();
  }
  udp_options o;
  o.peer = udp_endpoint{boost::asio::ip::address_v4::loopback(), dead_port};
  open_sock(o);
  tell(active_atom::value, true);
  tell(send_atom::value, to_bytes("anyone?"));
  run();
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], errc::recv_failed));
  CAF_CHECK_NOT_EQUAL(describe(st().errors[0]).find("refused"),
                      std::string::npos);
}

CAF_TEST(a full send queue drops and reports once per burst) {
  udp_options o;
  o.max_send_queue = 3;
  open_sock(o);
  for (int i = 0; i < 5; ++i)
    caf::anon_send(sock, send_atom::value, peer.endpoint(),
                   to_bytes(std::to_string(i)));
  run();
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], errc::send_queue_full));
  auto s = stats();
  CAF_CHECK_EQUAL(s.sent, 3u);
  CAF_CHECK_EQUAL(s.send_dropped, 2u);
}

CAF_TEST(option errors name the option and the reason) {
  open_sock();
  auto err = ask_void(caf::make_message(
    setopt_atom::value, udp_option{udp_option::kind::multicast_ttl, 300}));
  CAF_CHECK(is(err, errc::invalid_argument));
  CAF_CHECK_NOT_EQUAL(describe(err).find("IP_MULTICAST_TTL"),
                      std::string::npos);
  err = ask_void(caf::make_message(
    caf::join_atom::value, multicast_membership::any_source(
                             boost::asio::ip::make_address_v4("239.1.2.3"),
                             interface_ref::by_name("no-such-if0"))));
  CAF_CHECK(is(err, errc::no_such_interface));
  CAF_CHECK_NOT_EQUAL(describe(err).find("no-such-if0"), std::string::npos);
  err = ask_void(caf::make_message(
    setopt_atom::value, udp_option{udp_option::kind::read_packets, 0}));
  CAF_CHECK(is(err, errc::invalid_argument));
  err = ask_void(caf::make_message(setopt_atom::value,
                                   udp_option{udp_option::kind::tos, 0x10}));
  CAF_CHECK_EQUAL(err, caf::none);
}

CAF_TEST(open fails with a clear error when the port is taken) {
  open_sock();
  udp_options o;
  o.local = sock_ep;
  auto s = open_udp(sys, shards.at(0), owner, o);
  CAF_REQUIRE(!s);
  CAF_CHECK(is(s.error(), errc::open_failed));
  CAF_MESSAGE("error: " << describe(s.error()));
  CAF_CHECK_NOT_EQUAL(describe(s.error()).find("bind"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(describe(s.error()).find("in use"), std::string::npos);
}

CAF_TEST(sockname answers the bound address) {
  open_sock();
  auto ep = ask_sock<udp_endpoint>(sockname_atom::value);
  CAF_REQUIRE(ep);
  CAF_CHECK_EQUAL(*ep, sock_ep);
  CAF_CHECK_NOT_EQUAL(sock_ep.port(), 0);
}

CAF_TEST(stopping the shards closes open sockets with user_shutdown) {
  open_sock();
  auto port = sock_ep.port();
  self->monitor(sock);
  shards.stop();
  run();
  CAF_CHECK(!net_test::port_in_use(port));
  self->receive([&](caf::down_msg& dm) {
    CAF_CHECK_EQUAL(dm.reason, caf::exit_reason::user_shutdown);
  });
  // A stopped shard takes no new sockets.
  auto s = open_udp(sys, shards.at(0), owner, udp_options{});
  CAF_REQUIRE(!s);
  CAF_CHECK(is(s.error(), errc::shutting_down));
}

CAF_TEST(a restarted owner binds its fixed port again on the first try) {
  // Issue 13: the old socket closed in a later step on its shard, after
  // the supervisor had already seen its owner die, so the replacement's
  // bind of the same port failed with EADDRINUSE and every retry counted
  // toward the restart intensity. Here the shard runs only once no actor
  // has work left, the most hostile order, so the old code failed every
  // round.
  unsigned short port = 0;
  {
    raw_udp probe; // a free port, released at once
    port = probe.endpoint().port();
  }
  udp_options o;
  o.local = {boost::asio::ip::address_v4::loopback(), port};
  auto failures = std::make_shared<std::vector<std::string>>();
  auto spec = castor::worker_with(
    "udp_owner",
    [this, o, failures](caf::event_based_actor* sup,
                        const caf::message&) -> castor::start_result {
      auto owner = sup->spawn(owner_actor);
      auto s = open_udp(sup->system(), shards.at(0), owner, o);
      if (!s) {
        failures->push_back(castor::describe(s.error()));
        caf::anon_send_exit(owner, caf::exit_reason::kill);
        return std::move(s.error());
      }
      return owner;
    });
  castor::supervisor_flags flags;
  flags.name = "udp_sup";
  flags.intensity = 1000;
  flags.period = std::chrono::hours{1};
  auto sup = castor::spawn_supervisor(sys, flags, {spec});
  run();
  auto current = [&] {
    auto kids = request<std::vector<castor::child_info>>(
      sup, castor::which_children_atom::value);
    CAF_REQUIRE_EQUAL(kids.size(), 1u);
    return kids[0];
  };
  for (uint64_t round = 1; round <= 50; ++round) {
    auto before = current();
    CAF_REQUIRE(before.handle);
    caf::anon_send_exit(before.handle, caf::exit_reason::kill);
    run();
    auto after = current();
    CAF_CHECK_EQUAL(after.restarts, round);
    CAF_CHECK(after.handle && after.handle != before.handle);
    if (!failures->empty()) {
      CAF_ERROR("round " << round << ": " << failures->front());
      break;
    }
  }
  CAF_CHECK(failures->empty());
  CAF_CHECK(net_test::port_in_use(port));
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(!net_test::port_in_use(port));
}

CAF_TEST_FIXTURE_SCOPE_END()
