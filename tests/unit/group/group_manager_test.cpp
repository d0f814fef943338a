// The group manager's bookkeeping against a fake kernel: reference counts,
// holder death, sharding under the per-socket limits, interfaces that come
// and go, restarts, and every error answer.

#define CAF_SUITE group_manager
#include "castor/actors/supervisor.hpp"
#include "castor/net/group_manager.hpp"
#include "castor/testkit/fake_membership_backend.hpp"
#include "castor/testkit/fixture.hpp"

using namespace castor;
using namespace castor::net;
using address = boost::asio::ip::address_v4;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;

caf::behavior holder_actor(caf::event_based_actor*) {
  return {[](ping_atom) {}};
}

address group(const char* text) {
  return boost::asio::ip::make_address_v4(text);
}

address nth_group(uint32_t i) {
  return address{(239u << 24) | (1u << 16) | i};
}

membership_request req(const char* itf, address g, address src = {},
                       bool wait = false) {
  membership_request r;
  r.interface = interface_ref::by_name(itf);
  r.group = g;
  r.source = src;
  r.wait_for_interface = wait;
  return r;
}

using strings = std::multiset<std::string>;

/// A request for an IPv4 or IPv6 group (and source), as text.
membership_request req6(const char* itf, const char* g, const char* src = "",
                        bool wait = false) {
  membership_request r;
  r.interface = interface_ref::by_name(itf);
  r.group = boost::asio::ip::make_address(g);
  if (*src != '\0')
    r.source = boost::asio::ip::make_address(src);
  r.wait_for_interface = wait;
  return r;
}

using castor::testkit::fake_membership_backend;

struct fixture : castor::testkit::fixture<> {
  fake_membership_backend* fake = nullptr;
  std::shared_ptr<group_manager_state> state;
  caf::actor gm;

  fixture() {
    auto backend = std::make_unique<fake_membership_backend>();
    fake = backend.get();
    fake->interfaces["eth0"] = {2, true, true};
    fake->interfaces["eth1"] = {3, true, true};
    fake->interfaces["wg0"] = {4, true, false};
    state = make_group_manager_state(std::move(backend));
    gm = spawn_group_manager(sys, state);
    sched.run();
  }

  ~fixture() {
    self->send_exit(gm, caf::exit_reason::kill);
    sched.run();
  }

  caf::actor holder() {
    auto h = sys.spawn(holder_actor);
    sched.run();
    return h;
  }

  /// Asks the group manager (testkit's ask: time stands still).
  template <class T, class... Ts>
  caf::expected<T> ask_gm(Ts... xs) {
    return ask<T>(gm, xs...);
  }

  caf::expected<membership_status> join(const caf::actor& h,
                                        membership_request r) {
    return ask_gm<membership_status>(caf::join_atom::value, h, r);
  }

  /// The state a join answers with, or the error's name. Returns a value
  /// (not a reference into a temporary) so CAF's check macros can hold it.
  std::string join_state(const caf::actor& h, membership_request r) {
    auto res = join(h, std::move(r));
    return res ? res->state : caf::to_string(res.error());
  }

  caf::error join_error(const caf::actor& h, membership_request r) {
    auto res = join(h, std::move(r));
    return res ? caf::error{} : res.error();
  }

  caf::error leave(const caf::actor& h, membership_request r) {
    auto res = ask_gm<caf::ok_atom>(caf::leave_atom::value, h, r);
    return res ? caf::error{} : res.error();
  }

  std::vector<membership_status> memberships() {
    return *ask_gm<std::vector<membership_status>>(memberships_atom::value);
  }

  std::string state_of(const std::string& grp) {
    for (auto& m : memberships())
      if (m.group == grp)
        return m.state + (m.reason.empty() ? "" : " (" + m.reason + ")");
    return "absent";
  }

