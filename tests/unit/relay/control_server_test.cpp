// The control server over real unix sockets: a real actor system, a real io
// thread, and blocking clients. Assertions are about what clients receive,
// never about how long it took; timeouts in the options are set short only
// so that the tests that wait for them finish quickly.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actor_io_env.hpp"
#include "control/control_server.hpp"
#include "test_support.hpp"
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"
#include "castor/actors/supervisor_client.hpp"

namespace castor::relay {
namespace {

using nlohmann::json;
using test::line_client;
using release_atom = caf::atom_constant<caf::atom("release")>;
using held_atom = caf::atom_constant<caf::atom("held")>;

// -- a handler with commands that answer at once, later, or never ----------

struct handler_state {
  // reload: answered on release_atom.
  std::vector<caf::response_promise> held;
  // (held_atom, n) requests waiting for n reloads to be held.
  std::vector<std::pair<size_t, caf::response_promise>> held_waiters;
  // tree: never answered (kept so that no broken-promise error is sent).
  std::vector<caf::response_promise> never;
  static inline const char* name = "test_handler";
};

/// ping -> pong; remove -> error; stats -> `blob_size` bytes of data;
/// reload -> held until release_atom; tree -> never; others -> {"cmd":..}.
/// (held_atom, n) answers once n reloads are held, so that a test releases
/// them only after they have arrived, whatever the threads' timing.
caf::behavior test_handler(caf::stateful_actor<handler_state>* self,
                           size_t blob_size) {
  auto notify_waiters = [self] {
    auto& ws = self->state.held_waiters;
    for (auto i = ws.begin(); i != ws.end();)
      if (self->state.held.size() >= i->first) {
        i->second.deliver(true);
        i = ws.erase(i);
      } else {
        ++i;
      }
  };
  return {
    [self, blob_size, notify_waiters](control_atom, control::request& req) {
      auto rp = self->make_response_promise();
      auto& c = req.command;
      if (std::holds_alternative<control::ping_cmd>(c))
        rp.deliver(control::make_ok({{"pong", true}}));
      else if (auto* rm = std::get_if<control::remove_cmd>(&c))
        rp.deliver(control::make_error("no rule named '" + rm->name + "'"));
      else if (std::holds_alternative<control::stats_cmd>(c))
        rp.deliver(control::make_ok({{"blob", std::string(blob_size, 'x')}}));
      else if (std::holds_alternative<control::reload_cmd>(c)) {
        self->state.held.push_back(rp);
        notify_waiters();
      } else if (std::holds_alternative<control::tree_cmd>(c))
        self->state.never.push_back(rp);
      else
        rp.deliver(control::make_ok({{"cmd", control::command_name(req)}}));
      return rp;
    },
    [self](release_atom) {
      for (auto& rp : self->state.held)
        rp.deliver(control::make_ok({{"reloaded", true}}));
      self->state.held.clear();
    },
    [self, notify_waiters](held_atom, size_t n) {
      auto rp = self->make_response_promise();
      self->state.held_waiters.emplace_back(n, rp);
      notify_waiters();
      return rp;
    },
  };
}

const std::string ping = R"({"cmd":"ping"})";
const std::string pong = R"({"ok":true,"pong":true})";

struct fixture : ::testing::Test, test::actor_io_env {
  test::temp_dir dir;
  std::string path = dir.path() + "/run/castor/relay.sock";
  caf::actor handler;
  caf::actor server;
  std::vector<caf::actor> extra; // more actors to stop at the end

  ~fixture() override {
    stop(server);
    stop(handler);
    for (auto& x : extra)
      stop(x);
  }

  void stop(caf::actor& x) {
    if (!x)
      return;
    caf::scoped_actor self{*sys};
    self->send_exit(x, caf::exit_reason::user_shutdown);
    self->wait_for(x);
    x = nullptr;
  }

  control_server_options options() {
    control_server_options opts;
    opts.socket_path = path;
    return opts;
  }

  void start(control_server_options opts, size_t blob_size = 16) {
    handler = sys->spawn(test_handler, blob_size);
    auto res =
      start_control_server(*sys, io, fixed_handler(handler), std::move(opts));
    ASSERT_TRUE(res) << sys->render(res.error());
    server = *res;
  }

  void start() { start(options()); }

  uint64_t clients() {
    caf::scoped_actor self{*sys};
    uint64_t n = 0;
    self->request(server, caf::infinite, control_clients_atom::value)
      .receive([&](uint64_t x) { n = x; },
               [&](caf::error& err) { ADD_FAILURE() << sys->render(err); });
    return n;
  }

  /// Returns once the handler holds `n` reload requests.
  void wait_held(size_t n) {
    caf::scoped_actor self{*sys};
    self->request(handler, caf::infinite, held_atom::value, n)
      .receive([](bool) {},
               [&](caf::error& err) { ADD_FAILURE() << sys->render(err); });
  }

