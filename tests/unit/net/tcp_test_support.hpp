#pragma once

// What tcp_tests' three files share: plain POSIX peers, the owner actor and
// the deterministic fixture (see tcp_test.cpp).

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
#include "castor/testkit/io_fixture.hpp"

using namespace castor::net;

namespace tcp_test {

using bytes = std::vector<uint8_t>;

inline bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}

// A frame as it travels on the wire with a `width`-byte big-endian prefix.
inline std::string prefixed(const std::string& payload, int width) {
  std::string out;
  for (int i = width - 1; i >= 0; --i)
    out.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
  return out + payload;
}

// -- plain POSIX peers ---------------------------------------------------------

inline sockaddr_in loopback(unsigned short port) {
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

inline bool port_free(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto a = loopback(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// -- actors --------------------------------------------------------------------

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

inline caf::behavior owner_actor(caf::stateful_actor<owner_state>* self) {
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

// The kit's io_fixture: one shard in manual mode, polled by run(), and
// stopped (after the tree below) before the actor system goes away.
struct fixture : castor::testkit::io_fixture<> {
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
  }

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
      CAF_FAIL("connect_tcp: " << describe(c.error()));
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
    return error_of(ask<void>(dst, std::move(msg)));
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

inline std::vector<std::string> strs(std::initializer_list<const char*> xs) {
  return {xs.begin(), xs.end()};
}

inline tcp_options framed(uint8_t width) {
  tcp_options o;
  o.framing = tcp_framing::prefix(width);
  return o;
}

} // namespace tcp_test

using namespace tcp_test;
