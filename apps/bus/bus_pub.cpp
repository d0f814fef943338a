// castor-bus pub: stdin's lines, or --count generated messages paced at
// --rate, to a topic; then it lingers to answer NAKs and prints a summary.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/scoped_actor.hpp>

#include "bus_host.hpp"
#include "commands.hpp"
#include "thread_cpu.hpp"

#include "castor/bus/publisher.hpp"
#include "castor/net/shard_actor.hpp"

namespace castor_bus_cli {

using namespace castor::bus;

namespace {

// The index of the next generated message in decimal, counted up in place:
// at millions of messages a second, formatting each index from scratch
// (to_chars) was the largest single cost of the generating thread.
class decimal_counter {
public:
  explicit decimal_counter(long start = 0) { reset(start); }

  void reset(long value) {
    auto* end = std::to_chars(digits_, digits_ + sizeof digits_, value).ptr;
    len_ = static_cast<size_t>(end - digits_);
  }

  void increment() {
    for (auto i = len_; i-- > 0;) {
      if (digits_[i] != '9') {
        ++digits_[i];
        return;
      }
      digits_[i] = '0';
    }
    // All nines: one digit longer, 1 followed by zeros.
    std::memmove(digits_ + 1, digits_, len_);
    digits_[0] = '1';
    ++len_;
  }

  const char* data() const noexcept { return digits_; }
  size_t size() const noexcept { return len_; }

private:
  // A long in decimal takes at most 19 digits, and one more for a carry.
  char digits_[24];
  size_t len_ = 0;
};

// Writes the generated messages of one batch into the pack: each is its
// index, with --stamp a space and the batch's send time (`stamp`:
// steady_clock ns in decimal, what castor-bus sub --latency reads), padded
// with spaces to `size`. Each is built in `text` and copied in whole; the
// padding is written once a batch, as index and stamp only grow. No
// allocation: the pack's buffer is the generator's own, reused from batch
// to batch.
void add_messages(message_pack& pack, decimal_counter& index, long count,
                  int size, std::string_view stamp, std::string& text) {
  text.assign(std::max<size_t>(static_cast<size_t>(size), 48), ' ');
  for (long i = 0; i < count; ++i, index.increment()) {
    auto len = index.size();
    std::memcpy(text.data(), index.data(), len);
    if (!stamp.empty()) {
      text[len] = ' ';
      std::memcpy(text.data() + len + 1, stamp.data(), stamp.size());
      len += 1 + stamp.size();
    }
    pack.add(text.data(), std::max(len, static_cast<size_t>(size)));
  }
}

// Publishes `msgs` as a request and waits for the answer: the publisher
// answers once its backlog has room, so this process never holds more
// than one batch in the publisher's mailbox (publisher.hpp's flow control).
bool publish_acked(caf::scoped_actor& self, const caf::actor& pub,
                   std::vector<std::string> msgs) {
  bool ok = true;
  self->request(pub, caf::infinite, publish_atom::value, std::move(msgs))
    .receive([](uint32_t) {},
             [&ok, &self](const caf::error& e) {
               std::cerr << "castor-bus: publish: " << self->system().render(e)
                         << '\n';
               ok = false;
             });
  return ok;
}

// The most a publish request carries: 256 KiB of messages (four GSO runs
// of 64 KB), and never fewer than 256 messages. A producer that has fallen
// behind (a rate the machine cannot keep) catches up in steps of this, not
// with one batch of everything it is behind by, which the publisher would
// take whole. The bound is in bytes because the cost of a request is its
// datagrams: at 32 B a cap of 256 messages handed the publisher seven
// datagrams a request, so every send, every crossing of the path and every
// wake-up of a subscriber carried 256 messages, and that, not the bus,
// capped the generator at 8M msgs/s (bench/bus/lossless.sh: 12.9M with
// this bound). Below the cap a batch is what the pacing makes of
// generator_pause, so latency at moderate rates is unchanged.
constexpr long max_batch_bytes = 256 * 1024;

long max_batch(int size) {
  // A message is at least its text: with --size under 16 (0: the text
  // alone, index and stamp, ~30 bytes), count 16, so that a batch stays
  // within twice the bound.
  return std::max(256L, max_batch_bytes / (std::max(size, 16) + 2));
}

using gen_tick_atom = caf::atom_constant<caf::atom("gen_tick")>;

// The generator: --count messages paced at --rate. It is an actor on the
// publisher's shard (castor-bus has one), so that a batch it stamps reaches
// the publisher as a post on the same thread, with no wake-up between the
// send time in the message and the datagram leaving (docs/bus.md,
// "Latency"). Like any producer it keeps one publish request unanswered at
// most. `done` is set once it has sent everything, stopped, or failed.
struct generator_state {
  std::chrono::steady_clock::time_point start =
    std::chrono::steady_clock::now();
  long sent = 0;
  // `sent` in decimal: the next message's index.
  decimal_counter index;
  // One message's text, reused (add_messages).
  std::string text;
  // The batch being built: its buffer goes to the publisher with the
  // request, so a batch costs one allocation, not one a message.
  message_pack pack;
  std::promise<bool> done;
  bool finished = false;

