#include "circolo/engine/challenges.hpp"

#include <date/tz.h>
#include <gtest/gtest.h>

using namespace circolo::engine;
using namespace circolo::engine::challenges;
using namespace std::chrono;

namespace {

// Local calendar days and Monday weeks in Europe/Rome (daylight saving included).
std::int64_t rome_day(TimePoint t) {
  static const auto* zone = date::locate_zone("Europe/Rome");
  const auto local = zone->to_local(t);
  return date::floor<date::days>(local).time_since_epoch().count();
}
std::int64_t rome_week(TimePoint t) {
  // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
  const auto day = rome_day(t) + 3;
  return day >= 0 ? day / 7 : (day - 6) / 7;
}

// A local time in Rome.
TimePoint rome(int y, unsigned m, unsigned d, int h, int min = 0) {
  static const auto* zone = date::locate_zone("Europe/Rome");
  const auto local = date::local_days{date::year{y} / m / d} + hours{h} + minutes{min};
  return date::floor<microseconds>(zone->to_sys(local, date::choose::earliest));
}

Contribution at(TimePoint t, std::int64_t amount = 1, std::string key = "",
                std::string event = "") {
  return {t, amount, std::move(key), std::move(event)};
}

}  // namespace

TEST(Challenges, CountSumAndDistinctWithinTheWindow) {
  const auto now = rome(2026, 12, 20, 12);
  const auto start = rome(2026, 11, 20, 12);  // within 30 days
  const std::vector<Contribution> cs{
      at(rome(2026, 11, 20, 11, 59), 1000, "store", "old"), at(start, 2000, "store", "a"),
      at(rome(2026, 12, 1, 9), 500, "web", "b"), at(rome(2026, 12, 20, 12), 700, "app", "c"),
      at(rome(2026, 12, 20, 12, 1), 900, "app", "future")};
  // Counting: an event counts 1, explicit progress `by N` counts N.
  std::vector<Contribution> ones = cs;
  for (auto& c : ones) c.amount = 1;
  EXPECT_EQ(evaluate({GoalKind::count, 3}, ones, start, now, rome_day).value, 3);
  EXPECT_TRUE(evaluate({GoalKind::count, 3}, ones, start, now, rome_day).completed);
  EXPECT_EQ(evaluate({GoalKind::count, 4}, ones, std::nullopt, now, rome_day).value, 4);
  ones[1].amount = 5;
  EXPECT_EQ(evaluate({GoalKind::count, 9}, ones, start, now, rome_day).value, 7);
  ones[1].amount = INT64_MAX;
  EXPECT_EQ(evaluate({GoalKind::count, 9}, ones, start, now, rome_day).value, INT64_MAX)
      << "saturates, never wraps";
  EXPECT_EQ(evaluate({GoalKind::sum, 5000}, cs, start, now, rome_day).value, 3200);
  EXPECT_FALSE(evaluate({GoalKind::sum, 5000}, cs, start, now, rome_day).completed);
  EXPECT_EQ(evaluate({GoalKind::distinct, 3}, cs, start, now, rome_day).value, 3);
}

TEST(Challenges, ALateEventCountsInTheWindowItBelongsTo) {
  const auto now = rome(2026, 12, 20, 12);
  std::vector<Contribution> cs{at(rome(2026, 12, 19, 10), 1, "store", "a")};
  // An offline POS sends a purchase made before the window: it does not count...
  cs.push_back(at(rome(2026, 11, 1, 10), 1, "web", "late-old"));
  // ...one made inside it does, whenever it arrives.
  cs.push_back(at(rome(2026, 12, 2, 10), 1, "app", "late-new"));
  EXPECT_EQ(evaluate({GoalKind::distinct, 3}, cs, rome(2026, 11, 20, 12), now, rome_day).value, 2);
}

TEST(Challenges, ARefundTakesItsPurchaseBack) {
  const auto now = rome(2026, 12, 20, 12);
  const std::vector<Contribution> cs{at(rome(2026, 12, 1, 9), 1, "store", "p1"),
                                     at(rome(2026, 12, 2, 9), 1, "web", "p2"),
                                     at(rome(2026, 12, 3, 9), 1, "app", "p3")};
  EXPECT_TRUE(evaluate({GoalKind::distinct, 3}, cs, std::nullopt, now, rome_day).completed);
  const auto left = without(cs, "p2");
  EXPECT_EQ(left.size(), 2u);
  EXPECT_EQ(evaluate({GoalKind::distinct, 3}, left, std::nullopt, now, rome_day).value, 2);
}

