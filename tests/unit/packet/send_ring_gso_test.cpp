// The egress ring's UDP GSO path through a fake kernel that understands
// UDP_SEGMENT: runs to one destination joined into one message, the limits
// of a message, interleaved streams grouped per destination (each one's
// order kept), and per-datagram IP_TTL/IP_TOS marks that travel with their
// datagram and split runs.

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "send_ring_test_support.hpp"
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "castor/packet/send_ring.hpp"
#include "castor/packet/udp_egress.hpp"

using namespace castor::packet;
using castor::packet::test::put;

namespace {

// A kernel that understands UDP_SEGMENT: it records each message as its
// datagrams (the iovecs) and the segment size it was given (0: none), and
// can refuse every joined message with one errno.
struct segmenting_kernel {
  struct message {
    uint16_t port;
    std::size_t datagrams;
    uint16_t gso_size;
    int ttl; // IP_TTL control message; -1: none
    int tos; // IP_TOS control message; -1: none
  };
  std::vector<message> messages;
  std::vector<std::string> payloads;
  int refuse_joined = 0;         // errno for joined messages; 0: accept
  std::size_t budget = SIZE_MAX; // messages before EAGAIN

  static int send(void* ctx, mmsghdr* msgs, unsigned count) {
    auto& k = *static_cast<segmenting_kernel*>(ctx);
    unsigned done = 0;
    for (; done < count; ++done) {
      auto& h = msgs[done].msg_hdr;
      uint16_t gso = 0;
      int ttl = -1;
      int tos = -1;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
           c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == udp_segment_option)
          std::memcpy(&gso, CMSG_DATA(c), sizeof gso);
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL)
          std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
          std::memcpy(&tos, CMSG_DATA(c), sizeof tos);
      }
      if ((gso != 0 && k.refuse_joined != 0) || k.budget == 0)
        break;
      --k.budget;
      auto* dest = static_cast<sockaddr_in*>(h.msg_name);
      k.messages.push_back(
        {ntohs(dest->sin_port), h.msg_iovlen, gso, ttl, tos});
      for (std::size_t i = 0; i < h.msg_iovlen; ++i)
        k.payloads.emplace_back(static_cast<const char*>(h.msg_iov[i].iov_base),
                                h.msg_iov[i].iov_len);
    }
    if (done > 0)
      return static_cast<int>(done);
    errno = k.budget == 0 ? EAGAIN : k.refuse_joined;
    return -1;
  }
};

} // namespace

TEST(send_ring, segmentation_joins_runs_to_one_destination_of_one_size) {
  send_ring r(32, 64, 2);
  r.enable_segmentation(16);
  ASSERT_TRUE(r.segmenting());
  std::vector<std::string> want;
  auto q = [&](uint32_t out, uint16_t port, std::string s) {
    ASSERT_TRUE(put(r, out, port, s));
    want.push_back(std::move(s));
  };
  for (int i = 0; i < 5; ++i)
    q(0, 6000, "aaaa" + std::to_string(i)); // five of 5 bytes
  q(0, 6000, "end");                        // shorter: ends the run
  q(0, 6000, "after");                      // a new run
  q(1, 6001, "other");                      // another destination
  q(1, 6001, "longer one");                 // longer: cannot join
  q(0, 6000, std::string(17, 'x'));         // above the segment limit
  segmenting_kernel k;
  const auto res = r.flush(&segmenting_kernel::send, &k);
  EXPECT_EQ(res.sent, want.size());
  EXPECT_EQ(r.queued(), 0u);
  // Every datagram, each destination's in order; the flush groups by
  // destination, so 6001's two leave after all of 6000's.
  EXPECT_EQ(k.payloads, (std::vector<std::string>{
                          want[0], want[1], want[2], want[3], want[4], want[5],
                          want[6], want[9], want[7], want[8]}));
  ASSERT_EQ(k.messages.size(), 5u);
  EXPECT_EQ(k.messages[0].datagrams, 6u);
  EXPECT_EQ(k.messages[0].gso_size, 5u);
  EXPECT_EQ(k.messages[1].datagrams, 1u); // "after" alone: next is longer
  EXPECT_EQ(k.messages[1].gso_size, 0u);
  EXPECT_EQ(k.messages[2].datagrams, 1u); // above the segment limit
  EXPECT_EQ(k.messages[2].port, 6000u);
  EXPECT_EQ(k.messages[3].datagrams, 1u);
  EXPECT_EQ(k.messages[3].port, 6001u);
  EXPECT_EQ(k.messages[4].datagrams, 1u);
  EXPECT_EQ(r.counters(0).packets, 8u);
  EXPECT_EQ(r.counters(1).packets, 2u);
  EXPECT_EQ(r.counters(1).bytes, 15u);
}

