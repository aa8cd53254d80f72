// Private to the rules library: what a compiled program holds besides its public parts
// (CompiledProgram::Impl), and the calendar arithmetic that its parts share.
#pragma once

#include <date/tz.h>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "circolo/rules/evaluate.hpp"
#include "value.hpp"

namespace circolo::rules {

namespace detail {

// `t` plus a duration: calendar arithmetic on the local date in `zone` (calendar.cpp).
TimePoint add(const date::time_zone* zone, TimePoint t, const Duration& d);

// `t` on the wall clock of `zone`: zone->to_local(t), with the offset of the last lookup kept
// per thread (events, limits, windows and streaks ask about nearby instants, and a tz lookup
// is a search of the zone's transitions each time).
date::local_time<std::chrono::microseconds> local_time(const date::time_zone* zone, TimePoint t);

}  // namespace detail

// ---- the compiled program ----
struct CompiledProgram::Impl {
  struct CompiledAction {
    const Action* source = nullptr;
    detail::Fn amount;
    std::size_t amount_slot = 0;  // the same amount text in many rules is computed once
    std::vector<std::pair<std::string, detail::Fn>> message;  // text, or an expression
  };
  struct CompiledRule {
    const RuleDecl* source = nullptr;
    // Top-level conjuncts `event.channel == "..."` and `member.tier == "..."`, as ids into the
    // program's table of such literals: checked first, as integer comparisons, so that rules
    // for other channels or tiers cost next to nothing. (They stay part of `condition`; as they
    // cannot fail, checking them first changes no result, only which false part is found.)
    std::vector<std::pair<int, int>> guards;  // (field, literal id)
    detail::Pred condition;
    std::vector<CompiledAction> actions;
  };
  struct CompiledCampaign {
    const CampaignDecl* source = nullptr;
    std::optional<engine::TimePoint> from, until;
    std::vector<CompiledRule> rules;
    // Experiments: the arms (as Campaign::arms) and, per arm, the actions that replace the
    // rules' own (a variant's; empty for control and treatment).
    std::vector<engine::experiments::Arm> arms;
    std::vector<std::vector<CompiledAction>> arm_actions;
  };
  struct CompiledChallenge {
    const ChallengeDecl* source = nullptr;
    detail::Pred condition;
    detail::Fn goal_value;  // sum and distinct goals
    std::vector<CompiledAction> actions;
  };
  const date::time_zone* zone = nullptr;
  std::optional<Duration> points_expire;
  std::vector<CompiledChallenge> challenges;  // as CompiledProgram::challenges_
  detail::Pred referral_condition;            // the referral's `qualify ... when`, if any
  std::size_t memo_slots = 0;
  std::size_t amount_slots = 0;
  std::vector<std::string> guard_literals[2];    // channel literals, tier literals
  std::vector<CompiledCampaign> campaigns;       // priority desc, then file order
  std::vector<detail::Pred> segment_conditions;  // as CompiledProgram::segments_ (static: none)
};

}  // namespace circolo::rules
