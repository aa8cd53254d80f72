#include "circolo/engine/challenges.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <vector>

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
      // Few distinct keys, many contributions: a sorted vector beats a tree of strings.
      std::vector<std::string_view> keys;
      for (const auto& c : contributions) {
        if (!counts(c)) continue;
        const std::string_view key = c.key;
        const auto at = std::lower_bound(keys.begin(), keys.end(), key);
        if (at == keys.end() || *at != key) keys.insert(at, key);
      }
      p.value = static_cast<std::int64_t>(keys.size());
      break;
    }
    case GoalKind::streak: {
      std::vector<std::int64_t> periods;
      std::optional<TimePoint> last_at;
      for (const auto& c : contributions) {
        if (!counts(c) || c.at == last_at) continue;
        last_at = c.at;
        periods.push_back(period_of(c.at));
      }
      std::sort(periods.begin(), periods.end());
      const auto has = [&](std::int64_t period) {
        return std::binary_search(periods.begin(), periods.end(), period);
      };
      std::int64_t end = period_of(now);
      if (!has(end)) --end;  // the current period is still open
      while (has(end)) {
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
