// Deterministic tests of TCP connections and the listener over real loopback
// sockets. The io shard runs in manual mode and the CAF test coordinator's
// run() polls it (handle_io_event), so actors, supervisors, the connection's
// io steps and the kernel's loopback delivery all happen on this thread, in
// an order the test decides. The peers are plain POSIX sockets.
//
// This file: the listener, its acceptors and connection supervisor.

#define CAF_SUITE tcp

#include "tcp_test_support.hpp"

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

CAF_TEST(the connection supervisor answers a tree request with its handlers) {
  // Issue 13: it had no tree handler, so the tree showed it "unresponsive"
  // and CAF logged an unexpected message.
  tcp_listener_options o;
  o.num_acceptors = 1;
  o.connection = framed(1);
  o.connection.active = active_mode::always();
  start_listener(o);
  auto c1 = client();
  auto c2 = client();
  CAF_REQUIRE_EQUAL(handlers.size(), 2u);
  auto tree = request<castor::tree_node>(root, castor::tree_atom::value);
  CAF_REQUIRE_EQUAL(tree.children.size(), 1u);
  auto& listener = tree.children[0];
  CAF_CHECK_EQUAL(listener.id, "tcp_l");
  CAF_REQUIRE_EQUAL(listener.children.size(), 3u);
  auto& conns = listener.children[0];
  CAF_CHECK_EQUAL(conns.id, "connections");
  CAF_CHECK_EQUAL(conns.kind, "supervisor");
  CAF_CHECK_EQUAL(conns.state, "running");
  CAF_CHECK_EQUAL(conns.strategy, "simple_one_for_one");
  CAF_REQUIRE_EQUAL(conns.children.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto& h = conns.children[i];
    CAF_CHECK_EQUAL(h.kind, "worker");
    CAF_CHECK_EQUAL(h.actor_id, handlers[i].id());
    CAF_CHECK_EQUAL(h.id, "handler 127.0.0.1:"
                            + std::to_string(st(handlers[i]).peer.port()));
    CAF_REQUIRE_EQUAL(h.children.size(), 1u);
    CAF_CHECK_EQUAL(h.children[0].id, "connection");
    CAF_CHECK_EQUAL(h.children[0].actor_id, st(handlers[i]).conn.id());
  }
  // The acceptors' subtree is still there as before.
  CAF_CHECK_EQUAL(listener.children[2].id, "acceptors");
  CAF_CHECK_EQUAL(listener.children[2].state, "running");
  CAF_CHECK_EQUAL(listener.children[2].children.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
