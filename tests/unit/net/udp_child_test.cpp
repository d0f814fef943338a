// Deterministic tests of the owners that run on a socket's shard
// (open_udp_on_shard), the credit helper, supervised sockets as child specs
// (udp_child.hpp) and io shards that go away before the tree that uses them.
// The io shard runs in manual mode and run() polls it, as in
// udp_socket_test.cpp.

#define CAF_SUITE udp_child

#include <memory>
#include <stdexcept>

#include "udp_test_support.hpp"

#include "castor/actors/supervisor.hpp"
#include "castor/net/tcp_listener.hpp"
#include "castor/net/udp_child.hpp"
#include "castor/net/udp_credit.hpp"

namespace {

// What an owner saw; shared with the test, since an on-shard owner has no
// state the test could deref.
struct seen {
  std::vector<std::string> got;
  std::vector<size_t> batches;
  int passive = 0;
  int starts = 0;
  caf::actor sock;
};

enum class refill_style { none, refill, top_up };

// The same owner for both kinds: records, echoes "echo:*" back through the
// socket it was given, and keeps its credit per `style`.
template <class Self>
caf::behavior recording_owner(Self* self, const udp_socket& sock,
                              std::shared_ptr<seen> st, int32_t n,
                              refill_style style) {
  ++st->starts;
  st->sock = sock.actor;
  auto credit = std::make_shared<udp_credit>(sock, n);
  return {
    [self, st, credit, style, sock](udp_atom, const udp_batch& b) {
      st->batches.push_back(b.size());
      for (auto d : b.datagrams()) {
        st->got.emplace_back(d.text());
        if (st->got.back().rfind("echo:", 0) == 0)
          self->send(sock.actor, send_atom::value, d.from,
                     to_bytes(st->got.back()));
      }
      if (style == refill_style::top_up)
        credit->consumed(self, b.size());
    },
    [self, st, credit, style](udp_passive_atom) {
      ++st->passive;
      if (style == refill_style::refill)
        credit->refill(self);
    },
  };
}

struct child_fixture : castor::testkit::fixture<castor::testkit::net_config> {
  std::unique_ptr<io_shards> shards =
    std::make_unique<io_shards>(io_shards_options{1, false, "t"});
  raw_udp peer;

  ~child_fixture() override {
    if (shards)
      shards->stop();
    run();
  }

  bool handle_io_event() override { return shards && shards->poll_one(0) > 0; }

  void push(const udp_endpoint& to, const std::string& s) {
    CAF_REQUIRE(peer.send_to(to, s));
  }

  static unsigned short free_port() {
    raw_udp probe; // released at once
    return probe.endpoint().port();
  }

  castor::child_info only_child(const caf::actor& sup) {
    auto kids = request<std::vector<castor::child_info>>(
      sup, castor::which_children_atom::value);
    CAF_REQUIRE_EQUAL(kids.size(), 1u);
    return kids[0];
  }

  // Starts a supervisor over `spec` alone, which must fail to start, and
  // returns the reason it exited with.
  caf::error start_failure(castor::child_spec spec) {
    auto sup = castor::spawn_supervisor(sys, castor::supervisor_flags{},
                                        {std::move(spec)});
    self->monitor(sup);
    run();
    caf::error reason;
    self->receive([&](caf::down_msg& dm) { reason = dm.reason; });
    CAF_MESSAGE("start failed: " << castor::describe(reason));
    CAF_CHECK(reason);
    return reason;
  }

