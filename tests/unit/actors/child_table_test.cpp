// The supervisor's child table on its own, without CAF: start and stop
// order, stable keys, lookups by id and by process, and the key lists the
// restart strategies use.

#include <string>
#include <vector>

#include "child_table.hpp"
#include <gtest/gtest.h>

using castor::detail::child_state;
using castor::detail::to_cstr;

namespace {

// A stand-in for caf::actor: pid 0 is "no process".
struct fake_handle {
  int pid = 0;
  explicit operator bool() const noexcept { return pid != 0; }
  int address() const noexcept { return pid; }
};

struct payload {
  std::string note;
};

using table = castor::detail::child_table<payload, fake_handle>;
using keys = std::vector<uint64_t>;

payload note(std::string x) {
  return payload{std::move(x)};
}

// A table with children a, b, c, d (keys 1 to 4).
table abcd() {
  table t;
  for (auto id : {"a", "b", "c", "d"})
    t.add(id, note(std::string{"spec "} + id));
  return t;
}

std::vector<std::string> ids(const table& t) {
  std::vector<std::string> out;
  for (auto& rec : t)
    out.push_back(rec.id);
  return out;
}

} // namespace

TEST(child_table, keeps_start_order_and_stops_in_reverse) {
  auto t = abcd();
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(ids(t), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(t.keys(), (keys{1, 2, 3, 4}));
  EXPECT_EQ(t.stop_order(), (keys{4, 3, 2, 1}));
}

TEST(child_table, new_records_are_stopped_and_carry_their_payload) {
  table t;
  auto& rec = t.add("a", note("x"));
  EXPECT_EQ(rec.key, 1u);
  EXPECT_EQ(rec.id, "a");
  EXPECT_EQ(rec.note, "x");
  EXPECT_EQ(rec.state, child_state::stopped);
  EXPECT_EQ(rec.restarts, 0u);
  EXPECT_FALSE(rec.handle());
  EXPECT_FALSE(rec.exited);
  EXPECT_EQ(t.next_key(), 2u);
}

TEST(child_table, keys_stay_stable_when_records_are_erased) {
  auto t = abcd();
  t.erase(2);
  EXPECT_EQ(t.keys(), (keys{1, 3, 4}));
  EXPECT_EQ(t.find(2), nullptr);
  ASSERT_NE(t.find(3), nullptr);
  EXPECT_EQ(t.find(3)->id, "c");
  // Keys are never reused: a new child goes last with a fresh key.
  auto& e = t.add("e", note("e"));
  EXPECT_EQ(e.key, 5u);
  EXPECT_EQ(t.keys(), (keys{1, 3, 4, 5}));
  t.erase(42); // unknown: no-op
  EXPECT_EQ(t.size(), 4u);
}

TEST(child_table, finds_by_id_and_names_unknown_keys) {
  auto t = abcd();
  ASSERT_NE(t.find_by_id("c"), nullptr);
  EXPECT_EQ(t.find_by_id("c")->key, 3u);
  EXPECT_EQ(t.find_by_id("z"), nullptr);
  EXPECT_EQ(t.id_of(4), "d");
  EXPECT_EQ(t.id_of(99), "?");
  const auto& ct = t;
  ASSERT_NE(ct.find(1), nullptr);
  EXPECT_EQ(ct.find(1)->note, "spec a");
}

TEST(child_table, finds_only_the_current_process_of_a_child) {
  auto t = abcd();
  EXPECT_EQ(t.find_by_address(7), nullptr);
  t.set_handle(*t.find(2), fake_handle{7});
  ASSERT_NE(t.find_by_address(7), nullptr);
  EXPECT_EQ(t.find_by_address(7)->id, "b");
  EXPECT_EQ(t.find(2)->handle().pid, 7);
  // A restart replaces the process: the old address no longer resolves.
  t.set_handle(*t.find(2), fake_handle{8});
  EXPECT_EQ(t.find_by_address(7), nullptr);
  EXPECT_EQ(t.find_by_address(8)->id, "b");
  t.clear_handle(*t.find(2));
  EXPECT_EQ(t.find_by_address(8), nullptr);
  EXPECT_FALSE(t.find(2)->handle());
  // "No process" never resolves.
  EXPECT_EQ(t.find_by_address(0), nullptr);
}

TEST(child_table, erasing_a_child_forgets_its_process) {
  auto t = abcd();
  t.set_handle(*t.find(3), fake_handle{9});
  t.erase(3);
  EXPECT_EQ(t.find_by_address(9), nullptr);
  // The address may come back for another child.
  t.set_handle(*t.find(4), fake_handle{9});
  EXPECT_EQ(t.find_by_address(9)->id, "d");
}

TEST(child_table, id_read_before_erase_outlives_the_record) {
  // The supervisor's failed start_child reports the id of a record it has
  // just erased; it must read the id first (it once read it after).
  table t;
  auto key = t.add(std::string(64, 'x'), note("long id")).key;
  auto id = t.id_of(key);
  t.erase(key);
  EXPECT_EQ(id, std::string(64, 'x'));
  EXPECT_TRUE(t.empty());
}

TEST(child_table, key_lists_for_the_restart_strategies) {
  auto t = abcd();
  // one_for_all: everyone but the failed child goes down.
  EXPECT_EQ(t.keys_except(2), (keys{1, 3, 4}));
  // rest_for_one: the children after it go down, it and they come back.
  EXPECT_EQ(t.keys_after(2), (keys{3, 4}));
  EXPECT_EQ(t.keys_from(2), (keys{2, 3, 4}));
  EXPECT_EQ(t.keys_after(4), keys{});
  EXPECT_EQ(t.keys_from(4), keys{4});
  EXPECT_EQ(t.keys_from(77), keys{});
  EXPECT_EQ(t.keys_after(77), keys{});
  t.erase(3);
  EXPECT_EQ(t.keys_from(2), (keys{2, 4}));
}

TEST(child_table, dynamic_children_take_their_name_from_the_next_key) {
  // simple_one_for_one names child n "<template>#<key>".
  table t;
  for (int i = 0; i < 3; ++i) {
    auto id = "worker#" + std::to_string(t.next_key());
    t.add(id, note("dyn"));
  }
  EXPECT_EQ(ids(t),
            (std::vector<std::string>{"worker#1", "worker#2", "worker#3"}));
  t.erase(2);
  t.add("worker#" + std::to_string(t.next_key()), note("dyn"));
  EXPECT_EQ(t.find_by_id("worker#4")->key, 4u);
}

TEST(child_table, many_children_are_found_by_key_and_process) {
  table t;
  constexpr int n = 10000;
  for (int i = 1; i <= n; ++i)
    t.set_handle(t.add("c" + std::to_string(i), note("")), fake_handle{i});
  for (uint64_t k = 1; k <= n; k += 997)
    EXPECT_EQ(t.find(k)->key, k);
  for (int pid = 1; pid <= n; pid += 991)
    EXPECT_EQ(t.find_by_address(pid)->id, "c" + std::to_string(pid));
  for (uint64_t k = 2; k <= n; k += 100)
    t.erase(k);
  EXPECT_EQ(t.size(), static_cast<size_t>(n - n / 100));
  EXPECT_EQ(t.find_by_address(2), nullptr);
  EXPECT_EQ(t.find_by_address(3)->key, 3u);
}

TEST(child_table, states_have_names) {
  EXPECT_STREQ(to_cstr(child_state::stopped), "stopped");
  EXPECT_STREQ(to_cstr(child_state::starting), "starting");
  EXPECT_STREQ(to_cstr(child_state::running), "running");
  EXPECT_STREQ(to_cstr(child_state::stopping), "stopping");
  EXPECT_STREQ(to_cstr(child_state::restarting), "restarting");
}