  void finish(bool ok) {
    if (!finished) {
      finished = true;
      done.set_value(ok);
    }
  }
};

// The pause between the generator's batches when it is on schedule: the
// same as castor-send's (send_pacer.hpp, 50 us), so that castor and raw
// UDP are measured with the same burst shape. At 100k msgs/s that is about
// 5 messages a batch; every message of a batch carries the batch's time,
// so a longer pause would add the wait behind the batch's earlier
// messages to the latency of the later ones (at 1344 B, a datagram each).
constexpr auto generator_pause = std::chrono::microseconds{50};

caf::behavior generator(caf::actor_companion* self, caf::actor pub,
                        pub_options o, std::shared_ptr<generator_state> st) {
  // Behind schedule: the next batch at once; otherwise after a pause.
  auto next = [self](bool behind) {
    if (behind)
      self->send(self, gen_tick_atom::value);
    else
      self->delayed_send(self, generator_pause, gen_tick_atom::value);
  };
  self->send(self, gen_tick_atom::value);
  return {
    [=](gen_tick_atom) {
      if (st->sent >= o.count || stop_requested()) {
        st->finish(true);
        return;
      }
      auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                                - st->start)
                    .count();
      auto due = std::min(o.count, static_cast<long>(secs * o.rate) + 1);
      // At most max_batch a request: a producer held back by the publisher
      // (its backlog full) catches up in bounded steps, not with one batch
      // of everything it fell behind by, which the publisher would take
      // whole. Behind schedule it stays behind: the rate achieved is lower.
      auto behind = due > st->sent + max_batch(o.size);
      due = std::min(due, st->sent + max_batch(o.size));
      if (due <= st->sent) {
        next(behind);
        return;
      }
      // One clock read a batch, as castor-send does: the batch is handed
      // to the publisher as one, so its messages leave at the same time.
      auto& batch = st->pack;
      batch.clear();
      batch.reserve(static_cast<size_t>(due - st->sent),
                    static_cast<size_t>(due - st->sent)
                      * static_cast<size_t>(std::max(o.size, 48)));
      char stamp[24];
      size_t stamp_len = 0;
      if (o.stamp) {
        auto now_ns = std::chrono::steady_clock::now().time_since_epoch();
        stamp_len = static_cast<size_t>(
          std::to_chars(stamp, stamp + sizeof stamp, now_ns.count()).ptr
          - stamp);
      }
      add_messages(batch, st->index, due - st->sent, o.size, {stamp, stamp_len},
                   st->text);
      st->sent = due;
      castor::net::request_on_shard(
        self, pub,
        caf::behavior{
          [next, behind](uint32_t) { next(behind); },
          [self, st](const caf::error& e) {
            std::cerr << "castor-bus: publish: " << self->system().render(e)
                      << '\n';
            st->finish(false);
          },
        },
        publish_atom::value, std::move(batch));
    },
  };
}

// Runs the generator on the shard and waits for it (or a stop request).
bool generate(bus_host& host, const caf::actor& pub, const pub_options& o) {
  auto st = std::make_shared<generator_state>();
  auto done = st->done.get_future();
  auto gen = castor::net::spawn_on_shard(
    host.sys(), host.shards().at(0),
    [&](caf::actor_companion* self) { return generator(self, pub, o, st); });
  if (!gen) {
    std::cerr << "castor-bus: " << host.sys().render(gen.error()) << '\n';
    return false;
  }
  // The generator sees a stop request at its next tick (within a pause),
  // or once its publish request is answered; a second at most.
  auto stop_seen = std::chrono::steady_clock::time_point{};
  while (done.wait_for(std::chrono::milliseconds{20})
         != std::future_status::ready) {
    auto now = std::chrono::steady_clock::now();
    if (!stop_requested())
      continue;
    if (stop_seen == std::chrono::steady_clock::time_point{})
      stop_seen = now;
    else if (now - stop_seen > std::chrono::seconds{1})
      break;
  }
  auto ok = done.wait_for(std::chrono::seconds{0}) == std::future_status::ready
              ? done.get()
              : true;
  caf::anon_send_exit(*gen, caf::exit_reason::user_shutdown);
  return ok;
}

} // namespace