TEST(Challenges, APartialRefundScalesWhatItsPurchaseAdded) {
  const auto now = rome(2026, 12, 20, 12);
  const std::vector<Contribution> cs{at(rome(2026, 12, 1, 9), 6000, "", "p1"),
                                     at(rome(2026, 12, 2, 9), 3333, "", "p2")};
  // A quarter of p1 refunded: 6000 * 4500 / 6000 of it stays; p2 is untouched.
  const auto left = scaled(cs, "p1", 4500, 6000);
  EXPECT_EQ(left[0].amount, 4500);
  EXPECT_EQ(left[1].amount, 3333);
  EXPECT_EQ(evaluate({GoalKind::sum, 10000}, left, std::nullopt, now, rome_day).value, 7833);
  // Rounded down; large amounts do not overflow on the way.
  EXPECT_EQ(scaled(cs, "p2", 1, 3)[1].amount, 1111);
  const std::vector<Contribution> huge{at(rome(2026, 12, 1, 9), INT64_MAX, "", "p")};
  EXPECT_EQ(scaled(huge, "p", 1, 2)[0].amount, INT64_MAX / 2);
  EXPECT_THROW(scaled(cs, "p1", 7, 6), std::invalid_argument);
  EXPECT_THROW(scaled(cs, "p1", 1, 0), std::invalid_argument);
}

TEST(Challenges, DailyStreaksAcrossTheSpringDaylightSavingChange) {
  // 2027-03-28: Rome goes from 02:00 to 03:00; that day has 23 hours.
  const std::vector<Contribution> cs{at(rome(2027, 3, 27, 23, 30)), at(rome(2027, 3, 28, 0, 30)),
                                     at(rome(2027, 3, 28, 23, 30)), at(rome(2027, 3, 29, 0, 15))};
  EXPECT_EQ(
      evaluate({GoalKind::streak, 3}, cs, std::nullopt, rome(2027, 3, 29, 12), rome_day).value, 3);
  // The day after, nothing yet: the streak stands while that day is open...
  EXPECT_EQ(
      evaluate({GoalKind::streak, 3}, cs, std::nullopt, rome(2027, 3, 30, 23, 59), rome_day).value,
      3);
  // ...and a whole missed day resets it.
  EXPECT_EQ(
      evaluate({GoalKind::streak, 3}, cs, std::nullopt, rome(2027, 3, 31, 0, 0), rome_day).value,
      0);
}

TEST(Challenges, WeeklyStreaksCountCalendarWeeksAcrossTheAutumnChange) {
  // 2026-10-25: Rome goes back from 03:00 to 02:00 (a 25-hour Sunday), the end of a week.
  std::vector<Contribution> cs{
      at(rome(2026, 10, 12, 9)),       // the week of Monday 12 October
      at(rome(2026, 10, 25, 23, 30)),  // the long Sunday: the week of 19 October
      at(rome(2026, 10, 26, 0, 30)),   // Monday just after: the week of 26 October
  };
  EXPECT_EQ(rome_week(rome(2026, 10, 25, 23, 30)) + 1, rome_week(rome(2026, 10, 26, 0, 30)));
  EXPECT_EQ(rome_week(rome(2026, 10, 19, 0, 0)), rome_week(rome(2026, 10, 25, 23, 59)));
  const auto wednesday = rome(2026, 10, 28, 12);
  EXPECT_EQ(evaluate({GoalKind::streak, 3}, cs, std::nullopt, wednesday, rome_week).value, 3);
  EXPECT_TRUE(evaluate({GoalKind::streak, 3}, cs, std::nullopt, wednesday, rome_week).completed);
  // A week without anything (2–8 November) resets it.
  EXPECT_EQ(
      evaluate({GoalKind::streak, 3}, cs, std::nullopt, rome(2026, 11, 9, 0, 0), rome_week).value,
      0);
  // A gap earlier (5 October missing, 28 September there) does not count before the gap.
  cs.push_back(at(rome(2026, 9, 28, 12)));
  EXPECT_EQ(evaluate({GoalKind::streak, 3}, cs, std::nullopt, wednesday, rome_week).value, 3);
  cs.push_back(at(rome(2026, 10, 5, 12)));
  EXPECT_EQ(evaluate({GoalKind::streak, 3}, cs, std::nullopt, wednesday, rome_week).value, 5);
}
