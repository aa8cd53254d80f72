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

}  // namespace circolo::engine::campaigns