TEST(send_ring, segmentation_respects_segment_count_message_size_and_wrap) {
  send_ring r(8, 64, 1);
  r.enable_segmentation(64, /*max_segments=*/3, /*max_message_bytes=*/1000);
  segmenting_kernel k;
  for (int i = 0; i < 5; ++i)
    put(r, 0, 6000, "x" + std::to_string(i));
  r.flush(&segmenting_kernel::send, &k); // head moves to slot 5
  k.messages.clear();
  // Seven queued from slot 5 wrap after three: runs of 3 | 3, 1.
  for (int i = 5; i < 12; ++i)
    put(r, 0, 6000, "y" + std::to_string(i % 10));
  EXPECT_EQ(r.flush(&segmenting_kernel::send, &k).sent, 7u);
  ASSERT_EQ(k.messages.size(), 3u);
  EXPECT_EQ(k.messages[0].datagrams, 3u);
  EXPECT_EQ(k.messages[1].datagrams, 3u);
  EXPECT_EQ(k.messages[2].datagrams, 1u);

  send_ring small(8, 64, 1);
  small.enable_segmentation(64, 64, /*max_message_bytes=*/25);
  segmenting_kernel k2;
  for (int i = 0; i < 6; ++i)
    put(small, 0, 6000, std::string(10, 'z'));
  EXPECT_EQ(small.flush(&segmenting_kernel::send, &k2).sent, 6u);
  ASSERT_EQ(k2.messages.size(), 3u); // 25 bytes hold two of 10
  EXPECT_EQ(k2.messages[0].datagrams, 2u);
}

// Interleaved streams (a, b, c, a, b, c, ...) queue runs of one: grouped
// by destination before joining, each stream leaves as one segmented
// message, in its own order; the counters stay with their outputs.
TEST(send_ring, interleaved_streams_are_grouped_per_destination) {
  send_ring r(64, 64, 3);
  r.enable_segmentation(64);
  segmenting_kernel k;
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(put(r, i % 3, 6000 + i % 3,
                    "s" + std::to_string(i % 3) + "-" + std::to_string(i / 3)));
  EXPECT_EQ(r.flush(&segmenting_kernel::send, &k).sent, 12u);
  ASSERT_EQ(k.messages.size(), 3u);
  for (uint16_t s = 0; s < 3; ++s) {
    EXPECT_EQ(k.messages[s].port, 6000u + s);
    EXPECT_EQ(k.messages[s].datagrams, 4u);
    EXPECT_EQ(k.messages[s].gso_size, 4u);
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(k.payloads[s * 4 + j],
                "s" + std::to_string(s) + "-" + std::to_string(j));
    EXPECT_EQ(r.counters(s).packets, 4u);
    EXPECT_EQ(r.counters(s).bytes, 16u);
  }

  // Many destinations, queued across the ring's end, with a kernel that
  // takes a few messages and pushes back: nothing is lost or duplicated,
  // and every destination's datagrams leave in their order.
  send_ring w(16, 64, 1);
  w.enable_segmentation(64);
  segmenting_kernel k2;
  for (int i = 0; i < 11; ++i)
    put(w, 0, 7000, "w");
  put(w, 0, 7001, "1:099");
  k2.budget = 1; // the 11 leave joined; then EAGAIN: the head stays at 11
  EXPECT_TRUE(w.flush(&segmenting_kernel::send, &k2).blocked);
  k2.budget = SIZE_MAX;
  k2.messages.clear();
  k2.payloads.clear();
  for (int i = 0; i < 15; ++i)
    ASSERT_TRUE(put(w, 0, 7000 + i % 5,
                    std::to_string(i % 5) + ":" + std::to_string(100 + i)));
  EXPECT_EQ(w.flush(&segmenting_kernel::send, &k2).sent, 16u);
  ASSERT_EQ(k2.payloads.size(), 16u);
  std::vector<int> last(5, -1);
  for (const auto& p : k2.payloads) {
    const int dest = p[0] - '0';
    const int seq = std::stoi(p.substr(2));
    EXPECT_GT(seq, last[dest]) << p;
    last[dest] = seq;
  }
  EXPECT_LT(k2.messages.size(), 16u); // some were joined
}

