// Publishing packed messages (message_pack.hpp): the pack itself, and the
// publisher core taking a pack exactly as it takes the same messages one by
// one. The actor's side (a pack as a publish request): bus_actor_test.cpp.

#define CAF_SUITE bus_pack
#include <random>
#include <string>
#include <vector>

#include <caf/test/unit_test.hpp>

#include "castor/bus/message_pack.hpp"
#include "castor/bus/publisher_core.hpp"

using namespace castor::bus;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> contents(const message_pack& p) {
  std::vector<std::string> v;
  p.for_each([&](const uint8_t* data, size_t size) {
    v.emplace_back(reinterpret_cast<const char*>(data), size);
  });
  return v;
}

publisher_config config(size_t max_datagram, duration max_delay) {
  publisher_config pc;
  pc.origin = 42;
  pc.session = 3;
  pc.topic_hash = 0x1234;
  pc.max_datagram = max_datagram;
  pc.max_delay = max_delay;
  return pc;
}

} // namespace

CAF_TEST(a pack keeps its messages in order with their lengths) {
  message_pack p;
  CAF_CHECK(p.empty());
  CAF_CHECK(p.add("alpha"));
  CAF_CHECK(p.add(std::string_view{}));
  auto* m = p.extend(3);
  CAF_REQUIRE(m != nullptr);
  m[0] = 'x', m[1] = 'y', m[2] = 'z';
  CAF_CHECK_EQUAL(p.size(), 3u);
  CAF_CHECK_EQUAL(p.payload_bytes(), 8u);
  CAF_CHECK_EQUAL(p.records_size(), 8u + 3 * message_overhead);
  CAF_CHECK_EQUAL(contents(p), (std::vector<std::string>{"alpha", "", "xyz"}));
  // A message a 16-bit length cannot carry is refused, and the pack is
  // left as it was.
  std::string huge(message_pack::max_record + 1, 'h');
  CAF_CHECK(!p.add(huge));
  CAF_CHECK(p.extend(huge.size()) == nullptr);
  CAF_CHECK_EQUAL(p.size(), 3u);
  CAF_CHECK_EQUAL(p.payload_bytes(), 8u);
  // A pack handed on leaves an empty one behind, ready for the next batch.
  auto q = std::move(p);
  CAF_CHECK_EQUAL(q.size(), 3u);
  CAF_CHECK(p.empty()); // NOLINT(bugprone-use-after-move): it is defined
  CAF_CHECK_EQUAL(p.records_size(), 0u);
  p.add("next");
  CAF_CHECK_EQUAL(contents(p), std::vector<std::string>{"next"});
  q.clear();
  CAF_CHECK(q.empty());
  CAF_CHECK_EQUAL(q.payload_bytes(), 0u);
}

CAF_TEST(
  a pack is published into the same datagrams as its messages one by one) {
  // Sizes around the datagram's room, some longer than a datagram takes:
  // the runs the pack is copied in must end where one-by-one ends them.
  std::mt19937 rng{7};
  std::uniform_int_distribution<size_t> size_of{0, 300};
  for (auto delay : {duration{1ms}, duration::zero()}) {
    CAF_MESSAGE("max_delay " << delay.count() << " ns");
    auto t = time_point{} + 1s;
    publisher_core one{config(400, delay), t};
    publisher_core packed{config(400, delay), t};
    datagrams out_one;
    datagrams out_packed;
    size_t oversize = 0;
    for (int batch = 0; batch < 20; ++batch) {
      message_pack p;
      for (int i = 0; i < 37; ++i) {
        auto size = (i % 13 == 12) ? size_t{380} : size_of(rng);
        oversize += size > one.max_message() ? 1 : 0;
        std::string m(size, static_cast<char>('a' + (i % 26)));
        if (!m.empty())
          m[0] = static_cast<char>(batch);
        p.add(m);
        one.publish(reinterpret_cast<const uint8_t*>(m.data()), m.size(), t,
                    out_one);
      }
      auto taken = packed.publish(p, t, out_packed);
      CAF_CHECK_EQUAL(taken, p.size() - 2); // i = 12 and 25 are too long
      t += 100us;
    }
    one.flush(t, out_one);
    packed.flush(t, out_packed);
    CAF_CHECK_EQUAL(packed.stats().oversize, oversize);
    CAF_CHECK_EQUAL(packed.stats().messages, one.stats().messages);
    CAF_CHECK_EQUAL(packed.stats().datagrams, one.stats().datagrams);
    CAF_CHECK(out_packed == out_one);
    CAF_CHECK(out_one.size() > 40u);
    for (auto& dg : out_packed)
      CAF_CHECK(dg.size() <= 400u);
  }
}

CAF_TEST(a pack fills the open datagram before it seals it) {
  auto t = time_point{} + 1s;
  publisher_core pc{config(100, 1ms), t};
  datagrams out;
  std::string ten(10, 'x');
  CAF_CHECK(
    pc.publish(reinterpret_cast<const uint8_t*>(ten.data()), 10, t, out));
  message_pack p;
  for (int i = 0; i < 8; ++i)
    p.add(ten);
  // 32 header + 12 per message: 5 fit in 100 bytes; the first is open.
  CAF_CHECK_EQUAL(pc.publish(p, t, out), 8u);
  CAF_REQUIRE_EQUAL(out.size(), 1u);
  auto h = decode_header(out[0].data(), out[0].size());
  CAF_REQUIRE(h);
  CAF_CHECK_EQUAL(h->count, 5u);
  CAF_CHECK_EQUAL(out[0].size(), 32u + 5 * 12);
  CAF_CHECK_EQUAL(pc.pending(), 4u);
}
