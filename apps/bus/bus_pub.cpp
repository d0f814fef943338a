// castor-bus pub: stdin's lines, or --count generated messages paced at
// --rate, to a topic; then it lingers to answer NAKs and prints a summary.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <caf/scoped_actor.hpp>

#include "bus_host.hpp"
#include "commands.hpp"
#include "thread_cpu.hpp"

#include "castor/bus/publisher.hpp"

namespace castor_bus_cli {

using namespace castor::bus;

namespace {

std::string make_message(long index, int size, bool stamp) {
  // One allocation a message: the producer's CPU counts in the bench too.
  std::string m;
  m.reserve(static_cast<size_t>(std::max(size, 48)));
  m += std::to_string(index);
  if (stamp) {
    m += ' ';
    m += std::to_string(
      std::chrono::steady_clock::now().time_since_epoch().count());
  }
  if (static_cast<int>(m.size()) < size)
    m.append(static_cast<size_t>(size) - m.size(), ' ');
  return m;
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

// Messages per publish request.
constexpr long max_batch = 256;

void generate(caf::scoped_actor& self, const caf::actor& pub,
              const pub_options& o) {
  auto start = std::chrono::steady_clock::now();
  long sent = 0;
  while (sent < o.count && !stop_requested()) {
    auto secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
        .count();
    auto due = std::min(o.count, static_cast<long>(secs * o.rate) + 1);
    // At most max_batch a request: a producer held back by the publisher
    // (its backlog full) catches up in bounded steps, not with one batch
    // of everything it fell behind by, which the publisher would take
    // whole. Behind schedule it stays behind: the rate achieved is lower.
    auto behind = due > sent + max_batch;
    due = std::min(due, sent + max_batch);
    if (due > sent) {
      std::vector<std::string> batch;
      batch.reserve(static_cast<size_t>(due - sent));
      for (; sent < due; ++sent)
        batch.push_back(make_message(sent, o.size, o.stamp));
      if (!publish_acked(self, pub, std::move(batch)))
        return;
    }
    if (!behind)
      std::this_thread::sleep_for(std::chrono::microseconds{200});
  }
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
  if (o.count > 0) {
    generate(self, pub, o);
  } else {
    std::string line;
    while (!stop_requested() && std::getline(std::cin, line))
      if (!publish_acked(self, pub, {line}))
        break;
  }
  caf::anon_send(pub, flush_atom::value);
  nap(std::chrono::milliseconds{o.linger_ms});
  int rc = 0;
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
