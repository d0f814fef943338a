// The named registry: OTP's register/whereis/unregister semantics, which
// CAF's own registry lacks (duplicates refused, entries die with the actor).

#define CAF_SUITE registry
#include "test_support.hpp"

#include "castor/actors/registry.hpp"

using namespace castor;
using namespace castor::test;

namespace {

struct registry_fixture : fixture {
  caf::actor reg = sys.spawn(registry_actor);

  caf::actor spawn_worker(const std::string& name) {
    auto hdl = sys.spawn(logging_worker, log, name, false);
    sched.run();
    return hdl;
  }

  caf::error put(const std::string& name, const caf::actor& whom) {
    auto res = ask<caf::ok_atom>(reg, register_atom::value, name, whom);
    return res ? caf::error{} : res.error();
  }

  caf::expected<caf::actor> where(const std::string& name) {
    return ask<caf::actor>(reg, whereis_atom::value, name);
  }

  // By value: CAF_CHECK_EQUAL binds its operands with auto&&, so
  // *where(name) would refer into a temporary that is gone by the
  // comparison (found by ASan); see error_of.
  caf::actor where_actor(const std::string& name) {
    auto res = where(name);
    return res ? *res : caf::actor{};
  }

  strings names() {
    auto res = ask<std::vector<std::string>>(reg, registered_atom::value);
    CAF_REQUIRE(res);
    return *res;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(registry_tests, registry_fixture)

CAF_TEST(register whereis and unregister) {
  auto a = spawn_worker("a");
  CAF_CHECK_EQUAL(put("alpha", a), caf::error{});
  CAF_CHECK_EQUAL(put("first", a), caf::error{});
  auto found = where("alpha");
  CAF_REQUIRE(found);
  CAF_CHECK_EQUAL(*found, a);
  CAF_CHECK_EQUAL(names(), (strings{"alpha", "first"}));
  CAF_CHECK_EQUAL(
    ask<caf::ok_atom>(reg, unregister_atom::value, std::string{"alpha"}),
    caf::ok_atom::value);
  CAF_CHECK_EQUAL(error_of(where("alpha")), errc::not_found);
  CAF_CHECK_EQUAL(error_of(ask<caf::ok_atom>(reg, unregister_atom::value,
                                             std::string{"alpha"})),
                  errc::not_found);
}

CAF_TEST(duplicate names and bad arguments are refused) {
  auto a = spawn_worker("a");
  auto b = spawn_worker("b");
  CAF_CHECK_EQUAL(put("svc", a), caf::error{});
  auto err = put("svc", b);
  CAF_CHECK_EQUAL(err, errc::name_taken);
  CAF_CHECK_EQUAL(describe(err), "name_taken: svc");
  CAF_CHECK_EQUAL(where_actor("svc"), a); // the first holder keeps it
  CAF_CHECK_EQUAL(put("", a), errc::invalid_argument);
  CAF_CHECK_EQUAL(put("nobody", caf::actor{}), errc::invalid_argument);
}

CAF_TEST(an entry goes away when its actor dies) {
  auto a = spawn_worker("a");
  auto b = spawn_worker("b");
  CAF_CHECK_EQUAL(put("svc", a), caf::error{});
  CAF_CHECK_EQUAL(put("svc2", a), caf::error{});
  CAF_CHECK_EQUAL(put("other", b), caf::error{});
  self->send(a, crash_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(error_of(where("svc")), errc::not_found);
  CAF_CHECK_EQUAL(names(), (strings{"other"}));
  // The name is free again for a new holder.
  CAF_CHECK_EQUAL(put("svc", b), caf::error{});
  CAF_CHECK_EQUAL(where_actor("svc"), b);
}

CAF_TEST(a registry in a supervision tree finds restarted children anew) {
  supervisor_flags flags;
  flags.name = "root";
  auto sup = supervise(flags, {registry_child(), logged(log, "w")});
  auto registry = child(sup, "registry");
  auto w = child(sup, "w");
  CAF_CHECK(ask<caf::ok_atom>(registry, register_atom::value,
                              std::string{"worker"}, w));
  self->send(w, crash_atom::value);
  sched.run();
  // The crashed instance's name is gone; the replacement may take it.
  CAF_CHECK_EQUAL(error_of(ask<caf::actor>(registry, whereis_atom::value,
                                           std::string{"worker"})),
                  errc::not_found);
  auto w2 = child(sup, "w");
  CAF_CHECK_NOT_EQUAL(w2, w);
  CAF_CHECK(ask<caf::ok_atom>(registry, register_atom::value,
                              std::string{"worker"}, w2));
}

CAF_TEST(the last unregister of an actor stops watching it) {
  auto a = spawn_worker("a");
  auto b = spawn_worker("b");
  CAF_CHECK_EQUAL(put("a1", a), caf::error{});
  CAF_CHECK_EQUAL(put("a2", a), caf::error{});
  CAF_CHECK_EQUAL(put("b1", b), caf::error{});
  CAF_CHECK(ask<caf::ok_atom>(reg, unregister_atom::value, std::string{"a1"}));
  CAF_CHECK(ask<caf::ok_atom>(reg, unregister_atom::value, std::string{"b1"}));
  CAF_REQUIRE(!sched.has_job());
  // b holds no name: its end is none of the registry's business.
  self->send(b, crash_atom::value);
  sched.run_once();
  CAF_CHECK(!sched.has_job());
  // a still holds a2: its end reaches the registry, which drops the name.
  self->send(a, crash_atom::value);
  sched.run_once();
  CAF_CHECK(sched.has_job());
  sched.run();
  CAF_CHECK_EQUAL(names(), strings{});
}

CAF_TEST(a restarted registry keeps the names of live actors) {
  supervisor_flags flags;
  flags.name = "root";
  flags.intensity = 5; // two restarts below; OTP's default allows one
  auto sup =
    supervise(flags, {registry_child(), logged(log, "w"), logged(log, "v")});
  auto registry = child(sup, "registry");
  auto w = child(sup, "w");
  auto v = child(sup, "v");
  CAF_CHECK(ask<caf::ok_atom>(registry, register_atom::value,
                              std::string{"worker"}, w));
  CAF_CHECK(
    ask<caf::ok_atom>(registry, register_atom::value, std::string{"other"}, v));
  // The registry and v end together; the supervisor restarts both.
  self->send_exit(registry, caf::exit_reason::kill);
  self->send(v, crash_atom::value);
  sched.run();
  auto registry2 = child(sup, "registry");
  CAF_REQUIRE(registry2 != nullptr);
  CAF_CHECK_NOT_EQUAL(registry2, registry);
  auto found =
    ask<caf::actor>(registry2, whereis_atom::value, std::string{"worker"});
  CAF_REQUIRE(found);
  CAF_CHECK_EQUAL(*found, w);
  // v's name died with v, whichever registry saw it go.
  CAF_CHECK_EQUAL(error_of(ask<caf::actor>(registry2, whereis_atom::value,
                                           std::string{"other"})),
                  errc::not_found);
  // The new incarnation watches w: its crash frees the name.
  self->send(w, crash_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(error_of(ask<caf::actor>(registry2, whereis_atom::value,
                                           std::string{"worker"})),
                  errc::not_found);
}

CAF_TEST_FIXTURE_SCOPE_END()
