#include "circolo/engine/campaigns.hpp"

#include <gtest/gtest.h>

using namespace circolo::engine;
using namespace circolo::engine::campaigns;
using namespace std::chrono;

namespace {
const TimePoint kFrom = sys_days{2026y / 12 / 1} - hours(1);  // local midnight in Rome (CET)
const TimePoint kUntil = sys_days{2027y / 1 / 1} - hours(1);
}  // namespace

TEST(CampaignState, ActiveWithinItsPeriod) {
  EXPECT_EQ(state(false, kFrom, kUntil, kFrom), State::active);  // from is included
  EXPECT_EQ(state(false, kFrom, kUntil, kUntil - microseconds(1)), State::active);
  EXPECT_EQ(state(false, std::nullopt, std::nullopt, kFrom), State::active);  // always on
}

TEST(CampaignState, ScheduledBeforeItsStart) {
  EXPECT_EQ(state(false, kFrom, kUntil, kFrom - microseconds(1)), State::scheduled);
  EXPECT_EQ(state(false, kFrom, std::nullopt, kFrom - days(30)), State::scheduled);
}

TEST(CampaignState, EndedFromItsUntilOnEvenWhenPaused) {
  EXPECT_EQ(state(false, kFrom, kUntil, kUntil), State::ended);  // until is excluded
  EXPECT_EQ(state(true, kFrom, kUntil, kUntil + days(1)), State::ended);
  EXPECT_EQ(state(false, std::nullopt, kUntil, kUntil), State::ended);
}

TEST(CampaignState, PausedWinsOverActiveAndScheduled) {
  EXPECT_EQ(state(true, kFrom, kUntil, kFrom + days(1)), State::paused);
  EXPECT_EQ(state(true, kFrom, kUntil, kFrom - days(1)), State::paused);
  EXPECT_EQ(state(true, std::nullopt, std::nullopt, kFrom), State::paused);
}

TEST(CampaignState, Names) {
  EXPECT_EQ(name(State::active), "active");
  EXPECT_EQ(name(State::paused), "paused");
  EXPECT_EQ(name(State::scheduled), "scheduled");
  EXPECT_EQ(name(State::ended), "ended");
}

TEST(BudgetForecast, DaysUntilSpentAtTheRecentRate) {
  EXPECT_EQ(days_until_spent(1000, 700, 7), 10);  // 100 a day
  EXPECT_EQ(days_until_spent(1001, 700, 7), 11);  // rounded up: the last day spends it
  EXPECT_EQ(days_until_spent(50, 700, 7), 1);
  EXPECT_EQ(days_until_spent(0, 700, 7), 0);
  EXPECT_EQ(days_until_spent(-5, 700, 7), 0);
  EXPECT_EQ(days_until_spent(1000, 0, 7), std::nullopt);  // nothing awarded lately: no forecast
  EXPECT_EQ(days_until_spent(9'000'000'000'000, 1, 7), 63'000'000'000'000);
}
