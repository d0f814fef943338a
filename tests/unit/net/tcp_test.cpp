// Deterministic tests of TCP connections and the listener over real loopback
// sockets. The io shard runs in manual mode and the CAF test coordinator's
// run() polls it (handle_io_event), so actors, supervisors, the connection's
// io steps and the kernel's loopback delivery all happen on this thread, in
// an order the test decides. The peers are plain POSIX sockets.
//
// This file: framing, active modes and credits. tcp_connection_test.cpp:
// sending, closing and ownership. tcp_listener_test.cpp: the listener.

#define CAF_SUITE tcp
#include <caf/test/unit_test_impl.hpp>

#include "tcp_test_support.hpp"

// -- framing without sockets ---------------------------------------------------

CAF_TEST(decode_frame reads each prefix width big endian) {
  for (uint8_t w : {1, 2, 4}) {
    auto wire = prefixed("hello", w) + "xyz";
    auto* p = reinterpret_cast<const uint8_t*>(wire.data());
    auto f = tcp_framing::prefix(w);
    auto d = decode_frame(f, 100, p, wire.size());
    CAF_CHECK(d.what == decoded_frame::status::complete);
    CAF_CHECK_EQUAL(d.header, w);
    CAF_CHECK_EQUAL(d.size, 5u);
    CAF_CHECK_EQUAL(d.total, w + 5u);
    // One byte short of the frame: incomplete, whatever the cut.
    for (size_t cut = 0; cut < w + 5u; ++cut)
      CAF_CHECK(decode_frame(f, 100, p, cut).what
                == decoded_frame::status::incomplete);
    uint8_t hdr[4];
    CAF_CHECK_EQUAL(encode_header(f, 5, hdr), w);
    CAF_CHECK_EQUAL(std::string(reinterpret_cast<char*>(hdr), w),
                    wire.substr(0, w));
  }
  // 4-byte lengths use all four bytes: 0x01020304.
  const uint8_t big[] = {1, 2, 3, 4};
  auto d = decode_frame(tcp_framing::prefix(4), 0x7FFFFFFF, big, 4);
  CAF_CHECK_EQUAL(d.size, 0x01020304u);
}

CAF_TEST(decode_frame flags an oversized frame from its header alone) {
  auto wire = prefixed(std::string(11, 'x'), 2);
  auto* p = reinterpret_cast<const uint8_t*>(wire.data());
  auto d = decode_frame(tcp_framing::prefix(2), 10, p, 2);
  CAF_CHECK(d.what == decoded_frame::status::too_large);
  CAF_CHECK_EQUAL(d.size, 11u);
  // Exactly max is fine.
  wire = prefixed(std::string(10, 'x'), 2);
  p = reinterpret_cast<const uint8_t*>(wire.data());
  CAF_CHECK(decode_frame(tcp_framing::prefix(2), 10, p, wire.size()).what
            == decoded_frame::status::complete);
}

CAF_TEST(decode_frame finds lines and long lines) {
  std::string s = "ab\ncd";
  auto* p = reinterpret_cast<const uint8_t*>(s.data());
  auto d = decode_frame(tcp_framing::line(), 8, p, s.size());
  CAF_CHECK(d.what == decoded_frame::status::complete);
  CAF_CHECK_EQUAL(d.size, 3u);
  CAF_CHECK(decode_frame(tcp_framing::line(), 8, p + 3, 2).what
            == decoded_frame::status::incomplete);
  // A '\n' beyond max_frame does not count: the line is too long.
  s = "0123456789\n";
  p = reinterpret_cast<const uint8_t*>(s.data());
  CAF_CHECK(decode_frame(tcp_framing::line(), 8, p, s.size()).what
            == decoded_frame::status::too_large);
  // A line of exactly max_frame bytes, '\n' included, is fine.
  CAF_CHECK(decode_frame(tcp_framing::line(), 11, p, s.size()).what
            == decoded_frame::status::complete);
}

CAF_TEST_FIXTURE_SCOPE(tcp_connection_tests, fixture)

// -- active modes and credits --------------------------------------------------

