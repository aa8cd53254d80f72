#include "circolo/engine/campaigns.hpp"

namespace circolo::engine::campaigns {

std::string_view name(State state) {
  switch (state) {
    case State::active:
      return "active";
    case State::paused:
      return "paused";
    case State::scheduled:
      return "scheduled";
    case State::ended:
      return "ended";
  }
  return "active";
}

State state(bool paused, std::optional<TimePoint> from, std::optional<TimePoint> until,
            TimePoint now) {
  if (until && now >= *until) return State::ended;
  if (paused) return State::paused;
  if (from && now < *from) return State::scheduled;
  return State::active;
}

std::optional<std::int64_t> days_until_spent(std::int64_t left, std::int64_t recent_points,
                                             std::int64_t recent_days) {
  if (left <= 0) return 0;
  if (recent_points <= 0 || recent_days <= 0) return std::nullopt;
  // left / (recent_points / recent_days), rounded up, in integers (no overflow for budgets and
  // day counts of any realistic size: both factors are far below 2^31).
  const auto scaled = static_cast<__int128>(left) * recent_days;
  return static_cast<std::int64_t>((scaled + recent_points - 1) / recent_points);
}

}  // namespace circolo::engine::campaigns
