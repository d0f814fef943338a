// Tests of the parts under the socket actor that need no test scheduler:
// the lock-free block pool under real threads, socket options on a raw
// descriptor, the io shards running real threads with a real actor
// system (bounded waits only, no timed assertions), and the rendering of
// every castor error category.

#define CAF_SUITE net_support
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/test/unit_test.hpp>

#include "net_test_support.hpp"
#include <sys/socket.h>
#include <unistd.h>

#include "castor/actors/errors.hpp"
#include "castor/net/detail/batch_pool.hpp"
#include "castor/net/errors.hpp"
#include "castor/net/group_manager.hpp"
#include "castor/net/io_shards.hpp"
#include "castor/net/send_buffers.hpp"
#include "castor/net/shard_actor.hpp"
#include "castor/net/socket_options.hpp"
#include "castor/net/tcp_errors.hpp"
#include "castor/net/udp_socket.hpp"

using namespace castor::net;

CAF_TEST(blocks come back from many threads and are reused) {
  auto* pool = batch_pool::create(4, 64);
  constexpr int rounds = 2000;
  constexpr int threads = 3;
  // The acquiring thread hands out one view per block to each releasing
  // thread, as an owner on another CAF worker would drop a batch.
  std::vector<std::thread> ts;
  std::vector<std::vector<udp_batch>> inbox(threads);
  std::vector<std::mutex> mtx(threads);
  std::atomic<int> released{0};
  std::atomic<bool> done{false};
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (;;) {
        // Read `done` before taking the inbox: once it is set, nothing more
        // arrives, so an empty inbox then means this thread is finished.
        bool last = done.load();
        std::vector<udp_batch> mine;
        {
          std::lock_guard<std::mutex> g{mtx[static_cast<size_t>(t)]};
          mine.swap(inbox[static_cast<size_t>(t)]);
        }
        if (last && mine.empty())
          break;
        released += static_cast<int>(mine.size());
        mine.clear(); // drop the views here, on this thread
        std::this_thread::yield();
      }
    });
  constexpr int max_outstanding = 8;
  for (int i = 0; i < rounds; ++i) {
    // Let the releasing threads catch up, as credits bound an owner's
    // backlog; without this the loop would outrun them and only allocate.
    while (i * threads - released.load() > max_outstanding * threads)
      std::this_thread::yield();
    auto* b = pool->acquire();
    // Hold a view while handing out the others, as the socket does until
    // its message is sent: otherwise the first thread to drop its view
    // could return the block to the pool before the last view exists.
    udp_batch keep{b, 0, 1};
    for (int t = 0; t < threads; ++t) {
      std::lock_guard<std::mutex> g{mtx[static_cast<size_t>(t)]};
      inbox[static_cast<size_t>(t)].emplace_back(b, 0, 1);
    }
  }
  done = true;
  for (auto& t : ts)
    t.join();
  CAF_CHECK_EQUAL(released.load(), rounds * threads);
  // Blocks were recycled: the count is bounded by the backlog, not by the
  // number of rounds.
  // At most one block per outstanding view, plus the pool's cache of 8.
  CAF_CHECK_LESS_OR_EQUAL(pool->live_blocks(),
                          static_cast<size_t>(max_outstanding * threads + 9));
  CAF_MESSAGE("live blocks after " << rounds
                                   << " rounds: " << pool->live_blocks());
  pool->release_owner();
}

