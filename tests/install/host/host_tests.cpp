// The host's unit tests, written as an embedder would: CAF's test DSL and
// castor's installed test kit, nothing from castor's source tree. The io
// shards run in manual mode, driven by the test thread, so a real loopback
// socket, its owner and their supervisor advance deterministically.

#define CAF_SUITE castor_host
// The kit first (it defines FAIL, which caf/test/dsl.hpp needs before it is
// read), then CAF's test main, in this file only.
// clang-format off
#include "castor/testkit/io_fixture.hpp"
#include "castor/testkit/fake_membership_backend.hpp"
#include <caf/test/unit_test_impl.hpp>
// clang-format on

#include <memory>
#include <string>
#include <vector>

#include "receiver.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/supervisor.hpp"
#include "castor/net/group_manager.hpp"

using namespace castor;
using namespace castor::net;
using strings = std::vector<std::string>;

namespace {

// Sends one datagram from a plain socket; on loopback it is queued at the
// receiver when sendto returns.
void send_udp(const udp_endpoint& to, const std::string& text) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::sendto(fd, text.data(), text.size(), 0, to.data(), to.size());
  ::close(fd);
}

// Takes requests and never answers them (it keeps the promises: a dropped
// one would answer with an error). ask must say so instead of hanging.
struct silent_state {
  std::vector<caf::response_promise> kept;
  static inline const char* name = "silent";
};

caf::behavior silent(caf::stateful_actor<silent_state>* self) {
  return {[self](const std::string&) {
    auto rp = self->make_response_promise();
    self->state.kept.push_back(rp);
    return rp;
  }};
}

struct fixture : testkit::io_fixture<> {
  caf::actor sup;

  fixture() {
    supervisor_flags flags;
    flags.name = "host-sup";
    flags.intensity = 3;
    sup = spawn_supervisor(sys, flags,
                           {worker("rx", host::receiver, &shards, int32_t{2}),
                            worker("quiet", silent)});
    settle();
  }

  ~fixture() override {
    anon_send_exit(sup, caf::exit_reason::user_shutdown);
    settle();
  }

  caf::actor child(const std::string& id) {
    auto kids = ask<std::vector<child_info>>(sup, which_children_atom::value);
    CAF_REQUIRE(kids);
    for (auto& k : *kids)
      if (k.id == id)
        return k.handle;
    return {};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(host_tests, fixture)

CAF_TEST(a supervised receiver takes more than N datagrams by refilling) {
  auto rx = child("rx");
  CAF_REQUIRE(rx);
  auto ep = ask<udp_endpoint>(rx, sockname_atom::value);
  CAF_REQUIRE(ep);
  for (auto text : {"one", "two", "three"})
    send_udp(*ep, text);
  // With N = 2 the third datagram needs a refill: socket -> owner passive
  // notice, owner -> socket active 2, then the shard reads again.
  settle();
  CAF_CHECK_EQUAL(ask<strings>(rx, caf::get_atom::value),
                  (strings{"one", "two", "three"}));
}

CAF_TEST(a crashed receiver is restarted with a socket that works) {
  auto first = child("rx");
  anon_send_exit(first, caf::exit_reason::kill);
  settle();
  auto second = child("rx");
  CAF_REQUIRE(second);
  CAF_CHECK_NOT_EQUAL(first, second);
  auto ep = ask<udp_endpoint>(second, sockname_atom::value);
  CAF_REQUIRE(ep);
  send_udp(*ep, "again");
  settle();
  CAF_CHECK_EQUAL(ask<strings>(second, caf::get_atom::value),
                  (strings{"again"}));
}

CAF_TEST(ask reports a request nobody answers instead of hanging) {
  auto res = ask<std::string>(child("quiet"), std::string{"hello?"});
  CAF_CHECK_EQUAL(error_of(res), testkit::no_answer());
  // The supervisor answers management requests the same way.
  CAF_CHECK(
    ask<caf::ok_atom>(sup, terminate_child_atom::value, std::string{"quiet"}));
  CAF_CHECK_EQUAL(error_of(ask<caf::ok_atom>(sup, terminate_child_atom::value,
                                             std::string{"nope"})),
                  castor::errc::not_found);
}

CAF_TEST(the group manager joins through the fake kernel) {
  auto backend = std::make_unique<testkit::fake_membership_backend>();
  auto* fake = backend.get();
  fake->interfaces["eth0"] = {2, true, true};
  auto gm =
    spawn_group_manager(sys, make_group_manager_state(std::move(backend)));
  membership_request req;
  req.interface = interface_ref::by_name("eth0");
  req.group = boost::asio::ip::make_address_v4("239.1.2.3");
  auto st = ask<membership_status>(gm, caf::join_atom::value, child("rx"), req);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->state, "joined");
  CAF_CHECK_EQUAL(fake->kernel_joins(),
                  (std::multiset<std::string>{"2 239.1.2.3"}));
  // The interface goes down: the membership waits for it.
  fake->interfaces["eth0"].up = false;
  fake->change_link("eth0");
  settle();
  CAF_CHECK(fake->kernel_joins().empty());
  anon_send_exit(gm, caf::exit_reason::kill);
  settle();
}

CAF_TEST_FIXTURE_SCOPE_END()
