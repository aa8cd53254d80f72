#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "circolo/engine/event/decide.hpp"

// The decision's working state: everything one event does to one member, gathered while the
// rules run. Private to engine/src/event.
namespace circolo::engine::event::detail {

// A refusal found deep in the decision (a basket code, a refund), caught by decide().
struct Refused {
  Refusal refusal;
};

struct Work {
  Work(const rules::CompiledProgram& p, const Request& r, CounterSource& c, MemberState s)
      : program(p), request(r), source(c), state(std::move(s)) {}
  const rules::CompiledProgram& program;
  const Request& request;
  CounterSource& source;
  MemberState state;  // kept up to date: balances, tags, badges, tier, challenge states
  Plan plan;
  rules::MemberSnapshot snapshot;
  // Qualifying points this event moved (every movement is booked now, inside every window).
  ledger::Points qualifying_added = 0;
  std::set<std::string> known_counters;  // read so far
  bool limits_changed = false;           // state.member.limits
  rules::Counters counters;
  ledger::Points awarded = 0;            // by this event and the events it caused
  ledger::Points challenge_rewards = 0;  // of which challenge rewards: a refund leaves them
  // Explicit progress asked by the effects applied so far, not yet counted.
  std::vector<rules::ChallengeHit> explicit_progress;
  std::vector<rules::Event> derived;  // challenge_completed events still to evaluate
};

// The member's dynamic segments evaluated on the state the event leaves (plan.state_after):
// the plan's member update and segment.entered / segment.left events when they change.
void follow_segments(const rules::CompiledProgram& program, const Request& req, Plan& plan);
// The snapshot the rules see, from the state as it stands now.
void describe_member(Work& w);
// The counters known before the rules run: the member's own limits, the source's primed ones.
void know_counters_up_front(Work& w);
// Evaluates `event` with the counters of every rule that would fire.
rules::Evaluation evaluate_counted(Work& w, const rules::Event& event);
// Applies an evaluation's effects to the plan (awards, tags, notifications, coupons, badges,
// explicit progress) and its counter increments.
void apply_effects(Work& w, const rules::Evaluation& evaluation);
// Counts `event` toward challenges, re-decides those a refund `touched`, completes those that
// reach their goal (their `then` effects applied, a challenge_completed event queued).
void settle_challenges(Work& w, const rules::Event& event, const std::vector<std::string>& touched);

}  // namespace circolo::engine::event::detail