CAF_TEST(a new connection is passive and leaves data in the kernel) {
  open_conn();
  peer.send("abc");
  run();
  CAF_CHECK(st().got.empty());
  CAF_CHECK_EQUAL(stats().bytes_in, 0u);
  tell(active_atom::value, true);
  run_until_true([&] { return !st().got.empty(); });
  CAF_CHECK_EQUAL(st().got, strs({"abc"}));
}

CAF_TEST(active once delivers one frame then goes passive silently) {
  open_conn(framed(2));
  peer.send(prefixed("a", 2) + prefixed("b", 2));
  tell(active_atom::value, once_atom::value);
  run_until_true([&] { return !st().got.empty(); });
  CAF_CHECK_EQUAL(st().got, strs({"a"}));
  run();
  CAF_CHECK_EQUAL(st().got.size(), 1u);
  CAF_CHECK_EQUAL(st().passive, 0);
  // The second frame was read with the first and waits in the buffer.
  CAF_CHECK_EQUAL(stats().buffered, 3u);
  tell(active_atom::value, once_atom::value);
  CAF_CHECK_EQUAL(st().got, strs({"a", "b"}));
  CAF_CHECK_EQUAL(st().passive, 0);
}

CAF_TEST(active true delivers everything and never sends passive) {
  open_conn(framed(1));
  tell(active_atom::value, true);
  std::string wire;
  for (int i = 0; i < 40; ++i)
    wire += prefixed(std::to_string(i), 1);
  peer.send(wire);
  run_until_true([&] { return st().got.size() >= 40; });
  CAF_REQUIRE_EQUAL(st().got.size(), 40u);
  for (int i = 0; i < 40; ++i)
    CAF_CHECK_EQUAL(st().got[static_cast<size_t>(i)], std::to_string(i));
  CAF_CHECK_EQUAL(st().passive, 0);
}

CAF_TEST(active false stops delivery without a notice) {
  open_conn(framed(1));
  tell(active_atom::value, true);
  peer.send(prefixed("a", 1));
  run_until_true([&] { return !st().got.empty(); });
  tell(active_atom::value, false);
  peer.send(prefixed("b", 1));
  run();
  CAF_CHECK_EQUAL(st().got, strs({"a"}));
  CAF_CHECK_EQUAL(st().passive, 0);
  CAF_CHECK_EQUAL(stats().bytes_in, 1u);
}

