// Deterministic tests of the UDP socket actor over real loopback sockets.
// The io shard runs in manual mode and the CAF test coordinator's run() polls
// it (handle_io_event), so actors, the socket's io steps and the kernel's
// loopback delivery all happen on this thread, in an order the test decides.

#define CAF_SUITE udp_socket
#define FAIL CAF_FAIL // dsl.hpp uses FAIL, which CAF 0.17.6 never defines
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "net_test_support.hpp"

#include "castor/net/errors.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/udp_socket.hpp"

using namespace castor::net;
using net_test::raw_udp;

namespace {

using bytes = std::vector<uint8_t>;

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

struct config : caf::actor_system_config {
  config() { register_errors(*this); }
};

// What an owner saw, in order.
struct owner_state {
  std::vector<std::string> got;
  std::vector<size_t> batch_sizes;
  std::vector<bool> truncated;
  int passive = 0;
  std::vector<caf::error> errors;
  // Batches kept alive on purpose by some tests.
  std::vector<udp_batch> held;
  bool hold = false;
  static inline const char* name = "owner";
};

caf::behavior owner_actor(caf::stateful_actor<owner_state>* self) {
  return {
    [=](udp_atom, const udp_batch& b) {
      auto& st = self->state;
      for (auto d : b.datagrams()) {
        st.got.emplace_back(d.text());
        st.truncated.push_back(d.truncated);
      }
      st.batch_sizes.push_back(b.size());
      if (st.hold)
        st.held.push_back(b);
    },
    [=](udp_passive_atom) { ++self->state.passive; },
    [=](udp_error_atom, const caf::error& err) {
      self->state.errors.push_back(err);
    },
    [=](caf::close_atom) { self->quit(); },
  };
}

struct fixture : test_coordinator_fixture<config> {
  io_shards shards{io_shards_options{1, false, "t"}};
  raw_udp peer;
  caf::actor owner;
  caf::actor sock;
  udp_endpoint sock_ep;

  fixture() { owner = sys.spawn(owner_actor); }

  ~fixture() override {
    // Close the sockets on this thread before the actor system goes away.
    shards.stop();
    run();
  }

  bool handle_io_event() override { return shards.poll_one(0) > 0; }

  void open_sock(udp_options opts = {}) {
    auto s = open_udp(sys, shards.at(0), owner, opts);
    CAF_REQUIRE(s);
    sock = s->actor;
    sock_ep = s->local;
    run();
  }

  owner_state& st() {
    return deref<caf::stateful_actor<owner_state>>(owner).state;
  }

  void push(const std::string& s) { CAF_REQUIRE(peer.send_to(sock_ep, s)); }

  template <class... Ts>
  void tell(Ts&&... xs) {
    caf::anon_send(sock, std::forward<Ts>(xs)...);
    run();
  }

  udp_stats stats() { return request<udp_stats>(sock, stats_atom::value); }

