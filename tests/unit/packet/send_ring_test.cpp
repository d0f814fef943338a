// The egress ring through a fake sendmmsg: batching, order, copying,
// queue_full/too_big accounting, EAGAIN leaving datagrams queued, a
// failing datagram dropped alone. UDP GSO joining, grouping by destination
// and per-datagram marks are in send_ring_gso_test.cpp.

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

// Records what it "sends"; can be told to accept only so many messages,
// then report EAGAIN, or to fail every message to one port.
struct fake_kernel {
  std::vector<unsigned> calls;       // batch size of each call
  std::vector<std::string> payloads; // in send order
  std::vector<uint16_t> ports;
  std::size_t budget = SIZE_MAX; // messages before EAGAIN
  uint16_t refused_port = 0;     // 0: none
  int refused_errno = EHOSTUNREACH;
  std::size_t short_after = 0; // return a short count (no error)
  int pending_errno = 0;       // fail the next call once (a pending sk_err)

  static int send(void* ctx, mmsghdr* msgs, unsigned count) {
    auto& k = *static_cast<fake_kernel*>(ctx);
    k.calls.push_back(count);
    if (k.pending_errno != 0) {
      errno = k.pending_errno;
      k.pending_errno = 0;
      return -1;
    }
    unsigned done = 0;
    for (; done < count; ++done) {
      if (k.budget == 0)
        break;
      auto* dest = static_cast<sockaddr_in*>(msgs[done].msg_hdr.msg_name);
      if (ntohs(dest->sin_port) == k.refused_port)
        break;
      if (k.short_after && done == k.short_after)
        break;
      const auto& iov = msgs[done].msg_hdr.msg_iov[0];
      k.payloads.emplace_back(static_cast<const char*>(iov.iov_base),
                              iov.iov_len);
      k.ports.push_back(ntohs(dest->sin_port));
      msgs[done].msg_len = static_cast<unsigned>(iov.iov_len);
      --k.budget;
    }
    if (done > 0)
      return static_cast<int>(done);
    if (k.budget == 0) {
      errno = EAGAIN;
      return -1;
    }
    errno = k.refused_errno;
    return -1;
  }
};

} // namespace

TEST(send_ring, flush_sends_in_order_in_bounded_batches) {
  send_ring r(16, 64, 2, /*max_batch=*/4);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(put(r, i % 2, 6000, "p" + std::to_string(i)));
  EXPECT_EQ(r.queued(), 10u);
  fake_kernel k;
  auto res = r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(res.sent, 10u);
  EXPECT_EQ(res.failed, 0u);
  EXPECT_FALSE(res.blocked);
  EXPECT_EQ(k.calls, (std::vector<unsigned>{4, 4, 2}));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(k.payloads[i], "p" + std::to_string(i));
  EXPECT_EQ(r.queued(), 0u);
  EXPECT_EQ(r.counters(0).packets, 5u);
  EXPECT_EQ(r.counters(1).packets, 5u);
  EXPECT_EQ(r.counters(0).bytes, 10u); // "p0" "p2" ... two bytes each
}

TEST(send_ring, payload_is_copied_at_enqueue) {
  send_ring r(4, 64, 1);
  std::string s = "original";
  ASSERT_TRUE(put(r, 0, 6000, s));
  s.assign("CHANGED!");
  fake_kernel k;
  r.flush(&fake_kernel::send, &k);
  ASSERT_EQ(k.payloads.size(), 1u);
  EXPECT_EQ(k.payloads[0], "original");
}