// The forwarder holds a flush while a full read says more is waiting, but
// only where waiting lets grouping join more: interleaved destinations in
// a segmenting ring with room left.
TEST(send_ring, only_interleaved_segmenting_rings_with_room_are_worth_holding) {
  send_ring plain(16, 64, 1);
  for (int i = 0; i < 4; ++i)
    put(plain, 0, 6000 + i % 2, "x");
  EXPECT_FALSE(plain.worth_holding()); // joins nothing: wait for nothing

  send_ring one(16, 64, 1);
  one.enable_segmentation(64);
  for (int i = 0; i < 4; ++i)
    put(one, 0, 6000, "x");
  EXPECT_FALSE(one.worth_holding()); // one stream is joined already

  send_ring mixed(16, 64, 1);
  mixed.enable_segmentation(64);
  for (int i = 0; i < 4; ++i)
    put(mixed, 0, 6000 + i % 2, "x");
  EXPECT_TRUE(mixed.worth_holding());
  for (int i = 4; i < 16; ++i)
    put(mixed, 0, 6000 + i % 2, "x");
  EXPECT_FALSE(mixed.worth_holding()); // full: it must go
  segmenting_kernel k;
  EXPECT_EQ(mixed.flush(&segmenting_kernel::send, &k).sent, 16u);
  EXPECT_EQ(k.messages.size(), 2u);
  EXPECT_FALSE(mixed.worth_holding()); // empty
}

TEST(send_ring, grouping_keeps_each_destinations_order_across_eagain) {
  send_ring r(32, 64, 3);
  r.enable_segmentation(64, /*max_segments=*/2);
  segmenting_kernel k;
  k.budget = 2; // two messages, then EAGAIN
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(put(r, i % 3, 6000 + i % 3, std::to_string(10 + i)));
  const auto res = r.flush(&segmenting_kernel::send, &k);
  EXPECT_TRUE(res.blocked);
  EXPECT_EQ(res.sent, 4u);
  // More arrive while the rest wait; the next flush sends it all.
  for (int i = 12; i < 18; ++i)
    ASSERT_TRUE(put(r, i % 3, 6000 + i % 3, std::to_string(10 + i)));
  k.budget = SIZE_MAX;
  EXPECT_EQ(r.flush(&segmenting_kernel::send, &k).sent, 14u);
  EXPECT_EQ(r.queued(), 0u);
  ASSERT_EQ(k.payloads.size(), 18u);
  std::vector<std::vector<int>> seen(3);
  for (const auto& p : k.payloads)
    seen[(std::stoi(p) - 10) % 3].push_back(std::stoi(p) - 10);
  for (int s = 0; s < 3; ++s) {
    ASSERT_EQ(seen[s].size(), 6u);
    for (int j = 0; j < 6; ++j)
      EXPECT_EQ(seen[s][j], s + 3 * j);
    EXPECT_EQ(r.counters(s).packets, 6u);
  }
}

TEST(send_ring, a_refused_segmented_message_is_resent_unjoined) {
  send_ring r(16, 64, 1);
  r.enable_segmentation(64);
  segmenting_kernel k;
  k.refuse_joined = EIO; // e.g. no checksum offload on the device
  for (int i = 0; i < 4; ++i)
    put(r, 0, 6000, "d" + std::to_string(i));
  const auto res = r.flush(&segmenting_kernel::send, &k);
  EXPECT_EQ(res.sent, 4u);
  EXPECT_EQ(res.failed, 0u);
  EXPECT_EQ(r.counters(0).send_error, 0u);
  EXPECT_EQ(k.payloads, (std::vector<std::string>{"d0", "d1", "d2", "d3"}));
  EXPECT_FALSE(r.segmenting()); // EIO: segmentation stays off
  for (const auto& m : k.messages)
    EXPECT_EQ(m.gso_size, 0u);

  // A destination error is not the segmentation's fault: it stays on.
  send_ring r2(16, 64, 1);
  r2.enable_segmentation(64);
  segmenting_kernel k2;
  k2.refuse_joined = EHOSTUNREACH;
  for (int i = 0; i < 3; ++i)
    put(r2, 0, 6000, "e" + std::to_string(i));
  EXPECT_EQ(r2.flush(&segmenting_kernel::send, &k2).sent, 3u);
  EXPECT_TRUE(r2.segmenting());
}

