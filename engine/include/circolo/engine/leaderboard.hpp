#pragma once

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

// Leaderboards rank with shared ranks (1, 2, 2, 4): a score's rank is one more than the number
// of scores above it.
namespace circolo::engine::leaderboard {

// `descending`: every score of the board, highest first.
inline long long rank_of(std::span<const long long> descending, long long points) {
  const auto above = std::partition_point(descending.begin(), descending.end(),
                                          [points](long long s) { return s > points; });
  return static_cast<long long>(above - descending.begin()) + 1;
}

struct Leader {
  std::string member_id;
  long long points = 0;
};
struct Entry {
  long long rank = 0;
  std::string member_id;
  long long points = 0;
};

// The first `limit` entries of a board from its leaders (highest first, ties by member id): the
// members `shown` says yes to, ranked among themselves (a member who opted out leaves no gap).
// nullopt when the leaders given run out before `limit` and may not be all of the board
// (`complete` false): the caller then reads the board itself.
inline std::optional<std::vector<Entry>> top_shown(
    std::span<const Leader> leaders, bool complete, int limit,
    const std::function<bool(const std::string&)>& shown) {
  std::vector<Entry> out;
  long long above = 0;  // shown members with more points than the current one
  long long previous = -1;
  long long rank = 0;
  for (const auto& l : leaders) {
    if (static_cast<int>(out.size()) == limit) return out;
    if (!shown(l.member_id)) continue;
    if (l.points != previous) rank = above + 1;
    previous = l.points;
    ++above;
    out.push_back({rank, l.member_id, l.points});
  }
  if (static_cast<int>(out.size()) < limit && !complete) return std::nullopt;
  return out;
}

}  // namespace circolo::engine::leaderboard
