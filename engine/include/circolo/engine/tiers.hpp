#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "circolo/engine/ledger.hpp"

// Tiers: a member holds the highest tier whose threshold its qualifying points reach, each tier
// counting the points earned within its own rolling window.
namespace circolo::engine::tiers {

using ledger::Points;

struct Level {
  std::string id;
  Points threshold = 0;
};

struct Standing {
  std::optional<std::size_t> tier;  // index into the levels; none below the lowest threshold
  // The next tier up, the member's qualifying points in its window and how many more it needs.
  std::optional<std::size_t> next;
  Points points = 0;
  Points needed = 0;
};

// `levels` in ascending threshold order; `qualifying[i]` is the points earned in level i's window.
Standing standing(std::span<const Level> levels, std::span<const Points> qualifying);

}  // namespace circolo::engine::tiers