TEST(send_ring, full_ring_drops_and_counts_queue_full_per_output) {
  send_ring r(4, 64, 3);
  EXPECT_TRUE(put(r, 0, 6000, "a"));
  EXPECT_TRUE(put(r, 0, 6000, "b"));
  EXPECT_TRUE(put(r, 1, 6001, "c"));
  EXPECT_TRUE(put(r, 2, 6002, "d"));
  EXPECT_FALSE(put(r, 1, 6001, "e"));
  EXPECT_FALSE(put(r, 1, 6001, "f"));
  EXPECT_FALSE(put(r, 2, 6002, "g"));
  EXPECT_EQ(r.counters(0).queue_full, 0u);
  EXPECT_EQ(r.counters(1).queue_full, 2u);
  EXPECT_EQ(r.counters(2).queue_full, 1u);
  EXPECT_EQ(r.queued(), 4u);
  fake_kernel k;
  EXPECT_EQ(r.flush(&fake_kernel::send, &k).sent, 4u);
  EXPECT_EQ(k.payloads, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_TRUE(put(r, 1, 6001, "h")); // room again
}

// Issue 15: a read fanned out to many outputs of one interface used to
// overflow the ring (queue_full) while the kernel was never full. Given a
// sender, a full ring is flushed and the datagram queued.
TEST(send_ring, a_full_ring_is_flushed_through_the_sender_not_dropped) {
  send_ring r(4, 64, 50);
  fake_kernel k;
  auto dest = make_destination(htonl(0xef020202), 6000);
  for (int i = 0; i < 50; ++i) {
    const std::string s = "d" + std::to_string(i);
    EXPECT_TRUE(r.enqueue(static_cast<uint32_t>(i), dest,
                          reinterpret_cast<const uint8_t*>(s.data()), s.size(),
                          &fake_kernel::send, &k));
  }
  // 48 left in twelve flushes of a full ring; two are still queued.
  EXPECT_EQ(k.payloads.size(), 48u);
  EXPECT_EQ(k.calls, std::vector<unsigned>(12, 4));
  EXPECT_EQ(r.queued(), 2u);
  r.flush(&fake_kernel::send, &k);
  ASSERT_EQ(k.payloads.size(), 50u);
  for (uint32_t i = 0; i < 50; ++i) {
    EXPECT_EQ(k.payloads[i], "d" + std::to_string(i));
    EXPECT_EQ(r.counters(i).packets, 1u);
    EXPECT_EQ(r.counters(i).queue_full, 0u);
  }
}

// queue_full is kept for real back-pressure: the flush of a full ring met
// EAGAIN. Until the next explicit flush, a full ring then drops without
// asking the kernel again (one system call per flush, not per datagram).
TEST(send_ring, queue_full_only_when_the_kernel_pushes_back) {
  send_ring r(2, 64, 1);
  fake_kernel k;
  k.budget = 0; // every send: EAGAIN
  auto dest = make_destination(htonl(0xef020202), 6000);
  const uint8_t byte = 'x';
  EXPECT_TRUE(r.enqueue(0, dest, &byte, 1, &fake_kernel::send, &k));
  EXPECT_TRUE(r.enqueue(0, dest, &byte, 1, &fake_kernel::send, &k));
  EXPECT_FALSE(r.enqueue(0, dest, &byte, 1, &fake_kernel::send, &k));
  EXPECT_TRUE(r.blocked());
  EXPECT_FALSE(r.enqueue(0, dest, &byte, 1, &fake_kernel::send, &k));
  EXPECT_EQ(k.calls.size(), 1u);
  EXPECT_EQ(r.counters(0).queue_full, 2u);
  // Writable again: the explicit flush empties it and clears the state.
  k.budget = SIZE_MAX;
  EXPECT_EQ(r.flush(&fake_kernel::send, &k).sent, 2u);
  EXPECT_FALSE(r.blocked());
  EXPECT_TRUE(r.enqueue(0, dest, &byte, 1, &fake_kernel::send, &k));
}

// Any number of outputs may share one ring (10,000 channels on one
// interface): the counters grow when an output is set up.
TEST(send_ring, reserve_outputs_makes_room_for_more_counters) {
  send_ring r(4, 64, 2);
  EXPECT_FALSE(put(r, 300, 6000, "x")); // no counters for it yet
  r.reserve_outputs(301);
  EXPECT_EQ(r.max_outputs(), 301u);
  EXPECT_TRUE(put(r, 300, 6000, "x"));
  fake_kernel k;
  r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(r.counters(300).packets, 1u);
  r.reserve_outputs(10); // never shrinks
  EXPECT_EQ(r.max_outputs(), 301u);
}

TEST(send_ring, oversize_payload_and_bad_output_are_refused) {
  send_ring r(4, 8, 2);
  EXPECT_TRUE(put(r, 0, 6000, std::string(8, 'x')));
  EXPECT_FALSE(put(r, 0, 6000, std::string(9, 'x')));
  EXPECT_EQ(r.counters(0).too_big, 1u);
  EXPECT_FALSE(put(r, 2, 6000, "x")); // no such output
  EXPECT_EQ(r.queued(), 1u);
  EXPECT_EQ(r.counters(0).queue_full + r.counters(1).queue_full, 0u);
}

TEST(send_ring, eagain_leaves_the_rest_queued_in_order) {
  send_ring r(8, 64, 1);
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(put(r, 0, 6000, std::to_string(i)));
  fake_kernel k;
  k.budget = 2;
  auto res = r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(res.sent, 2u);
  EXPECT_TRUE(res.blocked);
  EXPECT_EQ(r.queued(), 4u);
  EXPECT_EQ(r.counters(0).send_error, 0u); // EAGAIN is not an error
  k.budget = SIZE_MAX;
  res = r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(res.sent, 4u);
  EXPECT_FALSE(res.blocked);
  EXPECT_EQ(k.payloads,
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5"}));
}

TEST(send_ring, a_refused_datagram_is_dropped_alone) {
  // Output 1 (port 7000) is unreachable; outputs 0 and 2 must not suffer.
  send_ring r(16, 64, 3);
  for (int i = 0; i < 3; ++i) {
    put(r, 0, 6000, "a" + std::to_string(i));
    put(r, 1, 7000, "b" + std::to_string(i));
    put(r, 2, 8000, "c" + std::to_string(i));
  }
  fake_kernel k;
  k.refused_port = 7000;
  auto res = r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(res.sent, 6u);
  EXPECT_EQ(res.failed, 3u);
  EXPECT_FALSE(res.blocked);
  EXPECT_EQ(r.queued(), 0u);
  EXPECT_EQ(r.counters(1).send_error, 3u);
  EXPECT_EQ(r.counters(1).last_error, EHOSTUNREACH);
  EXPECT_EQ(r.counters(1).packets, 0u);
  EXPECT_EQ(r.counters(0).packets, 3u);
  EXPECT_EQ(r.counters(2).packets, 3u);
  EXPECT_EQ(k.payloads,
            (std::vector<std::string>{"a0", "c0", "a1", "c1", "a2", "c2"}));
}

TEST(send_ring, over_the_mtu_and_qdisc_drops_count_by_reason) {
  // EMSGSIZE: larger than the output's MTU (udp_egress never fragments),
  // too_big. ENOBUFS: the queue discipline or device dropped it after the
  // send (reported with IP_RECVERR), qdisc_drop. That datagram only, and
  // neither is a send_error.
  for (int err : {EMSGSIZE, ENOBUFS}) {
    send_ring r(16, 64, 2);
    put(r, 0, 6000, "fits");
    put(r, 1, 7000, "refused");
    put(r, 0, 6000, "fits too");
    fake_kernel k;
    k.refused_port = 7000;
    k.refused_errno = err;
    auto res = r.flush(&fake_kernel::send, &k);
    EXPECT_EQ(res.sent, 2u);
    EXPECT_EQ(res.failed, 1u);
    EXPECT_EQ(r.counters(1).too_big, err == EMSGSIZE ? 1u : 0u);
    EXPECT_EQ(r.counters(1).qdisc_drop, err == ENOBUFS ? 1u : 0u);
    EXPECT_EQ(r.counters(1).send_error, 0u);
    EXPECT_EQ(r.counters(0).packets, 2u);
  }
}

TEST(send_ring, a_pending_icmp_error_does_not_drop_the_next_datagram) {
  // A unicast output's ICMP error is left on the socket (IP_RECVERR) and
  // fails the next send, whatever its output: sent once more, not lost.
  send_ring r(16, 64, 2);
  put(r, 0, 6000, "innocent");
  put(r, 1, 7000, "after");
  fake_kernel k;
  k.pending_errno = ECONNREFUSED;
  auto res = r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(res.sent, 2u);
  EXPECT_EQ(res.failed, 0u);
  EXPECT_EQ(r.counters(0).packets, 1u);
  EXPECT_EQ(r.counters(0).send_error, 0u);
  EXPECT_EQ(k.payloads, (std::vector<std::string>{"innocent", "after"}));
  // A destination that is refused every time is dropped after one retry.
  put(r, 1, 7000, "unreachable");
  k.refused_port = 7000;
  k.refused_errno = EHOSTUNREACH;
  res = r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(res.failed, 1u);
  EXPECT_EQ(r.counters(1).send_error, 1u);
}

TEST(send_ring, short_counts_and_wraparound_keep_order) {
  send_ring r(8, 64, 1);
  fake_kernel k;
  for (int i = 0; i < 6; ++i)
    put(r, 0, 6000, std::to_string(i));
  k.budget = 4; // EAGAIN after four: two stay queued, the head at slot 4
  EXPECT_TRUE(r.flush(&fake_kernel::send, &k).blocked);
  // The next six wrap around the end of the ring (slots 6, 7, 0..3), so
  // the flush needs two contiguous runs (4 then 4).
  k.calls.clear();
  for (int i = 6; i < 12; ++i)
    put(r, 0, 6000, std::to_string(i));
  k.budget = SIZE_MAX;
  k.short_after = 1; // the kernel takes one message per call
  auto res = r.flush(&fake_kernel::send, &k);
  EXPECT_EQ(res.sent, 8u);
  EXPECT_EQ(k.calls, (std::vector<unsigned>{4, 3, 2, 1, 4, 3, 2, 1}));
  std::vector<std::string> want;
  for (int i = 0; i < 12; ++i)
    want.push_back(std::to_string(i));
  EXPECT_EQ(k.payloads, want);
}

// An empty ring starts over at its first slot, so that what is queued
// next is one contiguous run (one sendmmsg, not two around the end).
TEST(send_ring, an_emptied_ring_sends_its_next_datagrams_in_one_call) {
  send_ring r(8, 64, 1);
  fake_kernel k;
  for (int i = 0; i < 6; ++i)
    put(r, 0, 6000, std::to_string(i));
  r.flush(&fake_kernel::send, &k);
  k.calls.clear();
  for (int i = 6; i < 12; ++i)
    put(r, 0, 6000, std::to_string(i));
  EXPECT_EQ(r.flush(&fake_kernel::send, &k).sent, 6u);
  EXPECT_EQ(k.calls, (std::vector<unsigned>{6}));
}

// Slots and payload bytes are sized apart: the ring is full at whichever
// runs out first, and the bytes are free again once it has emptied.
TEST(send_ring, small_datagrams_take_slots_and_large_ones_take_bytes) {
  send_ring r(64, 256, 1, 256, 1024); // 64 slots, 4 x 256 bytes
  fake_kernel k;
  const std::string large(256, 'L');
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(put(r, 0, 6000, large));
  EXPECT_FALSE(put(r, 0, 6000, large)); // the bytes are full
  EXPECT_FALSE(put(r, 0, 6000, "s"));   // and a small one needs room too
  EXPECT_EQ(r.counters(0).queue_full, 2u);
  EXPECT_EQ(r.flush(&fake_kernel::send, &k).sent, 4u);
  // Empty, the arena starts over: 64 small datagrams fit (16 bytes each
  // with alignment), which as slots of 256 bytes would take 16 KiB.
  for (int i = 0; i < 64; ++i)
    EXPECT_TRUE(put(r, 0, 6000, std::to_string(i % 10)));
  EXPECT_FALSE(put(r, 0, 6000, "x")); // the slots are full
  EXPECT_EQ(r.flush(&fake_kernel::send, &k).sent, 64u);
  EXPECT_EQ(k.payloads.back(), "3");
}

// A full arena flushes through the sender like a full slot table.
TEST(send_ring, a_full_arena_is_flushed_before_it_drops) {
  send_ring r(64, 256, 1, 256, 512);
  fake_kernel k;
  const std::string large(200, 'L');
  const auto dest = make_destination(htonl(0xef020202), 6000);
  const auto* p = reinterpret_cast<const uint8_t*>(large.data());
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(r.enqueue(0, dest, p, large.size(), &fake_kernel::send, &k));
  EXPECT_EQ(r.counters(0).queue_full, 0u);
  EXPECT_EQ(r.counters(0).packets, 4u); // two flushes of two
  EXPECT_EQ(r.queued(), 1u);
}

TEST(send_ring, reset_counters_zeroes_one_output) {
  send_ring r(1, 8, 2);
  put(r, 0, 1, "x");
  put(r, 0, 1, "y");
  put(r, 1, 1, "z");
  EXPECT_EQ(r.counters(0).queue_full, 1u);
  r.reset_counters(0);
  EXPECT_EQ(r.counters(0).queue_full, 0u);
  EXPECT_EQ(r.counters(1).queue_full, 1u);
}

// Thousands of rules may share one output interface: the counters grow,
// and those already counted stay.
TEST(send_ring, more_outputs_keep_the_counters_already_counted) {
  send_ring r(1, 8, 2);
  put(r, 1, 1, "x");
  put(r, 1, 1, "y");
  EXPECT_FALSE(put(r, 5, 1, "z")); // beyond max_outputs: refused
  r.reserve_outputs(1000);
  EXPECT_EQ(r.max_outputs(), 1000u);
  EXPECT_EQ(r.counters(1).queue_full, 1u);
  EXPECT_FALSE(put(r, 999, 1, "w")); // the ring is full: counted now
  EXPECT_EQ(r.counters(999).queue_full, 1u);
  r.reserve_outputs(10); // never shrinks
  EXPECT_EQ(r.max_outputs(), 1000u);
}
