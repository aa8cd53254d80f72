#pragma once

#include <optional>
#include <string>

#include "circolo/engine/interests.hpp"

// A member's interest profile as stored in members.interests (JSON): scores rounded to 1e-6,
// times in microseconds, spend by day number.
namespace circolo::db::interests {

std::string to_text(const engine::interests::Profile& profile);
// Null or unreadable (a hand-edited row): an empty profile, which the next event starts again.
engine::interests::Profile from_text(const std::optional<std::string>& stored);

}  // namespace circolo::db::interests