  void release_held() { caf::anon_send(handler, release_atom::value); }

  /// Waits until `pred` holds. The guard only keeps a broken server from
  /// hanging the test; passing never depends on how long it took.
  template <class Pred>
  bool eventually(Pred pred,
                  std::chrono::seconds guard = std::chrono::seconds{30}) {
    auto give_up = std::chrono::steady_clock::now() + guard;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > give_up)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
    return true;
  }
};

// -- basics -------------------------------------------------------------------

TEST_F(fixture, answers_a_request) {
  start();
  line_client c{path};
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(), pong);
  ASSERT_TRUE(c.send_line(R"({"cmd":"remove","name":"feed-x"})"));
  EXPECT_EQ(c.read_line(), R"({"error":"no rule named 'feed-x'","ok":false})");
}

TEST_F(fixture, creates_the_directory_and_sets_the_mode) {
  start();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(fixture, removes_the_socket_file_when_it_stops) {
  start();
  stop(server);
  struct stat st {};
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
}

TEST_F(fixture, replaces_a_stale_socket_file) {
  // A socket file whose process is gone: bound, never unlinked.
  ::mkdir((dir.path() + "/run").c_str(), 0755);
  ::mkdir((dir.path() + "/run/castor").c_str(), 0755);
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  start();
  line_client c{path};
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(), pong);
}

TEST_F(fixture, refuses_a_live_socket_and_a_non_socket) {
  start();
  auto second =
    start_control_server(*sys, io, fixed_handler(handler), options());
  ASSERT_FALSE(second);
  EXPECT_NE(sys->render(second.error())
              .find("control socket " + path + " is in use by another process"),
            std::string::npos)
    << sys->render(second.error());
  // The first server is unharmed.
  line_client c{path};
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(), pong);

  auto file = dir.write("not-a-socket", "precious");
  auto opts = options();
  opts.socket_path = file;
  auto third = start_control_server(*sys, io, fixed_handler(handler), opts);
  ASSERT_FALSE(third);
  EXPECT_NE(sys->render(third.error())
              .find(file + " exists and is not a socket; not replacing it"),
            std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

// -- isolation ----------------------------------------------------------------

TEST_F(fixture, serves_150_concurrent_clients) {
  start();
  constexpr size_t n = 150;
  std::vector<std::unique_ptr<line_client>> cs;
  for (size_t i = 0; i < n; ++i) {
    cs.push_back(std::make_unique<line_client>(path));
    ASSERT_TRUE(cs.back()->connected()) << i;
  }
  // Every client has a request outstanding before any reply is read.
  for (auto& c : cs)
    ASSERT_TRUE(c->send_line(ping));
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(cs[i]->read_line(), pong) << i;
  // One actor per client, all alive at once.
  EXPECT_EQ(clients(), n);
}

TEST_F(fixture, a_silent_or_slow_client_blocks_nobody) {
  start();
  line_client silent{path};
  ASSERT_TRUE(silent.send_raw(R"({"cmd":"pi)")); // and never the rest
  line_client waiting{path};
  ASSERT_TRUE(waiting.send_line(R"({"cmd":"reload"})"));
  wait_held(1); // the handler now holds it: its client waits for an answer
  line_client other{path};
  ASSERT_TRUE(other.send_line(ping));
  EXPECT_EQ(other.read_line(), pong);
  ASSERT_TRUE(other.send_line(R"({"cmd":"list"})"));
  EXPECT_EQ(other.read_line(), R"({"cmd":"list","ok":true})");
  release_held();
  EXPECT_EQ(waiting.read_line(), R"({"ok":true,"reloaded":true})");
}

TEST_F(fixture, a_silent_client_is_closed_after_the_idle_timeout) {
  auto opts = options();
  opts.idle_timeout = std::chrono::milliseconds{200};
  start(opts);
  line_client silent{path};
  ASSERT_TRUE(silent.send_raw(R"({"cmd":"pi)"));
  EXPECT_EQ(
    silent.read_line(),
    R"({"error":"no complete request for 200 ms; closing","ok":false})");
  EXPECT_TRUE(silent.wait_closed());
}

TEST_F(fixture, waiting_for_the_handler_is_not_idleness) {
  auto opts = options();
  opts.idle_timeout = std::chrono::milliseconds{100};
  start(opts);
  line_client c{path};
  ASSERT_TRUE(c.send_line(R"({"cmd":"reload"})"));
  wait_held(1);
  // Long enough for several idle periods to pass while the handler holds
  // the request; the answer must still arrive.
  std::this_thread::sleep_for(std::chrono::milliseconds{500});
  release_held();
  EXPECT_EQ(c.read_line(), R"({"ok":true,"reloaded":true})");
}

TEST_F(fixture, a_client_that_hangs_up_while_waiting_is_let_go_at_once) {
  auto opts = options();
  opts.request_timeout = std::chrono::hours{1};
  start(opts);
  {
    line_client c{path};
    ASSERT_TRUE(c.send_line(R"({"cmd":"reload"})"));
    ASSERT_TRUE(c.send_line(ping)); // queued behind the held request
    wait_held(1);
    EXPECT_EQ(clients(), 1u);
  } // hangs up with its request still held by the handler
  // Its actor must end now, not when the handler answers (here: never
  // within the test) or the request times out: a thousand clients that
  // hang up on a stuck handler must not pile up a thousand actors.
  EXPECT_TRUE(eventually([this] { return clients() == 0; }))
    << clients() << " client actor(s) still waiting for the handler";
  // The late answer goes nowhere and harms nobody.
  release_held();
  line_client d{path};
  ASSERT_TRUE(d.send_line(ping));
  EXPECT_EQ(d.read_line(), pong);
}

TEST_F(fixture, the_handler_not_answering_becomes_an_error) {
  auto opts = options();
  opts.request_timeout = std::chrono::milliseconds{100};
  start(opts);
  line_client c{path};
  ASSERT_TRUE(c.send_line(R"({"cmd":"tree"})"));
  EXPECT_EQ(c.read_line(),
            R"({"error":"the daemon's control handler did not answer within )"
            R"(100 ms","ok":false})");
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(), pong);
}

TEST_F(fixture, no_handler_is_an_error) {
  auto res = start_control_server(
    *sys, io, [] { return caf::actor{}; }, options());
  ASSERT_TRUE(res);
  server = *res;
  line_client c{path};
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(),
            R"({"error":"the daemon's control handler is not running",)"
            R"("ok":false})");
}