CAF_TEST(an owner waiting at its bound is woken by the next block returned) {
  // The socket's side of max_pinned_bytes under real threads: the owner
  // thread acquires up to `limit` blocks; at the limit it asks for a
  // wake-up and sleeps until the releasing thread's give_back runs the
  // waker. A lost wake-up would leave it waiting: the wait is bounded so
  // that the test fails instead of hanging.
  auto* pool = batch_pool::create(1, 16);
  constexpr size_t limit = 2;
  constexpr int rounds = 3000;
  std::mutex m;
  std::condition_variable cv;
  int wakes = 0;
  pool->set_waker([&] {
    std::lock_guard<std::mutex> g{m};
    ++wakes;
    cv.notify_one();
  });
  std::mutex inbox_mtx;
  std::vector<udp_batch> inbox;
  std::atomic<bool> done{false};
  std::thread releaser([&] {
    for (;;) {
      bool last = done.load();
      std::vector<udp_batch> mine;
      {
        std::lock_guard<std::mutex> g{inbox_mtx};
        mine.swap(inbox);
      }
      if (last && mine.empty())
        break;
      mine.clear();
      std::this_thread::yield();
    }
  });
  int waits = 0;
  bool lost = false;
  for (int i = 0; i < rounds && !lost; ++i) {
    int seen;
    {
      std::lock_guard<std::mutex> g{m};
      seen = wakes;
    }
    if (pool->loaned_blocks() >= limit && !pool->wait_for_return(limit)) {
      ++waits;
      std::unique_lock<std::mutex> lk{m};
      lost = !cv.wait_for(lk, std::chrono::seconds(30),
                          [&] { return wakes > seen; });
    }
    CAF_REQUIRE_LESS(pool->loaned_blocks(), limit);
    auto* b = pool->acquire();
    std::lock_guard<std::mutex> g{inbox_mtx};
    inbox.emplace_back(b, 0, 1);
  }
  done = true;
  releaser.join();
  CAF_CHECK(!lost);
  CAF_CHECK_EQUAL(pool->loaned_blocks(), 0u);
  CAF_MESSAGE(waits << " waits at the bound in " << rounds << " rounds");
  pool->clear_waker();
  pool->release_owner();
}

CAF_TEST(blocks returned after the owner left free the pool) {
  auto* pool = batch_pool::create(2, 16);
  auto* b = pool->acquire();
  udp_batch view{b, 0, 1};
  pool->release_owner();
  // The view keeps the pool alive; dropping it frees everything (ASan
  // builds would flag a leak or a use after free here).
  view = udp_batch{};
  CAF_CHECK(view.empty());
}

namespace {

struct fd_guard {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ~fd_guard() { ::close(fd); }
};

} // namespace

CAF_TEST(socket option errors name the option and the system error text) {
  fd_guard s;
  auto err = bind_to_device(s.fd, "no-such-if0");
  CAF_CHECK(is(err, errc::socket_option));
  CAF_MESSAGE(describe(err));
  CAF_CHECK_NOT_EQUAL(describe(err).find("SO_BINDTODEVICE no-such-if0"),
                      std::string::npos);
  err = set_multicast_interface(s.fd, 999999);
  CAF_CHECK(is(err, errc::socket_option));
  CAF_CHECK_NOT_EQUAL(describe(err).find("IP_MULTICAST_IF"), std::string::npos);
  err = join_group(s.fd, multicast_membership::any_source(
                           boost::asio::ip::make_address_v4("10.0.0.1")));
  CAF_CHECK(is(err, errc::invalid_argument));
  auto idx = resolve_interface(interface_ref::by_name("lo"));
  CAF_REQUIRE(idx);
  CAF_CHECK_GREATER(*idx, 0u);
}

CAF_TEST(plain socket options succeed on a fresh socket) {
  fd_guard s;
  CAF_CHECK_EQUAL(set_reuse_address(s.fd, true), caf::none);
  CAF_CHECK_EQUAL(set_reuse_port(s.fd, true), caf::none);
  CAF_CHECK_EQUAL(set_multicast_ttl(s.fd, 8), caf::none);
  CAF_CHECK_EQUAL(set_multicast_loop(s.fd, false), caf::none);
  CAF_CHECK_EQUAL(set_tos(s.fd, 0xb8), caf::none);
  CAF_CHECK_EQUAL(set_multicast_interface(s.fd, 1), caf::none);
}

CAF_TEST(buffer sizes beyond rmem_max use FORCE when privileged) {
  fd_guard s;
  // 64 MiB is above any default rmem_max/wmem_max.
  constexpr int big = 64 << 20;
  auto r = set_recv_buffer(s.fd, big);
  CAF_REQUIRE(r);
  auto w = set_send_buffer(s.fd, big);
  CAF_REQUIRE(w);
  CAF_MESSAGE("rcvbuf " << *r << " sndbuf " << *w);
  if (::geteuid() == 0) {
    // The kernel doubles what it was asked for.
    CAF_CHECK_GREATER_OR_EQUAL(*r, 2 * big);
    CAF_CHECK_GREATER_OR_EQUAL(*w, 2 * big);
  } else {
    CAF_CHECK_GREATER(*r, 0);
  }
  CAF_CHECK(is(set_recv_buffer(s.fd, 0).error(), errc::invalid_argument));
}

