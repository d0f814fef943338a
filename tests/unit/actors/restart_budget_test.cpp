// The restart budget and backoff on their own, without CAF: OTP's intensity
// and period, and castor's exponential backoff with its cap and reset.

#include "restart_budget.hpp"
#include <gtest/gtest.h>

using namespace std::chrono_literals;
using castor::backoff_spec;
using castor::detail::restart_backoff;
using castor::detail::restart_budget;
using castor::detail::steady_time;

namespace {

const steady_time t0 = steady_time{} + 1h;

backoff_spec backoff(std::chrono::milliseconds initial,
                     std::chrono::milliseconds max) {
  backoff_spec spec;
  spec.initial = initial;
  spec.max = max;
  spec.reset_after = 10s;
  return spec;
}

} // namespace

TEST(restart_budget, allows_intensity_restarts_within_the_period) {
  restart_budget budget{3, 5s};
  EXPECT_TRUE(budget.add_restart(t0));
  EXPECT_TRUE(budget.add_restart(t0 + 1s));
  EXPECT_TRUE(budget.add_restart(t0 + 2s));
  EXPECT_FALSE(budget.add_restart(t0 + 3s));
  EXPECT_EQ(budget.recent(), 4u);
}

TEST(restart_budget, default_otp_flags_give_up_on_the_second_restart) {
  restart_budget budget{1, 5s};
  EXPECT_TRUE(budget.add_restart(t0));
  EXPECT_FALSE(budget.add_restart(t0 + 4999ms));
}

TEST(restart_budget, restarts_a_period_or_more_ago_do_not_count) {
  restart_budget budget{1, 5s};
  EXPECT_TRUE(budget.add_restart(t0));
  // Exactly one period later the first restart has left the window.
  EXPECT_TRUE(budget.add_restart(t0 + 5s));
  EXPECT_EQ(budget.recent(), 1u);
  EXPECT_TRUE(budget.add_restart(t0 + 11s));
  EXPECT_FALSE(budget.add_restart(t0 + 12s));
  EXPECT_EQ(budget.recent(), 2u);
}

TEST(restart_budget, a_delayed_restart_counts_from_when_it_takes_effect) {
  // A backoff of 10 s against a period of 5 s: the first restart takes
  // effect at t0 + 10 s, so a failure right after it is the second restart
  // within the period.
  restart_budget budget{1, 5s};
  EXPECT_TRUE(budget.add_restart(t0, t0 + 10s));
  EXPECT_FALSE(budget.add_restart(t0 + 10s + 1ms, t0 + 20s));
  // A period after it took effect, it no longer counts.
  restart_budget later{1, 5s};
  EXPECT_TRUE(later.add_restart(t0, t0 + 10s));
  EXPECT_TRUE(later.add_restart(t0 + 15s, t0 + 25s));
  EXPECT_EQ(later.recent(), 1u);
}

TEST(restart_budget, intensity_zero_gives_up_at_once) {
  restart_budget budget{0, 5s};
  EXPECT_FALSE(budget.add_restart(t0));
}

TEST(restart_backoff, disabled_backoff_never_delays) {
  restart_backoff b;
  b.started(t0);
  backoff_spec off;
  EXPECT_FALSE(off.enabled());
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(b.next_delay(off, t0 + 1ms), 0ms);
  EXPECT_EQ(b.level(), 0u);
}

TEST(restart_backoff, doubles_up_to_the_cap) {
  restart_backoff b;
  auto spec = backoff(100ms, 300ms);
  b.started(t0);
  EXPECT_EQ(b.next_delay(spec, t0 + 1ms), 100ms);
  b.started(t0 + 101ms);
  EXPECT_EQ(b.next_delay(spec, t0 + 102ms), 200ms);
  b.started(t0 + 302ms);
  EXPECT_EQ(b.next_delay(spec, t0 + 303ms), 300ms);
  b.started(t0 + 603ms);
  EXPECT_EQ(b.next_delay(spec, t0 + 604ms), 300ms);
  EXPECT_EQ(b.level(), 4u);
}

TEST(restart_backoff, a_cap_below_initial_means_initial) {
  restart_backoff b;
  auto spec = backoff(100ms, 10ms);
  b.started(t0);
  EXPECT_EQ(b.next_delay(spec, t0), 100ms);
  EXPECT_EQ(b.next_delay(spec, t0), 100ms);
}

TEST(restart_backoff, follows_the_multiplier) {
  restart_backoff b;
  auto spec = backoff(10ms, 10s);
  spec.multiplier = 3.0;
  b.started(t0);
  EXPECT_EQ(b.next_delay(spec, t0), 10ms);
  EXPECT_EQ(b.next_delay(spec, t0), 30ms);
  EXPECT_EQ(b.next_delay(spec, t0), 90ms);
}

TEST(restart_backoff, resets_after_a_long_enough_run) {
  restart_backoff b;
  auto spec = backoff(100ms, 1s);
  b.started(t0);
  EXPECT_EQ(b.next_delay(spec, t0 + 1ms), 100ms);
  EXPECT_EQ(b.next_delay(spec, t0 + 2ms), 200ms);
  b.started(t0 + 1s);
  // Ran for exactly reset_after: fresh again.
  EXPECT_EQ(b.next_delay(spec, t0 + 11s), 100ms);
  EXPECT_EQ(b.level(), 1u);
}

TEST(restart_backoff, a_child_never_started_counts_as_fresh) {
  restart_backoff b;
  auto spec = backoff(50ms, 1s);
  EXPECT_EQ(b.next_delay(spec, t0), 50ms);
}