  void link_change(const std::string& name) {
    fake->change_link(name);
    sched.run();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(group_manager_tests, fixture)

CAF_TEST(the first holder joins and the last one to leave leaves) {
  auto a = holder();
  auto b = holder();
  auto g = group("239.1.1.1");
  auto st = join(a, req("eth0", g));
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->state, "joined");
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"2 239.1.1.1"}));
  auto second = join(b, req("eth0", g));
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL(second->holders, 2u);
  CAF_CHECK_EQUAL(fake->joins, 1u); // one kernel join for two holders
  CAF_CHECK_EQUAL(leave(a, req("eth0", g)), caf::error{});
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"2 239.1.1.1"}));
  CAF_CHECK_EQUAL(leave(b, req("eth0", g)), caf::error{});
  CAF_CHECK(fake->kernel_joins().empty());
  CAF_CHECK(fake->sockets.empty()); // the helper socket is closed too
  CAF_CHECK(memberships().empty());
}

CAF_TEST(a holder counts its own joins and a dead holder releases them) {
  auto a = holder();
  auto b = holder();
  auto g1 = group("239.1.1.1");
  auto g2 = group("239.1.1.2");
  join(a, req("eth0", g1));
  join(a, req("eth0", g1));
  join(a, req("eth1", g2));
  join(b, req("eth1", g2));
  CAF_CHECK_EQUAL(leave(a, req("eth0", g1)), caf::error{});
  CAF_CHECK_EQUAL(state_of("239.1.1.1"), "joined"); // a holds it once more
  self->send_exit(a, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"3 239.1.1.2"}));
  // A named copy: CAF_CHECK_EQUAL binds its operands with auto&&, which
  // would leave memberships()[0].holders dangling (found by ASan).
  auto left = memberships();
  CAF_REQUIRE_EQUAL(left.size(), 1u);
  CAF_CHECK_EQUAL(left[0].holders, 1u);
}

CAF_TEST(helper sockets are sharded under the per socket group limit) {
  auto a = holder();
  for (uint32_t i = 1; i <= 45; ++i)
    CAF_REQUIRE_EQUAL(join_state(a, req("eth0", nth_group(i))), "joined");
  CAF_CHECK_EQUAL(fake->sockets.size(), 3u);
  for (auto& [fd, entries] : fake->sockets)
    CAF_CHECK_LESS_OR_EQUAL(entries.size(), 20u);
  auto stats = *ask_gm<group_stats>(group_stats_atom::value);
  CAF_CHECK_EQUAL(stats.active["eth0"], 45u);
  CAF_CHECK_EQUAL(stats.sockets, 3u);
  CAF_CHECK_EQUAL(stats.joins_succeeded, 45u);
  // Freed slots are reused before a new socket is opened.
  CAF_CHECK_EQUAL(leave(a, req("eth0", nth_group(3))), caf::error{});
  CAF_CHECK(join(a, req("eth0", nth_group(46))));
  CAF_CHECK_EQUAL(fake->sockets.size(), 3u);
  for (uint32_t i = 1; i <= 46; ++i)
    if (i != 3)
      CAF_CHECK_EQUAL(leave(a, req("eth0", nth_group(i))), caf::error{});
  CAF_CHECK(fake->sockets.empty());
}

CAF_TEST(source specific joins respect the source limit and never mix modes) {
  fake->max_sources = 2;
  auto a = holder();
  auto g = group("239.2.2.2");
  for (auto src : {"10.0.0.1", "10.0.0.2", "10.0.0.3"})
    CAF_CHECK_EQUAL(join_state(a, req("eth0", g, group(src))), "joined");
  CAF_CHECK_EQUAL(join_state(a, req("eth0", g)), "joined");
  CAF_CHECK_EQUAL(
    fake->kernel_joins(),
    (strings{"2 239.2.2.2", "2 239.2.2.2 from 10.0.0.1",
             "2 239.2.2.2 from 10.0.0.2", "2 239.2.2.2 from 10.0.0.3"}));
  for (auto& [fd, entries] : fake->sockets) {
    size_t asm_joins = 0;
    size_t ssm_joins = 0;
    for (auto& e : entries)
      ++(e.source.is_unspecified() ? asm_joins : ssm_joins);
    CAF_CHECK(asm_joins == 0 || ssm_joins == 0);
    CAF_CHECK_LESS_OR_EQUAL(ssm_joins, 2u);
  }
  CAF_CHECK_EQUAL(fake->sockets.size(), 3u);
}

