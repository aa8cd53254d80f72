#pragma once

#include <string>
#include <vector>

#include "circolo/rules/ast.hpp"

namespace circolo::rules {

// One object of a program, as the admin "plan" shows it.
struct Change {
  enum class Kind { created, changed, removed } kind = Kind::created;
  // "program", "tier", "coupon", "reward", "challenge", "referral", "campaign", "event"
  std::string object;
  std::string id;             // empty for the program and referral blocks
  std::string before, after;  // canonical text of the object (empty when absent)
};

// What applying `next` over `current` creates, changes and removes, by kind and id, in the
// canonical order. Formatting-only differences are not changes.
std::vector<Change> diff(const ProgramFile& current, const ProgramFile& next);

}  // namespace circolo::rules