int run_pub(const pub_options& o) {
  publisher_options po;
  po.topic = o.common.topic;
  if (!o.common.make_map(po.map))
    return 2;
  po.interface = o.common.interface;
  po.ttl = o.common.ttl;
  po.announce_interval = std::chrono::milliseconds{o.common.announce_ms};
  po.recv_buffer = o.common.rcvbuf;
  po.send_buffer = o.common.sndbuf;
  po.loop = !o.common.no_loop;
  po.core.max_delay = std::chrono::microseconds{o.batch_us};
  po.flush_when_idle = !o.no_idle_flush;
  po.core.ring_datagrams = static_cast<size_t>(o.ring);
  po.max_rate = static_cast<uint64_t>(o.max_rate);
  po.segmentation = o.gso;
  bus_host host;
  auto child = make_publisher("pub", host.shards(), po);
  if (!host.start("castor-bus-pub", child.spec))
    return 1;
  auto pub = child.info->wait_actor(std::chrono::seconds{5});
  if (!pub) {
    std::cerr << "castor-bus: the publisher did not start\n";
    return 1;
  }
  caf::scoped_actor self{host.sys()};
  int rc = 0;
  if (o.count > 0) {
    if (!generate(host, pub, o))
      rc = 1;
  } else {
    std::string line;
    while (!stop_requested() && std::getline(std::cin, line))
      if (!publish_acked(self, pub, {line})) {
        rc = 1;
        break;
      }
  }
  caf::anon_send(pub, flush_atom::value);
  nap(std::chrono::milliseconds{o.linger_ms});
  self->request(pub, std::chrono::seconds{5}, bus_stats_atom::value)
    .receive(
      [](const publisher_report& r) {
        auto& c = r.core;
        auto cpu = thread_cpu_json();
        std::fprintf(
          stderr,
          "{\"topic\":\"%s\",\"messages\":%llu,\"datagrams\":%llu,"
          "\"raw_sent\":%llu,\"naks\":%llu,\"repairs\":%llu,"
          "\"unavailable\":%llu,\"heartbeats\":%llu,"
          "\"oversize\":%llu,\"repairs_limited\":%llu,\"refused\":%llu,"
          "\"rate_waits\":%llu%s}\n",
          r.topic.c_str(), (unsigned long long)c.messages,
          (unsigned long long)c.datagrams, (unsigned long long)r.raw_sent,
          (unsigned long long)c.naks, (unsigned long long)c.repairs,
          (unsigned long long)c.unavailable, (unsigned long long)c.heartbeats,
          (unsigned long long)c.oversize, (unsigned long long)c.repairs_limited,
          (unsigned long long)r.refused, (unsigned long long)r.rate_waits,
          cpu.c_str());
      },
      [&rc, &host](const caf::error& e) {
        std::cerr << "castor-bus: stats: " << host.sys().render(e) << '\n';
        rc = 1;
      });
  return rc;
}

} // namespace castor_bus_cli
