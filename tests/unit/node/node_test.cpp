// castor::node over real loopback sockets: two actor systems in one process,
// each a node with its own middleman, TLS certificates made at test time by
// scripts/make-certs.sh. Waits are bounded only as failure time-outs: every
// check waits for a positive event (a node event, a log line, an answer).

#define CAF_SUITE node
#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "castor/actors/errors.hpp"
#include "castor/actors/system_config.hpp"
#include "castor/node/node.hpp"

using namespace castor::node;
using namespace std::chrono_literals;

namespace {

constexpr auto patience = 20s; // a failure time-out, never a measurement

std::string temp_dir() {
  char templ[] = "/tmp/castor-node-test-XXXXXX";
  auto* dir = ::mkdtemp(templ);
  CAF_REQUIRE(dir != nullptr);
  return dir;
}

/// Certificates for `names` under a CA of their own in `dir`.
void make_certs(const std::string& dir, const std::string& names) {
  auto cmd = std::string{CASTOR_MAKE_CERTS} + " " + dir + " " + names;
  CAF_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);
}

tls_options tls_of(const std::string& dir, const std::string& name) {
  return {dir + "/" + name + ".crt", dir + "/" + name + ".key", dir + "/ca.crt",
          ""};
}

caf::behavior echo(caf::event_based_actor*) {
  return {[](const std::string& x) { return "echo:" + x; }};
}

/// An actor system with a node on it, as an embedder builds them.
struct box {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<castor::node::node> n;
  std::vector<caf::actor> published;

  explicit box(const node_options& opts) {
    castor::runtime_options rt;
    rt.scheduler_threads = 2;
    castor::configure(cfg, rt);
    auto err = castor::node::configure(cfg, opts);
    CAF_REQUIRE(!err);
    sys = std::make_unique<caf::actor_system>(cfg);
    n = std::make_unique<castor::node::node>(*sys, opts);
    auto port = n->start();
    CAF_REQUIRE(port);
  }

  /// Publishes `a` as `name`, and ends it with the box.
  void publish(const std::string& name, const caf::actor& a) {
    published.push_back(a);
    CAF_REQUIRE(!n->publish(name, a));
  }

  /// Publishes an echo actor as `name`.
  void publish_echo(const std::string& name) {
    publish(name, sys->spawn(echo));
  }

  ~box() {
    // An actor a peer has seen stays in CAF's registry until it ends (CAF
    // 0.17), and the system's destructor waits for it: end it first.
    for (auto& a : published)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    n.reset(); // the node stops before its system
    sys.reset();
  }
};

/// Takes the next node or name event: "up:b", "down:b", "name_up:b/echo",
/// "name_down:b/echo"; "none" after the failure time-out.
std::string next_event(caf::scoped_actor& self, caf::actor* handle = nullptr) {
  std::string got = "none";
  self->receive(
    [&](node_up_atom, const std::string& peer) { got = "up:" + peer; },
    [&](node_down_atom, const std::string& peer, const caf::error&) {
      got = "down:" + peer;
    },
    [&](name_up_atom, const std::string& peer, const std::string& name,
        const caf::actor& who) {
      got = "name_up:" + peer + "/" + name;
      if (handle != nullptr)
        *handle = who;
    },
    [&](name_down_atom, const std::string& peer, const std::string& name,
        const caf::error&) { got = "name_down:" + peer + "/" + name; },
    caf::after(patience) >> [] {});
  return got;
}

/// Counts the strings it gets; answers the count to get_atom.
caf::behavior counter(caf::stateful_actor<uint64_t>* self) {
  return {
    [self](const std::string&) { ++self->state; },
    [self](caf::get_atom) { return self->state; },
  };
}

uint64_t count_of(caf::actor_system& sys, const caf::actor& who) {
  caf::scoped_actor self{sys};
  uint64_t n = 0;
  self->request(who, patience, caf::get_atom::value)
    .receive([&](uint64_t x) { n = x; }, [](caf::error&) {});
  return n;
}

/// The flow counters of `peer` as "sent/dropped/in_flight".
std::string flow_of(castor::node::node& n, const std::string& peer) {
  auto rows = n.flows();
  if (!rows)
    return castor::describe(rows.error());
  for (auto& r : *rows)
    if (r.peer == peer)
      return std::to_string(r.sent) + "/" + std::to_string(r.dropped) + "/"
             + std::to_string(r.in_flight);
  return "none";
}

/// Polls `pred` until it holds or the failure time-out passes.
template <class Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string ask_echo(caf::actor_system& sys, const caf::actor& who,
                     const std::string& x) {
  caf::scoped_actor self{sys};
  std::string got = "no answer";
  self->request(who, patience, x)
    .receive([&](const std::string& y) { got = y; },
             [&](caf::error& err) { got = castor::describe(err); });
  return got;
}

