#include "circolo/engine/challenges.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <set>
#include <stdexcept>

namespace circolo::engine::challenges {

Progress evaluate(const Goal& goal, const std::vector<Contribution>& contributions,
                  std::optional<TimePoint> window_start, TimePoint now, const PeriodOf& period_of) {
  auto counts = [&](const Contribution& c) {
    return c.at <= now && (!window_start || c.at >= *window_start);
  };
  // Amounts add up without overflowing: past the target, more makes no difference.
  auto add = [](std::int64_t a, std::int64_t b) {
    std::int64_t out = 0;
    return __builtin_add_overflow(a, b, &out) ? INT64_MAX : out;
  };
  Progress p;
  switch (goal.kind) {
    case GoalKind::count:  // an event counts 1; `progress challenge ... by N` counts N
    case GoalKind::sum:
      for (const auto& c : contributions)
        if (counts(c)) p.value = add(p.value, std::max<std::int64_t>(c.amount, 0));
      break;
    case GoalKind::distinct: {
      std::set<std::string> keys;
      for (const auto& c : contributions)
        if (counts(c)) keys.insert(c.key);
      p.value = static_cast<std::int64_t>(keys.size());
      break;
    }
    case GoalKind::streak: {
      std::set<std::int64_t> periods;
      for (const auto& c : contributions)
        if (counts(c)) periods.insert(period_of(c.at));
      std::int64_t end = period_of(now);
      if (!periods.count(end)) --end;  // the current period is still open
      while (periods.count(end)) {
        ++p.value;
        --end;
      }
      break;
    }
  }
  p.completed = p.value >= goal.target;
  return p;
}

std::vector<Contribution> scaled(const std::vector<Contribution>& contributions,
                                 const std::string& event_id, std::int64_t left,
                                 std::int64_t before) {
  if (before <= 0 || left < 0 || left > before)
    throw std::invalid_argument("a refund keeps a share between 0 and 1 of its purchase");
  std::vector<Contribution> out = contributions;
  for (auto& c : out) {
    if (c.event_id != event_id) continue;
    c.amount = static_cast<std::int64_t>(static_cast<__int128>(c.amount) * left / before);
  }
  return out;
}

std::vector<Contribution> without(const std::vector<Contribution>& contributions,
                                  const std::string& event_id) {
  std::vector<Contribution> out;
  std::copy_if(contributions.begin(), contributions.end(), std::back_inserter(out),
               [&](const Contribution& c) { return c.event_id != event_id; });
  return out;
}

}  // namespace circolo::engine::challenges