  // Sends a request to the socket and returns its answer as an
  // expected<T>, so error answers can be checked.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    auto h = self->request(sock, caf::infinite, std::forward<Ts>(xs)...);
    run();
    caf::expected<T> result = caf::sec::bad_function_call;
    h.receive([&](T& x) { result = std::move(x); },
              [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::error ask_void(caf::message msg) {
    auto h = self->request(sock, caf::infinite, std::move(msg));
    run();
    caf::error result = caf::sec::bad_function_call;
    h.receive([&] { result = caf::none; },
              [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

std::vector<std::string> strs(std::initializer_list<const char*> xs) {
  return {xs.begin(), xs.end()};
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(udp_socket_tests, fixture)

CAF_TEST(a new socket is passive and leaves data in the kernel) {
  open_sock();
  push("a");
  run();
  CAF_CHECK(st().got.empty());
  CAF_CHECK_EQUAL(stats().received, 0u);
  tell(active_atom::value, true);
  CAF_CHECK_EQUAL(st().got, strs({"a"}));
}

CAF_TEST(active once delivers one datagram then goes passive silently) {
  open_sock();
  push("a");
  push("b");
  tell(active_atom::value, once_atom::value);
  CAF_CHECK_EQUAL(st().got, strs({"a"}));
  CAF_CHECK_EQUAL(st().passive, 0);
  run();
  CAF_CHECK_EQUAL(st().got.size(), 1u);
  tell(active_atom::value, once_atom::value);
  CAF_CHECK_EQUAL(st().got, strs({"a", "b"}));
  CAF_CHECK_EQUAL(st().passive, 0);
}

CAF_TEST(active once when nothing is queued waits for the next datagram) {
  open_sock();
  tell(active_atom::value, once_atom::value);
  CAF_CHECK(st().got.empty());
  push("x");
  push("y");
  run();
  CAF_CHECK_EQUAL(st().got, strs({"x"}));
}

CAF_TEST(active true delivers everything and never sends passive) {
  open_sock({});
  tell(active_atom::value, true);
  for (int i = 0; i < 40; ++i)
    push(std::to_string(i));
  run();
  CAF_REQUIRE_EQUAL(st().got.size(), 40u);
  for (int i = 0; i < 40; ++i)
    CAF_CHECK_EQUAL(st().got[static_cast<size_t>(i)], std::to_string(i));
  CAF_CHECK_EQUAL(st().passive, 0);
}

CAF_TEST(active false stops delivery without a notice) {
  open_sock();
  tell(active_atom::value, true);
  push("a");
  run();
  tell(active_atom::value, false);
  push("b");
  run();
  CAF_CHECK_EQUAL(st().got, strs({"a"}));
  CAF_CHECK_EQUAL(st().passive, 0);
}

CAF_TEST(active N delivers exactly N then notifies passive once) {
  open_sock();
  for (int i = 0; i < 5; ++i)
    push(std::to_string(i));
  CAF_CHECK_EQUAL(ask_void(caf::make_message(active_atom::value, int32_t{3})),
                  caf::none);
  CAF_CHECK_EQUAL(st().got, strs({"0", "1", "2"}));
  CAF_CHECK_EQUAL(st().passive, 1);
  // The rest stays in the kernel until more credit arrives.
  run();
  CAF_CHECK_EQUAL(st().got.size(), 3u);
  tell(active_atom::value, int32_t{10});
  CAF_CHECK_EQUAL(st().got, strs({"0", "1", "2", "3", "4"}));
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(active N is added to the counter) {
  open_sock();
  // 2 + 3 = 5 credits before any data.
  tell(active_atom::value, int32_t{2});
  tell(active_atom::value, int32_t{3});
  for (int i = 0; i < 7; ++i)
    push(std::to_string(i));
  run();
  CAF_CHECK_EQUAL(st().got.size(), 5u);
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(the passive notice comes after the last datagram) {
  open_sock();
  tell(active_atom::value, int32_t{2});
  push("a");
  push("b");
  push("c");
  // Step the socket by hand and watch the owner's mailbox.
  while (handle_io_event())
    ; // nop
  expect((udp_atom, udp_batch), from(sock).to(owner));
  expect((udp_passive_atom), from(sock).to(owner));
  CAF_CHECK_EQUAL(st().got, strs({"a", "b"}));
}

CAF_TEST(negative N subtracts and floors at zero with a notice) {
  open_sock();
  tell(active_atom::value, int32_t{5});
  tell(active_atom::value, int32_t{-3});
  for (int i = 0; i < 4; ++i)
    push(std::to_string(i));
  run();
  // 5 - 3 = 2 credits.
  CAF_CHECK_EQUAL(st().got.size(), 2u);
  CAF_CHECK_EQUAL(st().passive, 1);
  tell(active_atom::value, int32_t{1});
  CAF_CHECK_EQUAL(st().got.size(), 3u);
  CAF_CHECK_EQUAL(st().passive, 2);
  // 4 - 10 floors at 0: passive at once, with a notice, nothing read.
  tell(active_atom::value, int32_t{4});
  CAF_CHECK_EQUAL(st().got.size(), 4u);
  push("late");
  tell(active_atom::value, int32_t{-10});
  CAF_CHECK_EQUAL(st().passive, 3);
  run();
  CAF_CHECK_EQUAL(st().got.size(), 4u);
}

CAF_TEST(active N beyond the gen_udp limit is refused and changes nothing) {
  open_sock();
  tell(active_atom::value, int32_t{30000});
  auto err = ask_void(caf::make_message(active_atom::value, int32_t{3000}));
  CAF_CHECK(is(err, errc::invalid_argument));
  push("a");
  run();
  CAF_CHECK_EQUAL(st().got.size(), 1u);
  CAF_CHECK_EQUAL(st().passive, 0);
}

CAF_TEST(read_packets bounds the datagrams per wake - up and batches them) {
  udp_options o;
  o.read_packets = 4;
  open_sock(o);
  for (int i = 0; i < 10; ++i)
    push(std::to_string(i));
  tell(active_atom::value, true);
  CAF_CHECK_EQUAL(st().batch_sizes, (std::vector<size_t>{4, 4, 2}));
  CAF_CHECK_EQUAL(st().got.size(), 10u);
  auto s = stats();
  CAF_CHECK_EQUAL(s.batches, 3u);
  CAF_CHECK_EQUAL(s.received, 10u);
}

CAF_TEST(a batch never exceeds the remaining credit) {
  udp_options o;
  o.read_packets = 8;
  o.active = active_mode::counted(5);
  open_sock(o);
  for (int i = 0; i < 12; ++i)
    push(std::to_string(i));
  run();
  CAF_CHECK_EQUAL(st().batch_sizes, (std::vector<size_t>{5}));
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(receive blocks are recycled once the owner drops the batches) {
  udp_options o;
  o.read_packets = 2;
  open_sock(o);
  tell(active_atom::value, true);
  for (int round = 0; round < 50; ++round) {
    push("a");
    push("b");
    run();
  }
  CAF_CHECK_EQUAL(st().got.size(), 100u);
  // The number of blocks does not grow with the rounds: the owner dropped
  // each batch at once. Two, because a full read posts a second drain that
  // acquires a block while the first batch is still in the owner's mailbox.
  CAF_CHECK_LESS_OR_EQUAL(stats().blocks_live, 2u);
}

CAF_TEST(held batches stay valid and force new blocks) {
  udp_options o;
  o.read_packets = 2;
  open_sock(o);
  st().hold = true;
  tell(active_atom::value, true);
  for (int round = 0; round < 3; ++round) {
    push("r" + std::to_string(round));
    run();
  }
  CAF_CHECK_EQUAL(stats().blocks_live, 3u);
  CAF_REQUIRE_EQUAL(st().held.size(), 3u);
  CAF_CHECK_EQUAL(st().held[0][0].text(), "r0");
  CAF_CHECK_EQUAL(st().held[2][0].text(), "r2");
  CAF_CHECK_EQUAL(st().held[1][0].from, peer.endpoint());
}

CAF_TEST(datagrams longer than max_datagram arrive cut and flagged) {
  udp_options o;
  o.max_datagram = 4;
  open_sock(o);
  push("abcdefgh");
  push("xy");
  tell(active_atom::value, true);
  CAF_CHECK_EQUAL(st().got, strs({"abcd", "xy"}));
  CAF_CHECK_EQUAL(st().truncated, (std::vector<bool>{true, false}));
  CAF_CHECK_EQUAL(stats().truncated, 1u);
}

CAF_TEST(recv in passive mode returns a queued datagram) {
  open_sock();
  push("q1");
  push("q2");
  auto b = ask<udp_batch>(recv_atom::value, int64_t{0});
  CAF_REQUIRE(b);
  CAF_REQUIRE_EQUAL(b->size(), 1u);
  CAF_CHECK_EQUAL((*b)[0].text(), "q1");
  CAF_CHECK_EQUAL((*b)[0].from, peer.endpoint());
  b = ask<udp_batch>(recv_atom::value, int64_t{-1});
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL((*b)[0].text(), "q2");
}

CAF_TEST(recv with timeout zero on an empty socket answers timeout) {
  open_sock();
  auto b = ask<udp_batch>(recv_atom::value, int64_t{0});
  CAF_REQUIRE(!b);
  CAF_CHECK(is(b.error(), errc::timeout));
}

CAF_TEST(recv without timeout waits for the next datagram) {
  open_sock();
  auto h = self->request(sock, caf::infinite, recv_atom::value, int64_t{-1});
  run();
  push("later");
  run();
  std::string got;
  h.receive(
    [&](udp_batch& b) { got = std::string{b[0].text()}; },
    [&](caf::error& err) { CAF_FAIL("recv failed: " << describe(err)); });
  CAF_CHECK_EQUAL(got, "later");
  // Nothing leaked to the owner.
  CAF_CHECK(st().got.empty());
}

CAF_TEST(recv is refused in active mode) {
  open_sock();
  tell(active_atom::value, true);
  auto b = ask<udp_batch>(recv_atom::value, int64_t{0});
  CAF_REQUIRE(!b);
  CAF_CHECK(is(b.error(), errc::active_mode));
}

CAF_TEST(switching to active fails a pending recv) {
  open_sock();
  auto h = self->request(sock, caf::infinite, recv_atom::value, int64_t{-1});
  run();
  tell(active_atom::value, true);
  caf::error err;
  h.receive([&](udp_batch&) { CAF_FAIL("unexpected datagram"); },
            [&](caf::error& e) { err = std::move(e); });
  CAF_CHECK(is(err, errc::active_mode));
}

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
  auto ep = ask<udp_endpoint>(sockname_atom::value);
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

CAF_TEST_FIXTURE_SCOPE_END()