// -- limits -------------------------------------------------------------------

TEST_F(fixture, an_oversized_line_gets_an_error_and_the_connection_closes) {
  auto opts = options();
  opts.max_line_bytes = 1024;
  start(opts);
  line_client c{path};
  ASSERT_TRUE(c.send_raw(std::string(2000, 'x')));
  EXPECT_EQ(c.read_line(), R"({"error":"request line exceeds the limit of )"
                           R"(1024 bytes without a newline; closing",)"
                           R"("ok":false})");
  EXPECT_TRUE(c.wait_closed());
  // Others are unaffected.
  line_client d{path};
  ASSERT_TRUE(d.send_line(ping));
  EXPECT_EQ(d.read_line(), pong);
}

TEST_F(fixture, an_oversized_line_with_newline_is_refused_too) {
  auto opts = options();
  opts.max_line_bytes = 1024;
  start(opts);
  line_client c{path};
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(), pong);
  ASSERT_TRUE(c.send_line(std::string(1500, ' ') + ping));
  auto reply = c.read_line();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->rfind(R"({"error":"request line )", 0), 0u) << *reply;
  EXPECT_NE(reply->find("exceeds the limit of 1024 bytes"), std::string::npos);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(fixture, a_100_mib_line_is_cut_off_not_buffered) {
  start(); // default limit: 64 KiB
  line_client c{path};
  std::string chunk(64 * 1024, 'x');
  size_t sent = 0;
  while (sent < 100u * 1024 * 1024 && c.send_raw(chunk))
    sent += chunk.size();
  EXPECT_LT(sent, 100u * 1024 * 1024)
    << "the server kept reading a line far over its limit";
}

TEST_F(fixture, malformed_json_gets_an_error_and_the_connection_stays) {
  start();
  line_client c{path};
  ASSERT_TRUE(c.send_line("{not json"));
  auto reply = c.read_line();
  ASSERT_TRUE(reply);
  auto j = json::parse(*reply);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["error"].get<std::string>().rfind("malformed JSON: ", 0), 0u);
  ASSERT_TRUE(c.send_line(R"({"cmd":"frobnicate"})"));
  reply = c.read_line();
  ASSERT_TRUE(reply);
  EXPECT_NE(reply->find("unknown command 'frobnicate'"), std::string::npos);
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(), pong);
}

TEST_F(fixture, pipelined_requests_are_answered_in_order) {
  auto opts = options();
  opts.max_pipelined = 4; // fewer than the requests: reading must resume
  start(opts);
  line_client c{path};
  std::string batch;
  for (int i = 0; i < 30; ++i)
    batch += i % 2 == 0
               ? ping + "\n"
               : R"({"cmd":"remove","name":"r)" + std::to_string(i) + "\"}\n";
  batch += "\n\r\n"; // blank lines are skipped
  ASSERT_TRUE(c.send_raw(batch));
  for (int i = 0; i < 30; ++i) {
    auto expected = i % 2 == 0 ? pong
                               : R"({"error":"no rule named 'r)"
                                   + std::to_string(i) + R"('","ok":false})";
    EXPECT_EQ(c.read_line(), expected) << i;
  }
}