CAF_TEST(active N delivers exactly N frames then notifies passive once) {
  open_conn(framed(1));
  std::string wire;
  for (int i = 0; i < 5; ++i)
    wire += prefixed(std::to_string(i), 1);
  peer.send(wire);
  CAF_CHECK_EQUAL(
    ask_void(conn, caf::make_message(active_atom::value, int32_t{3})),
    caf::none);
  run_until_true([&] { return st().got.size() >= 3; });
  CAF_CHECK_EQUAL(st().got, strs({"0", "1", "2"}));
  CAF_CHECK_EQUAL(st().passive, 1);
  // The rest waits until more credit arrives.
  run();
  CAF_CHECK_EQUAL(st().got.size(), 3u);
  tell(active_atom::value, int32_t{10});
  CAF_CHECK_EQUAL(st().got, strs({"0", "1", "2", "3", "4"}));
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(active N is added to the counter) {
  open_conn(framed(1));
  // 2 + 3 = 5 credits before any data.
  tell(active_atom::value, int32_t{2});
  tell(active_atom::value, int32_t{3});
  std::string wire;
  for (int i = 0; i < 7; ++i)
    wire += prefixed(std::to_string(i), 1);
  peer.send(wire);
  run_until_true([&] { return st().passive > 0; });
  CAF_CHECK_EQUAL(st().got.size(), 5u);
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(negative N subtracts and floors at zero with a notice) {
  open_conn(framed(1));
  tell(active_atom::value, int32_t{5});
  tell(active_atom::value, int32_t{-3});
  std::string wire;
  for (int i = 0; i < 4; ++i)
    wire += prefixed(std::to_string(i), 1);
  peer.send(wire);
  run_until_true([&] { return st().passive > 0; });
  // 5 - 3 = 2 credits.
  CAF_CHECK_EQUAL(st().got.size(), 2u);
  CAF_CHECK_EQUAL(st().passive, 1);
  tell(active_atom::value, int32_t{1});
  CAF_CHECK_EQUAL(st().got.size(), 3u);
  CAF_CHECK_EQUAL(st().passive, 2);
  // 4 - 10 floors at 0: passive at once, with a notice, nothing delivered.
  tell(active_atom::value, int32_t{4});
  tell(active_atom::value, int32_t{-10});
  CAF_CHECK_EQUAL(st().passive, 3);
  // One frame was buffered; it stays.
  CAF_CHECK_EQUAL(st().got.size(), 4u);
}

CAF_TEST(active N beyond the gen_tcp limit is refused and changes nothing) {
  open_conn(framed(1));
  tell(active_atom::value, int32_t{30000});
  auto err =
    ask_void(conn, caf::make_message(active_atom::value, int32_t{3000}));
  CAF_CHECK(is(err, errc::invalid_argument));
  peer.send(prefixed("a", 1));
  run_until_true([&] { return !st().got.empty(); });
  CAF_CHECK_EQUAL(st().got.size(), 1u);
  CAF_CHECK_EQUAL(st().passive, 0);
}

CAF_TEST(the passive notice comes after the last frame) {
  open_conn(framed(1));
  tell(active_atom::value, int32_t{2});
  peer.send(prefixed("a", 1) + prefixed("b", 1) + prefixed("c", 1));
  // Step the connection by hand and watch the owner's mailbox.
  for (int i = 0; i < 200 && !sched.has_job(); ++i)
    if (!handle_io_event())
      ::usleep(5000);
  expect((tcp_atom, tcp_frames), from(conn).to(owner));
  expect((tcp_passive_atom), from(conn).to(owner));
  CAF_CHECK_EQUAL(st().got, strs({"a", "b"}));
}

CAF_TEST(a batch never exceeds the remaining credit) {
  auto o = framed(1);
  o.active = active_mode::counted(3);
  open_conn(o);
  std::string wire;
  for (int i = 0; i < 10; ++i)
    wire += prefixed(std::to_string(i), 1);
  peer.send(wire);
  run_until_true([&] { return st().passive > 0; });
  CAF_CHECK_EQUAL(st().batch_sizes, (std::vector<size_t>{3}));
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(without credit the connection stops reading and the peer blocks) {
  auto o = framed(4);
  o.read_size = 4096;
  o.recv_buffer = 64 << 10;
  o.active = active_mode::counted(2);
  open_conn(o);
  auto frame = prefixed(std::string(1000, 'x'), 4);
  std::string chunk;
  for (int i = 0; i < 64; ++i)
    chunk += frame;
  // Write until the kernel refuses; bounded at 64 MiB.
  size_t sent = 0;
  bool blocked = false;
  for (int i = 0; i < 1024 && !blocked; ++i) {
    run();
    auto n = peer.try_send(chunk);
    sent += n;
    blocked = n < chunk.size();
  }
  run();
  CAF_CHECK(blocked);
  CAF_MESSAGE("peer sent " << sent << " bytes before the window closed");
  // Two frames went to the owner; the connection read at most one buffer.
  CAF_CHECK_EQUAL(st().got.size(), 2u);
  CAF_CHECK_EQUAL(st().passive, 1);
  auto s = stats();
  CAF_CHECK_LESS_OR_EQUAL(s.buffered, 4096u);
  CAF_CHECK_LESS(s.bytes_in + s.buffered, sent);
  // Credit again: everything sent arrives, in order and whole.
  st().regrant = 1000;
  tell(active_atom::value, int32_t{1000});
  auto total = sent / frame.size();
  run_until_true([&] { return st().got.size() >= total; });
  CAF_CHECK_EQUAL(st().got.size(), total);
  CAF_CHECK_EQUAL(st().got.back(), std::string(1000, 'x'));
}

// -- framing over the wire -----------------------------------------------------

CAF_TEST(each prefix width frames sends and receives) {
  for (uint8_t w : {1, 2, 4}) {
    CAF_MESSAGE("prefix width " << int{w});
    st().got.clear();
    open_conn(framed(w));
    tell(active_atom::value, true);
    peer.send(prefixed("ping", w));
    run_until_true([&] { return !st().got.empty(); });
    CAF_CHECK_EQUAL(st().got, strs({"ping"}));
    tell(send_atom::value, to_bytes("pong"));
    CAF_CHECK_EQUAL(peer.read_exact(w + 4u), prefixed("pong", w));
    tell(send_atom::value, std::string{"str"});
    CAF_CHECK_EQUAL(peer.read_exact(w + 3u), prefixed("str", w));
    tell(caf::close_atom::value);
  }
}

CAF_TEST(a frame split across reads arrives once and whole) {
  open_conn(framed(4));
  tell(active_atom::value, true);
  auto wire = prefixed("split-frame", 4);
  // Two header bytes, then the rest of the header and part of the payload,
  // then the rest: three reads, one frame.
  peer.send(wire.substr(0, 2));
  run();
  peer.send(wire.substr(2, 5));
  run();
  CAF_CHECK(st().got.empty());
  peer.send(wire.substr(7));
  run_until_true([&] { return !st().got.empty(); });
  CAF_CHECK_EQUAL(st().got, strs({"split-frame"}));
  CAF_CHECK_GREATER_OR_EQUAL(stats().reads, 2u);
}

CAF_TEST(frames coalesced in one read arrive as one batch) {
  open_conn(framed(2));
  std::string wire;
  for (auto s : {"a", "bb", "", "dddd", "e"})
    wire += prefixed(s, 2);
  peer.send(wire);
  tell(active_atom::value, true);
  run_until_true([&] { return st().got.size() >= 5; });
  CAF_CHECK_EQUAL(st().got, strs({"a", "bb", "", "dddd", "e"}));
  CAF_CHECK_EQUAL(st().batch_sizes, (std::vector<size_t>{5}));
}

CAF_TEST(line mode cuts at newlines and keeps them) {
  tcp_options o;
  o.framing = tcp_framing::line();
  open_conn(o);
  tell(active_atom::value, true);
  peer.send("one\ntwo\nthr");
  run_until_true([&] { return st().got.size() >= 2; });
  CAF_CHECK_EQUAL(st().got, strs({"one\n", "two\n"}));
  peer.send("ee\n");
  run_until_true([&] { return st().got.size() >= 3; });
  CAF_CHECK_EQUAL(st().got, strs({"one\n", "two\n", "three\n"}));
  // Sends go out as they are.
  tell(send_atom::value, std::string{"reply\n"});
  CAF_CHECK_EQUAL(peer.read_exact(6), "reply\n");
}

CAF_TEST(raw mode delivers reads cut at max_frame) {
  tcp_options o;
  o.max_frame = 4;
  open_conn(o);
  peer.send("0123456789");
  tell(active_atom::value, true);
  run_until_true([&] { return st().got.size() >= 3; });
  CAF_CHECK_EQUAL(st().got, strs({"0123", "4567", "89"}));
}

CAF_TEST(an oversized frame is an error to the owner and closes) {
  auto o = framed(2);
  o.max_frame = 10;
  open_conn(o);
  self->monitor(conn);
  tell(active_atom::value, true);
  // A good frame, then one declaring 11 bytes.
  peer.send(prefixed("ok", 2) + prefixed(std::string(11, 'x'), 2));
  run_until_true([&] { return st().closed > 0; });
  CAF_CHECK_EQUAL(st().got, strs({"ok"}));
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], tcp_errc::frame_too_large));
  CAF_MESSAGE("error: " << describe(st().errors[0]));
  CAF_CHECK_EQUAL(st().closed, 1);
  CAF_CHECK(peer.peer_closed());
  // The connection ended normally, so the owner lives on.
  self->receive(
    [&](caf::down_msg& dm) { CAF_CHECK_EQUAL(dm.reason, caf::none); });
  caf::anon_send(owner, tcp_passive_atom::value);
  run();
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(an endless line is an error once max_frame bytes passed) {
  tcp_options o;
  o.framing = tcp_framing::line();
  o.max_frame = 8;
  open_conn(o);
  tell(active_atom::value, true);
  peer.send("short\n0123456789");
  run_until_true([&] { return st().closed > 0; });
  CAF_CHECK_EQUAL(st().got, strs({"short\n"}));
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], tcp_errc::frame_too_large));
}

CAF_TEST_FIXTURE_SCOPE_END()
