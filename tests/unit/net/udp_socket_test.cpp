// Deterministic tests of the UDP socket actor over real loopback sockets.
// The io shard runs in manual mode and the CAF test coordinator's run() polls
// it (handle_io_event), so actors, the socket's io steps and the kernel's
// loopback delivery all happen on this thread, in an order the test decides.
//
// This file: active modes, credits, receive blocks and recv.
// udp_socket_io_test.cpp: closing, ownership, sending and errors.

#define CAF_SUITE udp_socket
#include <caf/test/unit_test_impl.hpp>

#include "udp_test_support.hpp"

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

CAF_TEST(an owner that holds its batches cannot pin more than the bound) {
  udp_options o;
  o.read_packets = 2;
  o.max_datagram = 100;
  // Below one block (2 x 100 bytes): refused.
  o.max_pinned_bytes = 199;
  auto refused = open_udp(sys, shards.at(0), owner, o);
  CAF_REQUIRE(!refused);
  CAF_CHECK(is(refused.error(), errc::invalid_argument));
  // Three blocks.
  o.max_pinned_bytes = 3 * 2 * 100;
  open_sock(o);
  st().hold = true;
  tell(active_atom::value, true);
  // One datagram per wake-up: each batch holds a whole block.
  for (int i = 0; i < 6; ++i) {
    push(std::to_string(i));
    run();
  }
  CAF_CHECK_EQUAL(st().got, strs({"0", "1", "2"}));
  auto s = stats();
  CAF_CHECK_EQUAL(s.received, 3u);
  CAF_CHECK_EQUAL(s.pinned_bytes, 600u);
  CAF_CHECK_EQUAL(s.blocks_live, 3u);
  CAF_CHECK_EQUAL(s.read_stalls, 1u);
  // The rest waited in the kernel. Dropping the batches resumes reading.
  st().hold = false;
  st().held.clear();
  run();
  CAF_CHECK_EQUAL(st().got, strs({"0", "1", "2", "3", "4", "5"}));
  s = stats();
  CAF_CHECK_EQUAL(s.received, 6u);
  CAF_CHECK_EQUAL(s.read_stalls, 1u);
  CAF_CHECK_EQUAL(s.pinned_bytes, 0u);
}

CAF_TEST(recv in passive mode waits at the bound too) {
  udp_options o;
  o.read_packets = 1;
  o.max_datagram = 100;
  o.max_pinned_bytes = 100;
  open_sock(o);
  push("p1");
  push("p2");
  auto first = ask_sock<udp_batch>(recv_atom::value, int64_t{0});
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL((*first)[0].text(), "p1");
  // The one block is held: a second recv waits instead of reading.
  auto h = self->request(sock, caf::infinite, recv_atom::value, int64_t{-1});
  run();
  CAF_CHECK_EQUAL(stats().received, 1u);
  CAF_CHECK_EQUAL(stats().read_stalls, 1u);
  *first = udp_batch{}; // drops the block
  run();
  std::string got;
  h.receive(
    [&](udp_batch& b) { got = std::string{b[0].text()}; },
    [&](caf::error& err) { CAF_FAIL("recv failed: " << describe(err)); });
  CAF_CHECK_EQUAL(got, "p2");
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
  auto b = ask_sock<udp_batch>(recv_atom::value, int64_t{0});
  CAF_REQUIRE(b);
  CAF_REQUIRE_EQUAL(b->size(), 1u);
  CAF_CHECK_EQUAL((*b)[0].text(), "q1");
  CAF_CHECK_EQUAL((*b)[0].from, peer.endpoint());
  b = ask_sock<udp_batch>(recv_atom::value, int64_t{-1});
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL((*b)[0].text(), "q2");
}

CAF_TEST(recv with timeout zero on an empty socket answers timeout) {
  open_sock();
  auto b = ask_sock<udp_batch>(recv_atom::value, int64_t{0});
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
  auto b = ask_sock<udp_batch>(recv_atom::value, int64_t{0});
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

CAF_TEST_FIXTURE_SCOPE_END()