struct fixture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log;
  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
  std::string certs = temp_dir();

  fixture() {
    log = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(512);
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto logger = std::make_shared<spdlog::logger>(
      "node-test", spdlog::sinks_init_list{log, err});
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
    make_certs(certs, "a b");
  }

  ~fixture() {
    spdlog::set_default_logger(saved);
    std::system(("rm -rf " + certs).c_str());
  }

  /// Whether a log line so far contains `what`.
  bool seen(const std::string& what) {
    for (auto& line : log->last_formatted())
      if (line.find(what) != std::string::npos)
        return true;
    return false;
  }

  /// Waits (bounded) for a log line that contains `what`.
  bool logged(const std::string& what) {
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
      if (seen(what))
        return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  node_options opts(const std::string& name, uint16_t port = 0) {
    node_options o;
    o.name = name;
    o.listen_port = port;
    o.tls = tls_of(certs, name);
    o.reconnect = castor::backoff_spec{50ms, 500ms, 2.0, 10s};
    o.connect_timeout = 3s;
    o.lookup_timeout = 3s;
    return o;
  }

  static peer_spec peer(const std::string& name, const box& b) {
    return {name, "127.0.0.1", b.n->port()};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(node_tests, fixture)

CAF_TEST(options without TLS files are refused unless insecure) {
  caf::actor_system_config cfg;
  node_options o;
  o.name = "x";
  CAF_CHECK(is(castor::node::configure(cfg, o), errc::invalid_options));
  o.tls = {certs + "/missing.crt", certs + "/a.key", certs + "/ca.crt", ""};
  CAF_CHECK(is(castor::node::configure(cfg, o), errc::invalid_options));
  o.name = "";
  o.insecure = true;
  CAF_CHECK(is(castor::node::configure(cfg, o), errc::invalid_options));
}

CAF_TEST(two TLS nodes connect and a remote whereis finds a published actor) {
  box b{opts("b")};
  b.publish_echo("echo");
  box a{opts("a")};
  caf::scoped_actor ev{*a.sys};
  CAF_REQUIRE(!a.n->subscribe_node_events(caf::actor_cast<caf::actor>(ev)));
  CAF_REQUIRE(!a.n->connect(peer("b", b)));
  CAF_REQUIRE_EQUAL(next_event(ev), "up:b");
  CAF_CHECK_EQUAL(a.n->connected_peers(), std::vector<std::string>{"b"});
  auto remote = a.n->whereis("b", "echo");
  CAF_REQUIRE(remote);
  CAF_CHECK_EQUAL(ask_echo(*a.sys, *remote, "hi"), "echo:hi");
  // Kept in a variable: CAF_CHECK_EQUAL would hold a reference to the
  // error inside a temporary that is gone by the time it compares.
  auto nope = a.n->whereis("b", "nope");
  CAF_CHECK_EQUAL(nope.error(),
                  caf::make_error(castor::errc::not_found, "nope"));
  CAF_CHECK(is(a.n->whereis("c", "echo").error(), errc::not_connected));
  CAF_CHECK(logged("node b: hello from a"));
}

CAF_TEST(a peer that claims another name is not taken) {
  box b{opts("b")};
  box a{opts("a")};
  CAF_REQUIRE(!a.n->connect({"c", "127.0.0.1", b.n->port()}));
  CAF_CHECK(logged("says it is b"));
  CAF_CHECK(is(a.n->whereis("c", "echo").error(), errc::not_connected));
}

CAF_TEST(a certificate signed by another CA is refused and logged) {
  auto other = temp_dir();
  make_certs(other, "a");
  box b{opts("b")};
  auto o = opts("a");
  o.tls = tls_of(other, "a");
  box a{o};
  CAF_REQUIRE(!a.n->connect(peer("b", b)));
  CAF_CHECK(logged("node a: peer b at 127.0.0.1:" + std::to_string(b.n->port())
                   + " refused or unreachable (TLS"));
  CAF_CHECK(is(a.n->whereis("b", "echo").error(), errc::not_connected));
  // b never took a as a peer: a hello would have been logged before a's
  // refusal above.
  CAF_CHECK(!seen("node b: hello from a"));
  std::system(("rm -rf " + other).c_str());
}

CAF_TEST(insecure mode works only when both nodes say so) {
  auto plain = [&](const std::string& name) {
    auto o = opts(name);
    o.insecure = true;
    o.tls = {};
    return o;
  };
  {
    box b{plain("b")};
    b.publish_echo("echo");
    box a{plain("a")};
    caf::scoped_actor ev{*a.sys};
    CAF_REQUIRE(!a.n->subscribe_node_events(caf::actor_cast<caf::actor>(ev)));
    CAF_REQUIRE(!a.n->connect(peer("b", b)));
    CAF_REQUIRE_EQUAL(next_event(ev), "up:b");
    auto remote = a.n->whereis("b", "echo");
    CAF_REQUIRE(remote);
    CAF_CHECK_EQUAL(ask_echo(*a.sys, *remote, "plain"), "echo:plain");
  }
  { // a TLS node does not talk to a plaintext one ...
    box b{plain("b")};
    box a{opts("a")};
    CAF_REQUIRE(!a.n->connect(peer("b", b)));
    CAF_CHECK(
      logged("node a: peer b at 127.0.0.1:" + std::to_string(b.n->port())));
    CAF_CHECK(is(a.n->whereis("b", "echo").error(), errc::not_connected));
  }
  { // ... nor a plaintext node to a TLS one
    box b{opts("b")};
    box a{plain("a")};
    CAF_REQUIRE(!a.n->connect(peer("b", b)));
    CAF_CHECK(
      logged("node a: peer b at 127.0.0.1:" + std::to_string(b.n->port())));
    CAF_CHECK(is(a.n->whereis("b", "echo").error(), errc::not_connected));
  }
}

CAF_TEST(an embedder sees node down and up and its watch re - resolved) {
  auto bopts = opts("b");
  auto b = std::make_unique<box>(bopts);
  b->publish_echo("echo");
  auto bport = b->n->port();
  bopts.listen_port = bport; // the peer comes back where it was
  box a{opts("a")};
  caf::scoped_actor ev{*a.sys};
  auto me = caf::actor_cast<caf::actor>(ev);
  CAF_REQUIRE(!a.n->subscribe_node_events(me));
  CAF_REQUIRE(!a.n->watch(me, "b", "echo"));
  CAF_REQUIRE(!a.n->connect({"b", "127.0.0.1", bport}));
  caf::actor first;
  std::multiset<std::string> seen{next_event(ev, &first),
                                  next_event(ev, &first)};
  CAF_REQUIRE_EQUAL(seen,
                    (std::multiset<std::string>{"up:b", "name_up:b/echo"}));
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(ask_echo(*a.sys, first, "1"), "echo:1");

  // The peer's node goes away: its system ends, its sockets close.
  b.reset();
  seen = {next_event(ev), next_event(ev)};
  CAF_CHECK_EQUAL(seen,
                  (std::multiset<std::string>{"down:b", "name_down:b/echo"}));
  CAF_CHECK(is(a.n->whereis("b", "echo").error(), errc::not_connected));

  // It comes back: the peer reconnects on its own (backoff), the watch
  // resolves again to the new actor, and lookups work again.
  b = std::make_unique<box>(bopts);
  b->publish_echo("echo");
  caf::actor second;
  seen = {next_event(ev, &second), next_event(ev, &second)};
  CAF_CHECK_EQUAL(seen, (std::multiset<std::string>{"up:b", "name_up:b/echo"}));
  CAF_REQUIRE(second);
  CAF_CHECK_NOT_EQUAL(first, second);
  CAF_CHECK_EQUAL(ask_echo(*a.sys, second, "2"), "echo:2");
  auto again = a.n->whereis("b", "echo");
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(ask_echo(*a.sys, *again, "3"), "echo:3");
}

CAF_TEST(bounded sends to a peer drop and count what does not fit) {
  box b{opts("b")};
  auto sink = b.sys->spawn(counter);
  b.publish("sink", sink);
  auto o = opts("a");
  o.max_in_flight = 8;
  o.ack_every = 4;
  box a{o};
  // Not connected: dropped at once, never queued.
  a.n->cast("b", sink, caf::make_message(std::string{"early"}));
  CAF_CHECK_EQUAL(flow_of(*a.n, "b"), "0/1/0");
  caf::scoped_actor ev{*a.sys};
  CAF_REQUIRE(!a.n->subscribe_node_events(caf::actor_cast<caf::actor>(ev)));
  CAF_REQUIRE(!a.n->connect(peer("b", b)));
  CAF_REQUIRE_EQUAL(next_event(ev), "up:b");
  auto remote = a.n->whereis("b", "sink");
  CAF_REQUIRE(remote);
  // 20 in one go: 8 fit the window, 12 are dropped.
  std::vector<caf::message> burst(20,
                                  caf::make_message(std::string{"datagram"}));
  caf::anon_send(a.n->handle(), cast_atom::value, std::string{"b"}, *remote,
                 burst);
  CAF_CHECK_EQUAL(flow_of(*a.n, "b"), "8/13/8");
  CAF_CHECK(eventually([&] { return count_of(*b.sys, sink) == 8; }));
  // The peer's acks open the window again.
  CAF_CHECK(eventually([&] { return flow_of(*a.n, "b") == "8/13/0"; }));
  caf::anon_send(a.n->handle(), cast_atom::value, std::string{"b"}, *remote,
                 burst);
  CAF_CHECK_EQUAL(flow_of(*a.n, "b"), "16/25/8");
  CAF_CHECK(eventually([&] { return count_of(*b.sys, sink) == 16; }));
}

CAF_TEST_FIXTURE_SCOPE_END()
