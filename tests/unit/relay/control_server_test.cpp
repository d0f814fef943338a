// The control server over real unix sockets: a real actor system, a real io
// thread, and blocking clients. Assertions are about what clients receive,
// never about how long it took; timeouts in the options are set short only
// so that the tests that wait for them finish quickly.

#include <string>

#include "control_server_fixture.hpp"
#include <gtest/gtest.h>

namespace castor::relay {
namespace {

using nlohmann::json;
using test::line_client;
using test::ping;
using test::pong;
using test::test_handler;
using fixture = test::control_server_fixture;

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

} // namespace
} // namespace castor::relay
