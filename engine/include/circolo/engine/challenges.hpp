#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "circolo/engine/clock.hpp"

// Challenge goals, decided from what counted toward them: pure, so every goal kind and window
// boundary is tested with exact times. Calendars (days and weeks in the program's time zone,
// daylight saving included) come from the caller as a period function.
namespace circolo::engine::challenges {

enum class GoalKind { count, sum, distinct, streak };

struct Goal {
  GoalKind kind = GoalKind::count;
  std::int64_t target = 1;  // count, sum (minor units or points), distinct values, periods
};

// One event that counted: when it happened (its occurred_at, so late offline events land in the
// window they belong to), what it adds (sum), its value (distinct) and where it came from (a
// refund removes the contributions of its purchase).
struct Contribution {
  TimePoint at{};
  std::int64_t amount = 1;  // count: how many (1 per event); sum: what it adds
  std::string key;
  std::string event_id;
};

// A member's stored progress toward one challenge.
struct State {
  std::string challenge, digest;
  int round = 0, completions = 0;
  std::optional<TimePoint> completed_at;
  // What counted in the current round toward the stored goal (digest).
  std::vector<Contribution> contributions;
};

// The calendar period containing a time, as an index that grows by one per period (local days or
// weeks starting on Monday in the program's time zone).
using PeriodOf = std::function<std::int64_t(TimePoint)>;

struct Progress {
  std::int64_t value = 0;  // toward goal.target
  bool completed = false;
};

// Progress as of `now`, counting contributions in [window_start, now] (no window start: all).
// A streak is the run of consecutive periods with a contribution that ends in the current
// period, or in the one before while the current one is still open; a missed period resets it.
Progress evaluate(const Goal& goal, const std::vector<Contribution>& contributions,
                  std::optional<TimePoint> window_start, TimePoint now, const PeriodOf& period_of);

// The contributions that are left when `event_id` is taken back (a refunded purchase).
std::vector<Contribution> without(const std::vector<Contribution>& contributions,
                                  const std::string& event_id);

// A partial refund: what `event_id` added is kept at `left` / `before` (the share of the
// purchase's total still not refunded, after and before this refund), rounded down. For `sum`
// goals only: a partly refunded purchase still counts once, on its channel, in its period.
std::vector<Contribution> scaled(const std::vector<Contribution>& contributions,
                                 const std::string& event_id, std::int64_t left,
                                 std::int64_t before);

}  // namespace circolo::engine::challenges