TEST_F(fixture, a_half_closed_client_still_gets_its_answers) {
  start();
  line_client c{path};
  ASSERT_TRUE(c.send_raw(ping + "\n" + ping)); // the last without newline
  c.shutdown_write();
  EXPECT_EQ(c.read_line(), pong);
  EXPECT_EQ(c.read_line(), pong);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(fixture, clients_over_the_cap_are_refused_with_an_error) {
  auto opts = options();
  opts.max_clients = 3;
  start(opts);
  std::vector<std::unique_ptr<line_client>> cs;
  for (int i = 0; i < 3; ++i) {
    cs.push_back(std::make_unique<line_client>(path));
    ASSERT_TRUE(cs.back()->send_line(ping));
    ASSERT_EQ(cs.back()->read_line(), pong); // accepted and served
  }
  line_client extra_client{path};
  EXPECT_EQ(extra_client.read_line(),
            R"({"error":"too many control clients (3 connected, the limit is )"
            R"(3); try again later","ok":false})");
  EXPECT_TRUE(extra_client.wait_closed());
  // The admitted ones keep working.
  ASSERT_TRUE(cs[0]->send_line(ping));
  EXPECT_EQ(cs[0]->read_line(), pong);
}

TEST_F(fixture, a_client_that_does_not_read_is_dropped) {
  auto opts = options();
  opts.max_output_bytes = 64 * 1024;
  // Only the byte limit may drop it here, not a stuck write's timeout.
  opts.write_timeout = std::chrono::minutes{10};
  start(opts, /*blob_size=*/16 * 1024);
  line_client c{path};
  // One answered request first: the server has then counted this client.
  // Without it, clients() below could still read 0 from before the server
  // took the connection (1 run in ~50), and the client would start
  // reading at once, keep up, and never be dropped.
  ASSERT_TRUE(c.send_line(ping));
  ASSERT_EQ(c.read_line(), pong);
  ASSERT_EQ(clients(), 1u);
  constexpr int requests = 400; // 6.4 MB of replies, far over every buffer
  std::string batch;
  for (int i = 0; i < requests; ++i)
    batch += R"({"cmd":"stats"})"
             "\n";
  ASSERT_TRUE(c.send_raw(batch));
  // Read only once the server has given up on the backlog (its client
  // count drops): a client reading meanwhile could keep up with a slow
  // server, and then nothing would be dropped.
  EXPECT_TRUE(eventually([this] { return clients() == 0; }))
    << "the server kept a client that reads nothing";
  int replies = 0;
  while (auto line = c.read_line())
    ++replies;
  EXPECT_LT(replies, requests);
  // The server is fine.
  line_client d{path};
  ASSERT_TRUE(d.send_line(ping));
  EXPECT_EQ(d.read_line(), pong);
}

// -- lifecycle ------------------------------------------------------------------

TEST_F(fixture, stopping_the_server_closes_its_clients) {
  start();
  line_client c{path};
  ASSERT_TRUE(c.send_line(ping));
  ASSERT_EQ(c.read_line(), pong);
  stop(server);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(fixture, a_supervisor_restarts_a_killed_server_on_the_same_path) {
  handler = sys->spawn(test_handler, size_t{16});
  supervisor_flags flags;
  flags.intensity = 5;
  flags.name = "root";
  auto sup = start_supervisor(
    *sys, flags,
    {control_server_child("control", io, fixed_handler(handler), options())});
  ASSERT_TRUE(sup) << sys->render(sup.error());
  extra.push_back(*sup);
  supervisor_client sc{*sys, *sup};
  auto first = sc.which_children();
  ASSERT_TRUE(first);
  auto old = first->at(0).handle;
  {
    line_client c{path};
    ASSERT_TRUE(c.send_line(ping));
    ASSERT_EQ(c.read_line(), pong);
    caf::anon_send_exit(old, caf::exit_reason::kill);
    EXPECT_TRUE(c.wait_closed());
  }
  // Wait for the restart through the supervisor's own report.
  caf::actor fresh;
  while (!fresh) {
    auto kids = sc.which_children();
    ASSERT_TRUE(kids);
    auto& kid = kids->at(0);
    if (kid.state == "running" && kid.handle && kid.handle != old)
      fresh = kid.handle;
    else
      std::this_thread::yield();
  }
  line_client c{path};
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send_line(ping));
  EXPECT_EQ(c.read_line(), pong);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

} // namespace
} // namespace castor::relay
