// The control server, continued: the per-client limits (line size,
// pipelining, clients, unread replies) and the server's lifecycle under a
// supervisor. The fixture is control_server_fixture.hpp.

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