namespace {

struct counter_state {
  std::promise<size_t>* done = nullptr;
  size_t got = 0;
  size_t target = 0;
};

caf::behavior counting_owner(caf::stateful_actor<counter_state>* self,
                             std::promise<size_t>* done, size_t target) {
  self->state.done = done;
  self->state.target = target;
  return {
    [=](udp_atom, const udp_batch& b) {
      auto& st = self->state;
      st.got += b.size();
      if (st.got >= st.target && st.done) {
        st.done->set_value(st.got);
        st.done = nullptr;
      }
    },
    [=](udp_passive_atom) {
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 active_atom::value, int32_t{8});
    },
  };
}

} // namespace

CAF_TEST(threaded shards deliver and stop in order) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  io_shards shards{io_shards_options{2, true, "test-io-"}};
  CAF_CHECK_EQUAL(shards.size(), 2u);
  std::promise<size_t> done;
  auto fut = done.get_future();
  constexpr size_t n = 100;
  auto owner = sys.spawn(counting_owner, &done, n);
  udp_options o;
  o.active = active_mode::counted(8);
  auto s = open_udp(sys, shards, owner, o);
  CAF_REQUIRE(s);
  net_test::raw_udp peer;
  // Credits of 8 refilled on each passive notice: the kernel buffer holds
  // the rest meanwhile, so nothing is lost on loopback.
  for (size_t i = 0; i < n; ++i)
    CAF_REQUIRE(peer.send_to(s->local, "d" + std::to_string(i)));
  // A bounded wait, so a bug fails the test instead of hanging it.
  CAF_REQUIRE(fut.wait_for(std::chrono::seconds(20))
              == std::future_status::ready);
  CAF_CHECK_EQUAL(fut.get(), n);
  // Ordered shutdown: the socket closes first, its owner (linked) sees
  // user_shutdown, then the threads end, all before ~actor_system.
  caf::scoped_actor me{sys};
  me->monitor(owner);
  shards.stop();
  me->receive([&](caf::down_msg& dm) {
    CAF_CHECK_EQUAL(dm.reason, caf::exit_reason::user_shutdown);
  });
  CAF_CHECK(!net_test::port_in_use(s->local.port()));
}

CAF_TEST(an on - shard owner runs what it sent itself while it was made) {
  // The bus's owners arm their timer while their factory runs, before the
  // behavior exists. The shard's thread must not run that message (on an
  // actor without a behavior, which ends it) until the owner is admitted.
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  io_shards shards{io_shards_options{1, true, "test-io-"}};
  std::promise<int> got;
  auto fut = got.get_future();
  auto s = open_udp_on_shard(
    sys, shards, udp_options{},
    [&got](caf::actor_companion* self, const udp_socket&) {
      self->send(self, caf::get_atom::value, 7);
      // Time for the shard's thread to run the message, were it allowed.
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
      return caf::behavior{[&got](caf::get_atom, int x) { got.set_value(x); }};
    });
  CAF_REQUIRE(s);
  caf::scoped_actor me{sys};
  me->monitor(s->owner);
  CAF_REQUIRE(fut.wait_for(std::chrono::seconds(20))
              == std::future_status::ready);
  CAF_CHECK_EQUAL(fut.get(), 7);
  // Alive until the shards stop: not ended by a message it had no
  // behavior for.
  shards.stop();
  me->receive([&](caf::down_msg& dm) {
    CAF_CHECK_EQUAL(dm.reason, caf::exit_reason::user_shutdown);
  });
}

