// Deterministic tests of TCP connections and the listener over real loopback
// sockets. The io shard runs in manual mode and the CAF test coordinator's
// run() polls it (handle_io_event), so actors, supervisors, the connection's
// io steps and the kernel's loopback delivery all happen on this thread, in
// an order the test decides. The peers are plain POSIX sockets.

#define CAF_SUITE tcp
#define FAIL CAF_FAIL // dsl.hpp uses FAIL, which CAF 0.17.6 never defines
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/errors.hpp"
#include "castor/actors/supervisor.hpp"
#include "castor/net/errors.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/tcp_connection.hpp"
#include "castor/net/tcp_errors.hpp"
#include "castor/net/tcp_listener.hpp"

using namespace castor::net;

namespace {

using bytes = std::vector<uint8_t>;

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

// A frame as it travels on the wire with a `width`-byte big-endian prefix.
std::string prefixed(const std::string& payload, int width) {
  std::string out;
  for (int i = width - 1; i >= 0; --i)
    out.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
  return out + payload;
}

// -- plain POSIX peers ---------------------------------------------------------

sockaddr_in loopback(unsigned short port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

/// One end of a TCP connection, driven by hand. Reads never block for
/// long: after run() the data the code under test sent is already queued.
class raw_conn {
public:
  explicit raw_conn(int fd) : fd_(fd) {}
  raw_conn(raw_conn&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  raw_conn& operator=(raw_conn&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~raw_conn() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  static raw_conn connect(unsigned short port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = loopback(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
      throw std::runtime_error("connect");
    return raw_conn{fd};
  }

  int fd() const { return fd_; }

  void send(const std::string& s) {
    auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(s.size()))
      throw std::runtime_error("short send");
  }

  /// Non-blocking send of as much as fits; returns bytes taken.
  size_t try_send(const std::string& s) {
    auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return n < 0 ? 0 : static_cast<size_t>(n);
  }

  /// Everything queued now, without waiting.
  std::string take() {
    std::string out;
    char buf[65536];
    for (;;) {
      auto n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0)
        break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  /// Exactly n bytes, waiting at most a second in total (a safety bound for
  /// a broken test, not a measurement).
  std::string read_exact(size_t n) {
    std::string out;
    char buf[65536];
    for (int spins = 0; out.size() < n && spins < 100; ++spins) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0)
        continue;
      auto k = ::recv(fd_, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (k <= 0)
        break;
      out.append(buf, static_cast<size_t>(k));
    }
    return out;
  }

  /// Whether the other side closed (recv sees EOF), waiting at most a second.
  bool peer_closed() {
    char c;
    for (int spins = 0; spins < 100; ++spins) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0)
        continue;
      auto n = ::recv(fd_, &c, 1, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno == ECONNRESET))
        return true;
      if (n > 0)
        return false; // data, not a close
    }
    return false;
  }

  /// Whether the connection is still open: no EOF and no error queued.
  bool open() {
    char c;
    auto n = ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  unsigned short local_port() const {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }

  void close() {
    ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

/// A listening socket on 127.0.0.1 for connect_tcp to reach.
class raw_listener {
public:
  raw_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    auto a = loopback(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0
        || ::listen(fd_, 16) != 0)
      throw std::runtime_error("listen");
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~raw_listener() { ::close(fd_); }

  tcp_endpoint endpoint() const {
    return {boost::asio::ip::address_v4::loopback(), port_};
  }

  raw_conn accept() {
    int fd = ::accept(fd_, nullptr, nullptr);
    if (fd < 0)
      throw std::runtime_error("accept");
    return raw_conn{fd};
  }

private:
  int fd_;
  unsigned short port_ = 0;
};

bool port_free(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto a = loopback(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// -- actors --------------------------------------------------------------------

struct config : caf::actor_system_config {
  config() {
    register_errors(*this);
    register_tcp_errors(*this);
  }
};

// What an owner (or a listener's handler) saw, in order.
struct owner_state {
  caf::actor conn;
  tcp_endpoint peer;
  std::vector<std::string> got;
  std::vector<size_t> batch_sizes;
  int passive = 0;
  int closed = 0;
  std::vector<caf::error> errors;
  /// Send every batch back to the connection.
  bool echo = false;
  /// Grant this much credit again on every passive notice.
  int32_t regrant = 0;
  static inline const char* name = "owner";
};

caf::behavior owner_actor(caf::stateful_actor<owner_state>* self) {
  return {
    [=](tcp_accepted_atom, const tcp_endpoint& peer) {
      self->state.conn = caf::actor_cast<caf::actor>(self->current_sender());
      self->state.peer = peer;
    },
    [=](tcp_atom, const tcp_frames& frames) {
      auto& st = self->state;
      for (size_t i = 0; i < frames.size(); ++i)
        st.got.emplace_back(frames[i].text());
      st.batch_sizes.push_back(frames.size());
      if (st.echo)
        self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                   send_atom::value, frames);
    },
    [=](tcp_passive_atom) {
      auto& st = self->state;
      ++st.passive;
      if (st.regrant > 0)
        self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                   active_atom::value, st.regrant);
    },
    [=](tcp_closed_atom) { ++self->state.closed; },
    [=](tcp_error_atom, const caf::error& err) {
      self->state.errors.push_back(err);
    },
    [=](caf::close_atom) { self->quit(); },
  };
}

struct fixture : test_coordinator_fixture<config> {
  io_shards shards{io_shards_options{1, false, "t"}};
  caf::actor owner;
  caf::actor conn;
  raw_conn peer{-1};
  // Listener tests: the tree's root and the handlers it spawned.
  caf::actor root;
  std::shared_ptr<tcp_listener_info> info;
  std::vector<caf::actor> handlers;
  bool echo_handlers = true;

  fixture() { owner = sys.spawn(owner_actor); }

  ~fixture() override {
    if (root)
      caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
    run();
    // Close the sockets on this thread before the actor system goes away.
    shards.stop();
    run();
  }

  bool handle_io_event() override { return shards.poll_one(0) > 0; }

  /// Runs until `pred` holds, giving loopback delivery a moment between
  /// rounds; at most ~1 s, then the test's checks report what is missing.
  template <class Pred>
  void run_until_true(Pred pred) {
    for (int i = 0; i < 200 && !pred(); ++i) {
      run();
      if (!pred())
        ::usleep(5000);
    }
  }

  /// Runs until `c` received `n` bytes (or ~2 s passed) and returns them.
  std::string collect(raw_conn& c, size_t n) {
    std::string got;
    for (int i = 0; i < 400 && got.size() < n; ++i) {
      run();
      auto more = c.take();
      if (more.empty())
        ::usleep(5000);
      got += more;
    }
    return got;
  }

  /// Sends `wire` from `c` and returns what comes back, `wire.size()` bytes.
  std::string echo(raw_conn& c, const std::string& wire) {
    c.send(wire);
    return collect(c, wire.size());
  }

  owner_state& st(const caf::actor& who) {
    return deref<caf::stateful_actor<owner_state>>(who).state;
  }
  owner_state& st() { return st(owner); }

  /// connect_tcp from `owner` to a raw listener; `peer` is the far end.
  void open_conn(tcp_options opts = {}) {
    raw_listener l;
    auto c = connect_tcp(sys, shards.at(0), owner, l.endpoint(), opts);
    if (!c)
      CAF_FAIL("connect_tcp: " << describe_tcp(c.error()));
    conn = c->actor;
    peer = l.accept();
    run();
  }

  template <class... Ts>
  void tell(Ts&&... xs) {
    caf::anon_send(conn, std::forward<Ts>(xs)...);
    run();
  }

  tcp_stats stats() { return request<tcp_stats>(conn, stats_atom::value); }

  caf::error ask_void(const caf::actor& dst, caf::message msg) {
    auto h = self->request(dst, caf::infinite, std::move(msg));
    run();
    caf::error result = caf::sec::bad_function_call;
    h.receive([&] { result = caf::none; },
              [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  // -- listener ----------------------------------------------------------------

  void start_listener(tcp_listener_options opts) {
    auto l =
      make_tcp_listener("tcp_l", shards, std::move(opts),
                        [this](caf::local_actor* sup, const tcp_endpoint&) {
                          auto h = sup->spawn(owner_actor);
                          st(h).echo = echo_handlers;
                          handlers.push_back(h);
                          return h;
                        });
    info = l.info;
    castor::supervisor_flags flags;
    flags.name = "root";
    root = castor::spawn_supervisor(sys, flags, {l.spec});
    run();
    CAF_REQUIRE_NOT_EQUAL(info->local().port(), 0);
  }

  unsigned short port() const { return info->local().port(); }

  std::vector<castor::child_info> children(const caf::actor& sup) {
    return request<std::vector<castor::child_info>>(
      sup, castor::which_children_atom::value);
  }

  castor::child_info child(const caf::actor& sup, const std::string& id) {
    for (auto& c : children(sup))
      if (c.id == id)
        return c;
    CAF_FAIL("no child " << id);
    return {};
  }

  /// Connects a client and waits until its handler exists.
  raw_conn client() {
    auto before = handlers.size();
    auto c = raw_conn::connect(port());
    run_until_true([&] { return handlers.size() > before; });
    return c;
  }
};

std::vector<std::string> strs(std::initializer_list<const char*> xs) {
  return {xs.begin(), xs.end()};
}

tcp_options framed(uint8_t width) {
  tcp_options o;
  o.framing = tcp_framing::prefix(width);
  return o;
}

} // namespace

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
  CAF_MESSAGE("error: " << describe_tcp(st().errors[0]));
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

// -- sending -------------------------------------------------------------------

CAF_TEST(sends queued together leave in one sendmsg) {
  open_conn(framed(1));
  std::string expected;
  for (int i = 0; i < 10; ++i) {
    caf::anon_send(conn, send_atom::value, to_bytes("m" + std::to_string(i)));
    expected += prefixed("m" + std::to_string(i), 1);
  }
  run();
  CAF_CHECK_EQUAL(peer.read_exact(expected.size()), expected);
  auto s = stats();
  CAF_CHECK_EQUAL(s.frames_out, 10u);
  CAF_CHECK_EQUAL(s.sendmsg_calls, 1u);
  CAF_CHECK_EQUAL(s.send_queued, 0u);
}

CAF_TEST(received frames can be sent back without copying) {
  open_conn(framed(2));
  st().echo = true;
  tell(active_atom::value, true);
  auto wire = prefixed("e1", 2) + prefixed("echo two", 2);
  CAF_CHECK_EQUAL(echo(peer, wire), wire);
  // Sent back as one block in wire format.
  auto s = stats();
  CAF_CHECK_EQUAL(s.frames_out, 2u);
  CAF_CHECK_EQUAL(s.bytes_out, wire.size());
}

CAF_TEST(frames forwarded to another prefix width are re - encoded) {
  open_conn(framed(2));
  // The owner forwards every batch to a second connection with 4-byte
  // prefixes.
  raw_listener l2;
  auto o4 = framed(4);
  auto c2 = connect_tcp(sys, shards.at(0), owner, l2.endpoint(), o4);
  CAF_REQUIRE(c2);
  auto peer2 = l2.accept();
  auto relay = sys.spawn([&](caf::event_based_actor* me) -> caf::behavior {
    return {
      [=, dst = c2->actor](tcp_atom, const tcp_frames& f) {
        me->send(dst, send_atom::value, f);
      },
    };
  });
  caf::send_as(owner, conn, controlling_atom::value, relay);
  run();
  tell(active_atom::value, true);
  peer.send(prefixed("x", 2) + prefixed("yy", 2));
  auto want = prefixed("x", 4) + prefixed("yy", 4);
  CAF_CHECK_EQUAL(collect(peer2, want.size()), want);
  caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST(a send queue over its limit closes the connection) {
  auto o = framed(4);
  o.max_send_queue = 100;
  open_conn(o);
  self->monitor(conn);
  for (int i = 0; i < 3; ++i)
    caf::anon_send(conn, send_atom::value, std::string(60, 'q'));
  run();
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], errc::send_queue_full));
  CAF_CHECK_EQUAL(st().closed, 1);
  self->receive(
    [&](caf::down_msg& dm) { CAF_CHECK_EQUAL(dm.reason, caf::none); });
}

CAF_TEST(a large send survives partial writes) {
  auto o = framed(4);
  o.send_buffer = 16 << 10;
  open_conn(o);
  std::string big(3 << 20, 'z');
  big[0] = 'A';
  big.back() = 'Z';
  tell(send_atom::value, big);
  // The kernel took part of it; the rest waits for room.
  auto got = collect(peer, big.size() + 4);
  CAF_REQUIRE_EQUAL(got.size(), big.size() + 4);
  CAF_CHECK(got == prefixed(big, 4));
  CAF_CHECK_GREATER(stats().sendmsg_calls, 1u);
}

CAF_TEST(a send longer than the prefix allows is refused) {
  open_conn(framed(1));
  tell(send_atom::value, std::string(256, 'x'));
  tell(send_atom::value, std::string{"ok"});
  CAF_REQUIRE_EQUAL(st().errors.size(), 1u);
  CAF_CHECK(is(st().errors[0], errc::invalid_argument));
  CAF_CHECK_EQUAL(peer.read_exact(3), prefixed("ok", 1));
  CAF_CHECK_EQUAL(st().closed, 0);
}

// -- closing and ownership -----------------------------------------------------

CAF_TEST(a peer close reaches the owner and ends the connection) {
  open_conn();
  self->monitor(conn);
  tell(active_atom::value, true);
  peer.send("bye");
  peer.close();
  run_until_true([&] { return st().closed > 0; });
  CAF_CHECK_EQUAL(st().got, strs({"bye"}));
  CAF_CHECK_EQUAL(st().closed, 1);
  CAF_CHECK(st().errors.empty());
  self->receive(
    [&](caf::down_msg& dm) { CAF_CHECK_EQUAL(dm.reason, caf::none); });
}

CAF_TEST(frames buffered before a peer close wait for credit) {
  open_conn(framed(1));
  tell(active_atom::value, int32_t{1});
  peer.send(prefixed("a", 1) + prefixed("b", 1));
  peer.close();
  run_until_true([&] { return st().passive > 0; });
  CAF_CHECK_EQUAL(st().got, strs({"a"}));
  run();
  CAF_CHECK_EQUAL(st().closed, 0);
  // Credit for "b" and more: the read after it finds the close.
  tell(active_atom::value, int32_t{5});
  run_until_true([&] { return st().closed > 0; });
  CAF_CHECK_EQUAL(st().got, strs({"a", "b"}));
  CAF_CHECK_EQUAL(st().closed, 1);
}

CAF_TEST(the connection closes when its owner dies abnormally) {
  open_conn();
  self->monitor(conn);
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(peer.peer_closed());
  self->receive([&](caf::down_msg& dm) {
    CAF_CHECK_EQUAL(dm.reason, caf::exit_reason::user_shutdown);
  });
}

CAF_TEST(the connection closes when its owner ends normally too) {
  open_conn();
  caf::anon_send(owner, caf::close_atom::value);
  run();
  CAF_CHECK(peer.peer_closed());
}

CAF_TEST(close sends what is queued then closes without a notice) {
  open_conn(framed(1));
  caf::anon_send(conn, send_atom::value, std::string{"last"});
  caf::anon_send(conn, caf::close_atom::value);
  run();
  CAF_CHECK_EQUAL(peer.read_exact(5), prefixed("last", 1));
  CAF_CHECK(peer.peer_closed());
  CAF_CHECK_EQUAL(st().closed, 0);
  // The owner is alive.
  caf::anon_send(owner, tcp_passive_atom::value);
  run();
  CAF_CHECK_EQUAL(st().passive, 1);
}

CAF_TEST(controlling_process moves the data and the link) {
  open_conn();
  auto next = sys.spawn(owner_actor);
  // Only the owner may hand the connection over.
  auto err = ask_void(conn, caf::make_message(controlling_atom::value, next));
  CAF_CHECK(is(err, errc::not_owner));
  caf::send_as(owner, conn, controlling_atom::value, next);
  run();
  peer.send("for next");
  tell(active_atom::value, true);
  run_until_true([&] { return !st(next).got.empty(); });
  CAF_CHECK_EQUAL(st(next).got, strs({"for next"}));
  CAF_CHECK(st().got.empty());
  // The old owner's death no longer closes the connection ...
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(peer.open());
  // ... the new owner's does.
  caf::anon_send_exit(next, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(peer.peer_closed());
}

CAF_TEST(sockname and peername answer both ends) {
  open_conn();
  auto local = request<tcp_endpoint>(conn, sockname_atom::value);
  auto remote = request<tcp_endpoint>(conn, peername_atom::value);
  CAF_CHECK(remote.address().is_loopback());
  CAF_CHECK_NOT_EQUAL(local.port(), 0);
  CAF_CHECK_NOT_EQUAL(remote.port(), 0);
}

CAF_TEST(invalid options are refused before connecting) {
  raw_listener l;
  auto o = framed(3);
  auto c = connect_tcp(sys, shards.at(0), owner, l.endpoint(), o);
  CAF_REQUIRE(!c);
  CAF_CHECK(is(c.error(), errc::invalid_argument));
  o = framed(1);
  o.read_size = 0;
  c = connect_tcp(sys, shards.at(0), owner, l.endpoint(), o);
  CAF_REQUIRE(!c);
  CAF_CHECK(is(c.error(), errc::invalid_argument));
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(tcp_listener_tests, fixture)

CAF_TEST(the listener hands each connection to a new handler) {
  tcp_listener_options o;
  o.connection = framed(2);
  o.connection.active = active_mode::always();
  start_listener(o);
  auto c = client();
  CAF_REQUIRE_EQUAL(handlers.size(), 1u);
  auto& h = st(handlers[0]);
  CAF_CHECK(h.conn);
  CAF_CHECK_EQUAL(h.peer.port(), c.local_port());
  CAF_CHECK_EQUAL(echo(c, prefixed("hello", 2)), prefixed("hello", 2));
  CAF_CHECK_EQUAL(info->connections(), 1u);
  CAF_CHECK_EQUAL(info->accepted(), 1u);
}

CAF_TEST(max_connections throttles the acceptors until a connection closes) {
  tcp_listener_options o;
  o.num_acceptors = 1;
  o.max_connections = 2;
  o.connection = framed(1);
  o.connection.active = active_mode::always();
  start_listener(o);
  auto c1 = client();
  auto c2 = client();
  // Two more: the acceptor takes the third and parks it; the fourth stays in
  // the kernel's accept queue.
  auto c3 = raw_conn::connect(port());
  auto c4 = raw_conn::connect(port());
  run_until_true([&] { return info->parked() == 1; });
  run();
  CAF_CHECK_EQUAL(info->connections(), 2u);
  CAF_CHECK_EQUAL(info->parked(), 1u);
  CAF_CHECK_EQUAL(handlers.size(), 2u);
  c3.send(prefixed("3", 1));
  run();
  CAF_CHECK_EQUAL(c3.take(), "");
  // One closes: the parked socket starts and the acceptor takes the fourth.
  c1.close();
  run_until_true([&] { return handlers.size() == 3 && info->parked() == 1; });
  CAF_CHECK_EQUAL(info->connections(), 2u);
  CAF_CHECK_EQUAL(info->parked(), 1u);
  CAF_CHECK_EQUAL(collect(c3, 2), prefixed("3", 1));
  // Another closes: the fourth starts; nothing is left waiting.
  c2.close();
  run_until_true([&] { return handlers.size() == 4; });
  CAF_CHECK_EQUAL(info->connections(), 2u);
  CAF_CHECK_EQUAL(info->parked(), 0u);
  CAF_CHECK_EQUAL(echo(c4, prefixed("4", 1)), prefixed("4", 1));
  CAF_CHECK_EQUAL(info->accepted(), 4u);
}

CAF_TEST(an acceptor crash is restarted without dropping connections) {
  tcp_listener_options o;
  o.num_acceptors = 2;
  o.connection = framed(1);
  o.connection.active = active_mode::always();
  start_listener(o);
  auto c1 = client();
  auto c2 = client();
  auto listener = child(root, "tcp_l").handle;
  auto acceptors = child(listener, "acceptors").handle;
  auto before = child(acceptors, "acceptor_0");
  CAF_REQUIRE(before.handle);
  caf::anon_send_exit(before.handle, caf::exit_reason::unhandled_exception);
  run();
  auto after = child(acceptors, "acceptor_0");
  CAF_CHECK_EQUAL(after.state, "running");
  CAF_CHECK_EQUAL(after.restarts, 1u);
  CAF_CHECK_NOT_EQUAL(after.handle, before.handle);
  // Nothing above the acceptors restarted.
  CAF_CHECK_EQUAL(child(listener, "connections").restarts, 0u);
  CAF_CHECK_EQUAL(child(listener, "acceptors").restarts, 0u);
  // The open connections still echo ...
  CAF_CHECK_EQUAL(info->connections(), 2u);
  CAF_CHECK_EQUAL(echo(c1, prefixed("one", 1)), prefixed("one", 1));
  CAF_CHECK_EQUAL(echo(c2, prefixed("two", 1)), prefixed("two", 1));
  // ... and new ones are accepted.
  auto c3 = client();
  CAF_CHECK_EQUAL(echo(c3, prefixed("new", 1)), prefixed("new", 1));
  CAF_CHECK_EQUAL(info->connections(), 3u);
}

CAF_TEST(handlers on the connection shard echo and own their connection) {
  tcp_listener_options o;
  o.connection = framed(2);
  o.connection.active = active_mode::counted(4);
  auto seen = std::make_shared<std::vector<std::string>>();
  auto made = std::make_shared<std::vector<caf::actor>>();
  auto l = make_tcp_listener_on_shards(
    "tcp_s", shards, o,
    [seen, made](caf::actor_companion* self,
                 const tcp_endpoint&) -> caf::behavior {
      made->push_back(caf::actor_cast<caf::actor>(self));
      auto sender = [self] {
        return caf::actor_cast<caf::actor>(self->current_sender());
      };
      return {
        [](tcp_accepted_atom, const tcp_endpoint&) {},
        [=](tcp_atom, const tcp_frames& f) {
          for (size_t i = 0; i < f.size(); ++i)
            seen->emplace_back(f[i].text());
          self->send(sender(), send_atom::value, f);
        },
        [=](tcp_passive_atom) {
          self->send(sender(), active_atom::value, int32_t{4});
        },
        [=](tcp_closed_atom) { self->quit(); },
      };
    });
  info = l.info;
  root = castor::spawn_supervisor(sys, castor::supervisor_flags{}, {l.spec});
  run();
  auto c = raw_conn::connect(port());
  run_until_true([&] { return made->size() == 1; });
  CAF_REQUIRE_EQUAL(made->size(), 1u);
  // Ten frames through credits of 4: three grants, all on the shard.
  std::string wire;
  for (int i = 0; i < 10; ++i)
    wire += prefixed("f" + std::to_string(i), 2);
  CAF_CHECK_EQUAL(echo(c, wire), wire);
  CAF_CHECK_EQUAL(seen->size(), 10u);
  // The handler owns the connection: its death closes it.
  caf::anon_send_exit(made->at(0), caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(c.peer_closed());
  run_until_true([&] { return info->connections() == 0; });
  CAF_CHECK_EQUAL(info->connections(), 0u);
}

CAF_TEST(a crash of the connection supervisor restarts the rest) {
  tcp_listener_options o;
  o.num_acceptors = 1;
  o.connection = framed(1);
  o.connection.active = active_mode::always();
  start_listener(o);
  auto c1 = client();
  auto listener = child(root, "tcp_l").handle;
  auto conns = child(listener, "connections").handle;
  auto acceptor = child(child(listener, "acceptors").handle, "acceptor_0");
  caf::anon_send_exit(conns, caf::exit_reason::unhandled_exception);
  run();
  // rest_for_one: its connections went with it, and everything after it
  // (the listening socket, the acceptors) started again.
  CAF_CHECK(c1.peer_closed());
  CAF_CHECK_EQUAL(child(listener, "connections").restarts, 1u);
  auto acceptors = child(listener, "acceptors").handle;
  CAF_CHECK_NOT_EQUAL(child(acceptors, "acceptor_0").handle, acceptor.handle);
  CAF_CHECK_EQUAL(info->connections(), 0u);
  // Same port, new connections served.
  auto c2 = client();
  CAF_CHECK_EQUAL(echo(c2, prefixed("again", 1)), prefixed("again", 1));
}

CAF_TEST(a handler death closes its connection and frees the slot) {
  tcp_listener_options o;
  o.max_connections = 1;
  o.num_acceptors = 1;
  start_listener(o);
  auto c1 = client();
  auto c2 = raw_conn::connect(port());
  run_until_true([&] { return info->parked() == 1; });
  caf::anon_send_exit(handlers[0], caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(c1.peer_closed());
  run_until_true([&] { return handlers.size() == 2; });
  CAF_CHECK_EQUAL(info->connections(), 1u);
  CAF_CHECK(c2.open());
}

CAF_TEST(stopping the listener closes connections and the port) {
  tcp_listener_options o;
  start_listener(o);
  auto p = port();
  auto c1 = client();
  auto c2 = client();
  CAF_CHECK(!port_free(p));
  caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
  run();
  root = nullptr;
  CAF_CHECK(c1.peer_closed());
  CAF_CHECK(c2.peer_closed());
  CAF_CHECK_EQUAL(info->connections(), 0u);
  CAF_CHECK(port_free(p));
}

CAF_TEST(a taken port fails the listener start with the reason) {
  raw_listener taken;
  tcp_listener_options o;
  o.local = taken.endpoint();
  o.reuse_address = false;
  auto l = make_tcp_listener(
    "tcp_l", shards, o,
    [](caf::local_actor*, const tcp_endpoint&) { return caf::actor{}; });
  auto sup =
    castor::spawn_supervisor(sys, castor::supervisor_flags{}, {l.spec});
  auto h = self->request(sup, caf::infinite, castor::ready_atom::value);
  run();
  caf::error err;
  h.receive([&](caf::ok_atom) { CAF_FAIL("listener started"); },
            [&](caf::error& e) { err = std::move(e); });
  CAF_CHECK(err);
  CAF_MESSAGE("error: " << castor::describe(err));
  CAF_CHECK_NOT_EQUAL(castor::describe(err).find("in use"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
