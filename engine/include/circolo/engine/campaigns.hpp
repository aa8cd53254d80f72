#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "circolo/engine/clock.hpp"

// Campaigns as an operator sees them: whether one is running now.
namespace circolo::engine::campaigns {

enum class State { active, paused, scheduled, ended };

// "active", "paused", "scheduled", "ended".
std::string_view name(State state);

// The state at `now` of a campaign active over [from, until) (either end open when absent) that
// an admin may have paused. A campaign past its end is ended, paused or not (resuming it would
// not make it run); one paused before its start is paused (it will not run when it starts).
State state(bool paused, std::optional<TimePoint> from, std::optional<TimePoint> until,
            TimePoint now);

// How many days until a budget with `left` points is spent, at the rate of the recent past
// (`recent_points` awarded over `recent_days`): rounded up, 0 when nothing is left, nothing when
// nothing was awarded recently (no forecast).
std::optional<std::int64_t> days_until_spent(std::int64_t left, std::int64_t recent_points,
                                             std::int64_t recent_days);

}  // namespace circolo::engine::campaigns