CAF_TEST(memberships wait for an absent interface and follow it) {
  auto a = holder();
  auto g = group("239.3.3.3");
  auto st = join(a, req("tun7", g, {}, true));
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->state, "pending");
  CAF_CHECK_EQUAL(st->reason, "interface absent");
  CAF_CHECK(fake->kernel_joins().empty());
  // The interface appears, down first, then up.
  fake->interfaces["tun7"] = {9, false, true};
  link_change("tun7");
  CAF_CHECK_EQUAL(state_of("239.3.3.3"), "pending (interface down)");
  fake->interfaces["tun7"].up = true;
  link_change("tun7");
  CAF_CHECK_EQUAL(state_of("239.3.3.3"), "joined");
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"9 239.3.3.3"}));
  // Down again: the kernel membership goes, the membership stays pending.
  fake->interfaces["tun7"].up = false;
  link_change("tun7");
  CAF_CHECK_EQUAL(state_of("239.3.3.3"), "pending (interface down)");
  CAF_CHECK(fake->kernel_joins().empty());
  // Deleted and re-created with a new index: rejoined on the new one.
  fake->interfaces.erase("tun7");
  link_change("tun7");
  CAF_CHECK_EQUAL(state_of("239.3.3.3"), "pending (interface absent)");
  fake->interfaces["tun7"] = {12, true, true};
  link_change("tun7");
  CAF_CHECK_EQUAL(state_of("239.3.3.3"), "joined");
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"12 239.3.3.3"}));
  // Re-created while we missed the down event: still moved to the new index.
  fake->interfaces["tun7"] = {13, true, true};
  link_change("");
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"13 239.3.3.3"}));
  CAF_CHECK_EQUAL(fake->sockets.size(), 1u);
}

CAF_TEST(errors are answered and leave other groups alone) {
  auto a = holder();
  CAF_CHECK(join(a, req("eth0", group("239.9.9.9"))));
  caf::error err = join_error(a, req("nope0", group("239.1.1.1")));
  CAF_CHECK_EQUAL(err, membership_errc::unknown_interface);
  membership_request by_index;
  by_index.interface = interface_ref::by_index(77);
  by_index.group = group("239.1.1.1");
  CAF_CHECK_EQUAL(join_error(a, by_index), membership_errc::unknown_interface);
  CAF_CHECK_EQUAL(join_error(a, req("wg0", group("239.1.1.1"))),
                  membership_errc::no_multicast);
  CAF_CHECK_EQUAL(join_error(a, req("eth0", group("10.1.1.1"))),
                  membership_errc::not_multicast);
  CAF_CHECK_EQUAL(
    join_error(a, req("eth0", group("239.1.1.1"), group("239.0.0.1"))),
    membership_errc::not_multicast);
  fake->refuse_groups.insert(group("239.4.4.4"));
  err = join_error(a, req("eth0", group("239.4.4.4")));
  CAF_CHECK_EQUAL(err, membership_errc::kernel_refused);
  CAF_CHECK_NOT_EQUAL(
    caf::to_string(err.context()).find("Address already in use"),
    std::string::npos);
  CAF_CHECK_EQUAL(leave(a, req("eth0", group("239.5.5.5"))),
                  membership_errc::not_joined);
  CAF_CHECK_EQUAL(join_error(caf::actor{}, req("eth0", group("239.1.1.1"))),
                  membership_errc::invalid_holder);
  // Nothing of that disturbed the first membership.
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"2 239.9.9.9"}));
  CAF_CHECK_EQUAL(memberships().size(), 1u);
  auto stats = *ask_gm<group_stats>(group_stats_atom::value);
  CAF_CHECK_EQUAL(stats.joins_failed, 1u);
  CAF_CHECK_EQUAL(stats.joins_attempted, 2u);
}

CAF_TEST(a rejoin the kernel refuses shows as failed and is retried) {
  auto a = holder();
  auto g = group("239.6.6.6");
  fake->interfaces["eth0"].up = false;
  CAF_CHECK_EQUAL(join_state(a, req("eth0", g)), "pending");
  fake->refuse_groups.insert(g);
  fake->interfaces["eth0"].up = true;
  link_change("eth0");
  CAF_CHECK_EQUAL(state_of("239.6.6.6").substr(0, 6), "failed");
  fake->refuse_groups.clear();
  link_change("eth0");
  CAF_CHECK_EQUAL(state_of("239.6.6.6"), "joined");
}

