#pragma once

#include <algorithm>
#include <span>

// Leaderboards rank with shared ranks (1, 2, 2, 4): a score's rank is one more than the number
// of scores above it.
namespace circolo::engine::leaderboard {

// `descending`: every score of the board, highest first.
inline long long rank_of(std::span<const long long> descending, long long points) {
  const auto above = std::partition_point(descending.begin(), descending.end(),
                                          [points](long long s) { return s > points; });
  return static_cast<long long>(above - descending.begin()) + 1;
}

}  // namespace circolo::engine::leaderboard