  caf::actor supervise(castor::child_spec spec, int intensity = 5) {
    castor::supervisor_flags flags;
    flags.name = "udp_sup";
    flags.intensity = intensity;
    flags.period = std::chrono::hours{1};
    auto sup = castor::spawn_supervisor(sys, flags, {std::move(spec)});
    run();
    return sup;
  }
};

udp_shard_owner_factory on_shard(std::shared_ptr<seen> st, int32_t n,
                                 refill_style style) {
  return [st, n, style](caf::actor_companion* self, const udp_socket& sock) {
    return recording_owner(self, sock, st, n, style);
  };
}

udp_owner_factory scheduled(std::shared_ptr<seen> st, int32_t n,
                            refill_style style) {
  return [st, n, style](caf::event_based_actor* self, const udp_socket& sock) {
    return recording_owner(self, sock, st, n, style);
  };
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(udp_child_tests, child_fixture)

// -- owners on the shard -------------------------------------------------------

CAF_TEST(an on - shard owner in active once refills with the credit helper) {
  auto st = std::make_shared<seen>();
  udp_options o;
  o.active = active_mode::counted(1);
  auto s = open_udp_on_shard(sys, shards->at(0), o,
                             on_shard(st, 1, refill_style::refill));
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(st->sock, s->socket.actor);
  for (auto x : {"a", "b", "c", "d"})
    push(s->socket.local, x);
  run();
  // One datagram per grant, each grant the owner's refill.
  CAF_CHECK_EQUAL(st->got, strs({"a", "b", "c", "d"}));
  CAF_CHECK_EQUAL(st->batches, (std::vector<size_t>{1, 1, 1, 1}));
  CAF_CHECK_EQUAL(st->passive, 4);
}

CAF_TEST(top - ups keep a socket active while its owner keeps up) {
  auto st = std::make_shared<seen>();
  udp_options o;
  o.active = active_mode::counted(4);
  o.read_packets = 1;
  auto s = open_udp_on_shard(sys, shards->at(0), o,
                             on_shard(st, 4, refill_style::top_up));
  CAF_REQUIRE(s);
  for (int i = 0; i < 10; ++i)
    push(s->socket.local, std::to_string(i));
  run();
  CAF_CHECK_EQUAL(st->got.size(), 10u);
  // Without the top-ups the socket would stop after 4 and say passive.
  CAF_CHECK_EQUAL(st->passive, 0);
}

CAF_TEST(an on - shard owner is a real actor and its exit closes the socket) {
  auto st = std::make_shared<seen>();
  auto s = open_udp_on_shard(sys, shards->at(0), udp_options{},
                             on_shard(st, 1, refill_style::none));
  CAF_REQUIRE(s);
  auto port = s->socket.local.port();
  run();
  CAF_CHECK(net_test::port_in_use(port));
  self->monitor(s->owner);
  self->monitor(s->socket.actor);
  caf::anon_send_exit(s->owner, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK(!net_test::port_in_use(port));
  int downs = 0;
  for (int i = 0; i < 2; ++i)
    self->receive([&](caf::down_msg& dm) {
      CAF_CHECK_EQUAL(dm.reason, caf::exit_reason::user_shutdown);
      ++downs;
    });
  CAF_CHECK_EQUAL(downs, 2);
}

CAF_TEST(a failing owner factory fails the open and frees the port) {
  udp_options o;
  auto port = free_port();
  o.local = {boost::asio::ip::address_v4::loopback(), port};
  auto s = open_udp_on_shard(
    sys, shards->at(0), o,
    [](caf::actor_companion*, const udp_socket&) -> caf::behavior {
      throw std::runtime_error("no owner today");
    });
  CAF_REQUIRE(!s);
  CAF_CHECK(is(s.error(), errc::invalid_argument));
  CAF_CHECK_NOT_EQUAL(describe(s.error()).find("no owner today"),
                      std::string::npos);
  run();
  // The owner it spawned ended, and the socket with it.
  CAF_CHECK(!net_test::port_in_use(port));
}

// -- child specs ---------------------------------------------------------------

CAF_TEST(a supervised socket restarts on its fixed port on the first try) {
  // Both kinds of owner: the owner is the child, the socket is linked to it
  // and closed before the replacement binds the same port.
  for (bool shard_owner : {false, true}) {
    CAF_MESSAGE("owner on the shard: " << shard_owner);
    auto st = std::make_shared<seen>();
    auto port = free_port();
    udp_child_options o;
    o.socket.local = {boost::asio::ip::address_v4::loopback(), port};
    o.socket.active = active_mode::counted(8);
    auto child = shard_owner
                   ? make_udp_socket_on_shard(
                     "rx", *shards, o, on_shard(st, 8, refill_style::refill))
                   : make_udp_socket("rx", *shards, o,
                                     scheduled(st, 8, refill_style::refill));
    auto sup = supervise(child.spec);
    auto before = only_child(sup);
    CAF_REQUIRE(before.handle);
    CAF_CHECK_EQUAL(child.info->local().port(), port);
    CAF_CHECK_EQUAL(child.info->opens(), 1u);
    // The owner got its socket and can use it: an echo comes back.
    push(child.info->local(), "echo:1");
    run();
    CAF_CHECK_EQUAL(st->got, strs({"echo:1"}));
    CAF_CHECK_EQUAL(peer.recv(), std::string{"echo:1"});
    CAF_CHECK_EQUAL(st->sock, child.info->socket());
    caf::anon_send_exit(before.handle, caf::exit_reason::kill);
    run();
    auto after = only_child(sup);
    CAF_CHECK_EQUAL(after.restarts, 1u);
    CAF_CHECK(after.handle && after.handle != before.handle);
    CAF_CHECK_EQUAL(child.info->opens(), 2u);
    CAF_CHECK_EQUAL(st->starts, 2);
    push(child.info->local(), "echo:2");
    run();
    CAF_CHECK_EQUAL(st->got, strs({"echo:1", "echo:2"}));
    CAF_CHECK_EQUAL(peer.recv(), std::string{"echo:2"});
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
    CAF_CHECK(!net_test::port_in_use(port));
  }
}

CAF_TEST(port 0 picks a port once and keeps it across restarts) {
  auto st = std::make_shared<seen>();
  auto child = make_udp_socket("rx", *shards, udp_child_options{},
                               scheduled(st, 1, refill_style::none));
  auto sup = supervise(child.spec);
  auto port = child.info->local().port();
  CAF_CHECK_NOT_EQUAL(port, 0);
  caf::anon_send_exit(only_child(sup).handle, caf::exit_reason::kill);
  run();
  CAF_CHECK_EQUAL(only_child(sup).restarts, 1u);
  CAF_CHECK_EQUAL(child.info->local().port(), port);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
}

CAF_TEST(a bind failure fails the start of the child) {
  raw_udp taken;
  udp_child_options o;
  o.socket.local = taken.endpoint();
  auto child =
    make_udp_socket("rx", *shards, o,
                    scheduled(std::make_shared<seen>(), 1, refill_style::none));
  auto reason = start_failure(child.spec);
  CAF_CHECK_NOT_EQUAL(castor::describe(reason).find("open_failed"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(castor::describe(reason).find("bind"), std::string::npos);
}

// A group manager stand-in: records joins, refuses the group 239.9.9.9.
struct gm_state {
  std::vector<caf::actor> holders;
  std::vector<std::string> groups;
};

caf::behavior fake_group_manager(caf::event_based_actor*,
                                 std::shared_ptr<gm_state> st) {
  return {
    [st](caf::join_atom, const caf::actor& holder,
         const membership_request& req) -> caf::result<membership_status> {
      if (req.group.to_string() == "239.9.9.9")
        return caf::make_error(membership_errc::kernel_refused);
      st->holders.push_back(holder);
      st->groups.push_back(req.group.to_string());
      membership_status ms;
      ms.group = req.group.to_string();
      ms.state = "joined";
      return ms;
    },
  };
}

CAF_TEST(groups are joined through the group manager held by the owner) {
  auto gst = std::make_shared<gm_state>();
  auto gm = sys.spawn(fake_group_manager, gst);
  udp_child_options o;
  o.group_manager = gm;
  membership_request req;
  req.interface = interface_ref::by_name("lo");
  req.group = boost::asio::ip::make_address_v4("239.1.2.3");
  o.groups.push_back(req);
  auto st = std::make_shared<seen>();
  auto child = make_udp_socket_on_shard("rx", *shards, o,
                                        on_shard(st, 1, refill_style::none));
  auto sup = supervise(child.spec);
  auto owner = only_child(sup).handle;
  CAF_REQUIRE_EQUAL(gst->holders.size(), 1u);
  CAF_CHECK_EQUAL(gst->holders[0], owner);
  CAF_CHECK_EQUAL(gst->groups[0], "239.1.2.3");
  // A refused join ends the owner with the error; the supervisor restarts
  // it, which fails the same way, and gives up.
  o.groups[0].group = boost::asio::ip::make_address_v4("239.9.9.9");
  auto refused = make_udp_socket_on_shard("rx2", *shards, o,
                                          on_shard(st, 1, refill_style::none));
  castor::supervisor_flags flags;
  flags.intensity = 2;
  auto sup2 = castor::spawn_supervisor(sys, flags, {refused.spec});
  self->monitor(sup2);
  run();
  self->receive(
    [&](caf::down_msg& dm) { CAF_CHECK(castor::is_shutdown_exit(dm.reason)); });
  CAF_CHECK_EQUAL(refused.info->opens(), 3u);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gm, caf::exit_reason::user_shutdown);
  run();
}

// -- io shards that go first ---------------------------------------------------

CAF_TEST(a tree outliving its io shards fails its restarts cleanly) {
  // The spec holds a ref, not the shards: destroying them closes the
  // socket (the owner exits with it), and every restart then fails with
  // shutting_down instead of touching freed shards (a use-after-free under
  // ASan before), until the supervisor gives up.
  for (bool shard_owner : {false, true}) {
    CAF_MESSAGE("owner on the shard: " << shard_owner);
    if (!shards)
      shards = std::make_unique<io_shards>(io_shards_options{1, false, "t"});
    auto st = std::make_shared<seen>();
    auto child =
      shard_owner ? make_udp_socket_on_shard(
        "rx", *shards, udp_child_options{}, on_shard(st, 1, refill_style::none))
                  : make_udp_socket("rx", *shards, udp_child_options{},
                                    scheduled(st, 1, refill_style::none));
    auto sup = supervise(child.spec, 3);
    auto port = child.info->local().port();
    CAF_CHECK(net_test::port_in_use(port));
    self->monitor(sup);
    shards.reset();
    run();
    CAF_CHECK(!net_test::port_in_use(port));
    self->receive([&](caf::down_msg& dm) {
      CAF_CHECK(castor::is_shutdown_exit(dm.reason));
    });
    CAF_CHECK_EQUAL(child.info->opens(), 1u);
  }
}

CAF_TEST(a listener outliving its io shards fails its restarts cleanly) {
  auto l = make_tcp_listener(
    "l", *shards, tcp_listener_options{},
    [](caf::local_actor*, const tcp_endpoint&) { return caf::actor{}; });
  shards.reset();
  auto reason = start_failure(l.spec);
  CAF_CHECK_NOT_EQUAL(castor::describe(reason).find("io_shards destroyed"),
                      std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