CAF_TEST(a restarted group manager keeps memberships and watches holders) {
  supervisor_flags flags;
  flags.name = "root";
  auto sup = spawn_supervisor(sys, flags, {group_manager_child("gm", state)});
  sched.run();
  auto gm1 = [&]() -> caf::actor {
    auto h = self->request(sup, caf::infinite, which_children_atom::value);
    sched.run();
    caf::actor result;
    h.receive(
      [&](std::vector<child_info>& kids) {
        CAF_REQUIRE_EQUAL(kids.size(), 1u);
        result = kids[0].handle;
      },
      [&](caf::error& err) { CAF_FAIL("which_children: " << describe(err)); });
    return result;
  };
  auto old_gm = gm;
  gm = gm1();
  self->send_exit(old_gm, caf::exit_reason::kill); // the fixture's own one
  sched.run();
  auto a = holder();
  auto b = holder();
  join(a, req("eth0", group("239.7.7.7")));
  join(b, req("eth0", group("239.7.7.8")));
  auto joins_before = fake->joins;
  self->send_exit(gm, caf::exit_reason::kill);
  sched.run();
  gm = gm1();
  CAF_REQUIRE(gm != nullptr);
  CAF_CHECK_NOT_EQUAL(gm, old_gm);
  // Same memberships, same kernel state, no join repeated.
  CAF_CHECK_EQUAL(memberships().size(), 2u);
  CAF_CHECK_EQUAL(fake->joins, joins_before);
  CAF_CHECK_EQUAL(fake->kernel_joins(),
                  (strings{"2 239.7.7.7", "2 239.7.7.8"}));
  // The new instance watches the old holders: a's death releases its group.
  self->send_exit(a, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(fake->kernel_joins(), (strings{"2 239.7.7.8"}));
}

CAF_TEST(an unsupervised group manager ends when its last handle goes) {
  // Issue 13: the link-watch callback held a strong handle to the manager,
  // so a manager spawned without a supervisor never ended and kept
  // ~actor_system from returning. Checked here without destroying a
  // system (which would hang on the old code): the manager must be gone
  // once nothing but its own callback refers to it.
  auto backend = std::make_unique<fake_membership_backend>();
  auto* own_fake = backend.get();
  own_fake->interfaces["eth0"] = {2, true, true};
  auto own_state = make_group_manager_state(std::move(backend));
  auto mgr = spawn_group_manager(sys, own_state);
  sched.run();
  CAF_REQUIRE(own_fake->on_change);
  self->monitor(mgr);
  caf::actor_addr addr = mgr.address();
  mgr = nullptr;
  sched.run();
  if (auto leaked = caf::actor_cast<caf::actor>(addr)) {
    CAF_ERROR("the group manager outlived its last handle");
    // End it anyway, so that the fixture's ~actor_system cannot hang.
    self->send_exit(leaked, caf::exit_reason::kill);
    sched.run();
  }
  bool down = false;
  self->receive(
    [&](caf::down_msg& msg) {
      down = msg.source == addr;
      CAF_CHECK_EQUAL(msg.reason, caf::exit_reason::unreachable);
    },
    caf::after(std::chrono::seconds(0)) >> [] {});
  CAF_CHECK(down);
  // A link change reported after the manager ended goes nowhere.
  own_fake->on_change("eth0");
  sched.run();
}

CAF_TEST(IPv6 groups are refcounted MLD joins on sockets of their own) {
  auto a = holder();
  auto b = holder();
  CAF_CHECK_EQUAL(join_state(a, req6("eth0", "ff3e::1:1")), "joined");
  CAF_CHECK_EQUAL(join_state(b, req6("eth0", "ff3e::1:1")), "joined");
  CAF_CHECK_EQUAL(join_state(a, req6("eth0", "ff3e::2:1", "fd00::7")),
                  "joined");
  CAF_CHECK_EQUAL(join_state(a, req6("eth0", "239.1.1.1")), "joined");
  CAF_CHECK_EQUAL(fake->joins, 3u); // one kernel join for two holders
  CAF_CHECK_EQUAL(
    fake->kernel_joins(),
    (strings{"2 ff3e::1:1", "2 ff3e::2:1 from fd00::7", "2 239.1.1.1"}));
  // IPv4 and IPv6 never share a helper socket (the fake refuses a join of
  // the other family, as the kernel would).
  std::multiset<int> families;
  for (auto& [fd, family] : fake->families)
    families.insert(family);
  CAF_CHECK_EQUAL(families, (std::multiset<int>{AF_INET, AF_INET6}));
  // Shown like IPv4 ones, per interface.
  CAF_CHECK_EQUAL(state_of("ff3e::1:1"), "joined");
  auto stats = *ask_gm<group_stats>(group_stats_atom::value);
  CAF_CHECK_EQUAL(stats.active["eth0"], 3u);
  CAF_CHECK_EQUAL(stats.sockets, 2u);
  for (auto& m : memberships())
    if (m.group == "ff3e::2:1") {
      CAF_CHECK_EQUAL(m.source, "fd00::7");
      CAF_CHECK_EQUAL(m.interface, "eth0");
    } else if (m.group == "ff3e::1:1") {
      CAF_CHECK_EQUAL(m.holders, 2u);
    }
  // The last holder to leave leaves; "::" and no source are the same
  // any-source membership.
  CAF_CHECK_EQUAL(leave(a, req6("eth0", "ff3e::1:1", "::")), caf::none);
  CAF_CHECK_EQUAL(fake->kernel_joins().count("2 ff3e::1:1"), 1u);
  CAF_CHECK_EQUAL(leave(b, req6("eth0", "ff3e::1:1")), caf::none);
  CAF_CHECK_EQUAL(fake->kernel_joins().count("2 ff3e::1:1"), 0u);
  self->send_exit(a, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK(fake->kernel_joins().empty());
  CAF_CHECK(fake->sockets.empty());
}

CAF_TEST(IPv6 memberships follow their interface through a flap) {
  auto a = holder();
  CAF_CHECK_EQUAL(join_state(a, req6("eth1", "ff3e::9:9")), "joined");
  CAF_CHECK_EQUAL(join_state(a, req6("eth1", "ff3e::9:8", "fd00::1")),
                  "joined");
  fake->interfaces["eth1"].up = false;
  link_change("eth1");
  CAF_CHECK_EQUAL(state_of("ff3e::9:9"), "pending (interface down)");
  CAF_CHECK_EQUAL(state_of("ff3e::9:8"), "pending (interface down)");
  CAF_CHECK(fake->kernel_joins().empty());
  fake->interfaces["eth1"] = {21, true, true}; // back, re-created
  link_change("eth1");
  CAF_CHECK_EQUAL(state_of("ff3e::9:9"), "joined");
  CAF_CHECK_EQUAL(fake->kernel_joins(),
                  (strings{"21 ff3e::9:9", "21 ff3e::9:8 from fd00::1"}));
  // Waiting for an interface works the same.
  CAF_CHECK_EQUAL(join_state(a, req6("tun6", "ff3e::6:6", "", true)),
                  "pending");
  fake->interfaces["tun6"] = {30, true, true};
  link_change("tun6");
  CAF_CHECK_EQUAL(state_of("ff3e::6:6"), "joined");
}

CAF_TEST(IPv6 requests are checked for scope and family) {
  auto a = holder();
  CAF_CHECK_EQUAL(join_error(a, req6("eth0", "fd00::1")),
                  membership_errc::not_multicast);
  CAF_CHECK_EQUAL(join_error(a, req6("eth0", "ff3e::1", "ff3e::2")),
                  membership_errc::not_multicast);
  auto err = join_error(a, req6("eth0", "ff3e::1", "10.0.0.1"));
  CAF_CHECK_EQUAL(err, membership_errc::not_multicast);
  CAF_CHECK_NOT_EQUAL(caf::to_string(err).find("family"), std::string::npos);
  CAF_CHECK_EQUAL(join_error(a, req6("eth0", "239.1.1.1", "fd00::1")),
                  membership_errc::not_multicast);
  CAF_CHECK(fake->kernel_joins().empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