namespace {

bool put_marked(send_ring& r, uint16_t port, const std::string& s,
                ip_marks marks) {
  auto dest = make_destination(htonl(0xef020202), port);
  return r.enqueue(0, dest, reinterpret_cast<const uint8_t*>(s.data()),
                   s.size(), marks);
}

} // namespace

// ttl = "decrement" and tos = "preserve": each datagram carries its own
// IP_TTL / IP_TOS control message, written into its slot's preallocated
// buffer; a slot reused without marks carries none.
TEST(send_ring, ip_marks_travel_as_control_messages_per_datagram) {
  send_ring r(4, 64, 1);
  r.enable_ip_marks();
  ASSERT_TRUE(r.marking());
  segmenting_kernel k;
  ASSERT_TRUE(put_marked(r, 6000, "a", {63, 184}));
  ASSERT_TRUE(put_marked(r, 6000, "b", {5, -1}));
  ASSERT_TRUE(put_marked(r, 6000, "c", {-1, 46}));
  ASSERT_TRUE(put_marked(r, 6000, "d", {}));
  EXPECT_EQ(r.flush(&segmenting_kernel::send, &k).sent, 4u);
  // The same slots again, wrapped, with other marks.
  ASSERT_TRUE(put_marked(r, 6000, "e", {}));
  ASSERT_TRUE(put_marked(r, 6000, "f", {1, 0}));
  EXPECT_EQ(r.flush(&segmenting_kernel::send, &k).sent, 2u);
  ASSERT_EQ(k.messages.size(), 6u);
  const std::vector<std::pair<int, int>> want{{63, 184}, {5, -1},  {-1, 46},
                                              {-1, -1},  {-1, -1}, {1, 0}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(k.messages[i].ttl, want[i].first) << i;
    EXPECT_EQ(k.messages[i].tos, want[i].second) << i;
  }
  // A ring without marks sends no control message at all.
  send_ring plain(4, 64, 1);
  EXPECT_FALSE(plain.marking());
  segmenting_kernel k2;
  ASSERT_TRUE(put_marked(plain, 6000, "g", {63, 184}));
  plain.flush(&segmenting_kernel::send, &k2);
  ASSERT_EQ(k2.messages.size(), 1u);
  EXPECT_EQ(k2.messages[0].ttl, -1);
  EXPECT_EQ(k2.messages[0].tos, -1);
}

TEST(send_ring, segmentation_joins_only_datagrams_with_equal_marks) {
  send_ring r(16, 64, 1);
  r.enable_ip_marks();
  r.enable_segmentation(64);
  segmenting_kernel k;
  for (int i = 0; i < 3; ++i)
    put_marked(r, 6000, "x" + std::to_string(i), {10, 184});
  for (int i = 0; i < 2; ++i)
    put_marked(r, 6000, "y" + std::to_string(i), {9, 184});
  EXPECT_EQ(r.flush(&segmenting_kernel::send, &k).sent, 5u);
  ASSERT_EQ(k.messages.size(), 2u);
  EXPECT_EQ(k.messages[0].datagrams, 3u);
  EXPECT_EQ(k.messages[0].gso_size, 2u);
  EXPECT_EQ(k.messages[0].ttl, 10);
  EXPECT_EQ(k.messages[0].tos, 184);
  EXPECT_EQ(k.messages[1].datagrams, 2u);
  EXPECT_EQ(k.messages[1].gso_size, 2u);
  EXPECT_EQ(k.messages[1].ttl, 9);
}

TEST(send_ring, grouping_interleaved_streams_keeps_each_datagrams_marks) {
  // Regrouping moves slots; each datagram's TTL and TOS must move with it
  // (a preserved TOS or decremented TTL belongs to that datagram alone).
  send_ring r(16, 64, 1);
  r.enable_ip_marks();
  r.enable_segmentation(64);
  segmenting_kernel k;
  for (int i = 0; i < 9; ++i)
    ASSERT_TRUE(put_marked(
      r, static_cast<uint16_t>(6000 + i % 3),
      std::to_string(i % 3) + std::to_string(i / 3),
      {static_cast<int16_t>(10 + i % 3), static_cast<int16_t>(4 * (i % 3))}));
  EXPECT_EQ(r.flush(&segmenting_kernel::send, &k).sent, 9u);
  ASSERT_EQ(k.messages.size(), 3u);
  for (const auto& m : k.messages) {
    const int s = m.port - 6000;
    EXPECT_EQ(m.datagrams, 3u);
    EXPECT_EQ(m.ttl, 10 + s) << m.port;
    EXPECT_EQ(m.tos, 4 * s) << m.port;
  }
}