CAF_TEST(an actor spawned on a shard runs on its thread until it stops) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  io_shards shards{io_shards_options{1, true, "test-io-"}};
  auto& shard = shards.at(0);
  auto a = spawn_on_shard(sys, shard, [&shard](caf::actor_companion*) {
    return caf::behavior{
      [&shard](caf::get_atom) { return shard.on_shard_thread(); }};
  });
  CAF_REQUIRE(a);
  caf::scoped_actor me{sys};
  bool on_shard = false;
  me->request(*a, std::chrono::seconds(20), caf::get_atom::value)
    .receive([&](bool x) { on_shard = x; },
             [](const caf::error& e) { CAF_FAIL(castor::describe(e)); });
  CAF_CHECK(on_shard);
  me->monitor(*a);
  shards.stop();
  me->receive([&](caf::down_msg& dm) {
    CAF_CHECK_EQUAL(dm.reason, caf::exit_reason::user_shutdown);
  });
  // A stopped shard takes no new actor.
  auto late = spawn_on_shard(sys, shard, [](caf::actor_companion*) {
    return caf::behavior{[](caf::get_atom) {}};
  });
  CAF_REQUIRE(!late);
  CAF_CHECK(is(late.error(), errc::shutting_down));
}

// -- error categories ----------------------------------------------------------

namespace {

// Every code of a category from 1 to `last`, rendered by describe(): each by
// its name, behind the category's prefix.
template <class Enum>
void check_names(caf::atom_value category, Enum last,
                 const std::string& prefix) {
  for (int i = 1; i <= static_cast<int>(last); ++i) {
    caf::error err{static_cast<uint8_t>(i), category};
    CAF_CHECK_EQUAL(castor::describe(err),
                    prefix + to_string(static_cast<Enum>(i)));
  }
}

} // namespace

CAF_TEST(every castor error category renders its codes by name) {
  check_names(caf::atom("castor"), castor::errc::auto_shutdown, "");
  check_names(error_category, errc::invalid_argument, "net::");
  check_names(tcp_error_category, tcp_errc::accept_failed, "net_tcp::");
  check_names(caf::atom("mcast"), membership_errc::invalid_holder, "mcast::");
  // With their context, the same way for every category.
  CAF_CHECK_EQUAL(
    castor::describe(caf::make_error(castor::errc::name_taken, "svc")),
    "name_taken: svc");
  CAF_CHECK_EQUAL(describe(make_error(errc::send_queue_full, uint64_t{3})),
                  "net::send_queue_full: 3");
  CAF_CHECK_EQUAL(describe(make_error(tcp_errc::frame_too_large, "len", 9)),
                  "net_tcp::frame_too_large: len: 9");
  CAF_CHECK_EQUAL(
    describe(caf::make_error(membership_errc::not_multicast, "group 10.0.0.1")),
    "mcast::not_multicast: group 10.0.0.1");
  CAF_CHECK_EQUAL(describe(caf::error{}), "none");
}

CAF_TEST(an actor system renders every castor category as describe does) {
  caf::actor_system_config cfg;
  register_errors(cfg);
  caf::actor_system sys{cfg};
  for (auto err : {caf::make_error(castor::errc::not_found, "x"),
                   make_error(errc::timeout), make_error(tcp_errc::closed),
                   caf::make_error(membership_errc::kernel_refused, "join")})
    CAF_CHECK_EQUAL(sys.render(err), describe(err));
}

CAF_TEST(
  send_buffers keeps sent buffers within its bounds and hands them back) {
  castor::net::send_buffers kept{3, 2048};
  std::vector<std::vector<uint8_t>> spent;
  for (size_t cap : {1500, 1500, 4096, 0, 1500, 1500}) {
    std::vector<uint8_t> b;
    b.reserve(cap);
    b.resize(cap / 2, 0xab);
    spent.push_back(std::move(b));
  }
  kept.put(spent);
  // Too large and empty ones are freed; three are kept, the last dropped.
  CAF_CHECK(spent.empty());
  CAF_CHECK_EQUAL(kept.size(), 3u);
  std::vector<std::vector<uint8_t>> back;
  CAF_CHECK_EQUAL(kept.take(back, 2), 2u);
  CAF_CHECK_EQUAL(kept.take(back, 5), 1u);
  CAF_CHECK_EQUAL(kept.take(back, 5), 0u);
  CAF_REQUIRE_EQUAL(back.size(), 3u);
  for (auto& b : back) {
    CAF_CHECK(b.empty());
    CAF_CHECK_GREATER_OR_EQUAL(b.capacity(), 1500u);
  }
}
