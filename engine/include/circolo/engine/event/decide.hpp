#pragma once

#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "circolo/engine/event/inputs.hpp"
#include "circolo/engine/event/plan.hpp"
#include "circolo/engine/segments.hpp"
#include "circolo/rules/evaluate.hpp"

// The decision of one event: a pure function of the program, the request and the loaded state,
// asking only for counters. POST /v1/events, simulate and backtests run the same function.
namespace circolo::engine::event {

using Decision = std::variant<Plan, Refusal>;

// What an event tells of the member's interests (interests::observe), or nothing: purchases
// (with `paid`, what the member paid), visits, and custom events carrying items that the
// program gives an interest weight (`custom_weight`, its declaration's `interest`).
std::optional<interests::Observation> interest_observation(const rules::Event& event, int digits,
                                                           double custom_weight,
                                                           std::optional<std::int64_t> paid);

// Refunds its purchase's points, redeems the basket's codes, evaluates the program with exact
// limit and budget counters, counts the event toward challenges and completes those that reach
// their goal, raises the tier, and evaluates the events these cause (tier_changed,
// challenge_completed) up to kMaxDerivedEvents.
Decision decide(const rules::CompiledProgram& program, const Request& request, const Inputs& inputs,
                CounterSource& counters);
// The same, working on the member state moved in (no copy of its challenges' contributions):
// for callers that keep the state after the event, as backtests do. A refusal hands it back in
// `inputs.member` as it came, but normalised (a member without a tier in the entry tier, one
// qualifying sum per tier): events are refused before they change it; refunds, which change it
// before their basket is checked, are decided on a copy.
Decision decide(const rules::CompiledProgram& program, const Request& request, Inputs&& inputs,
                CounterSource& counters);

// A referral's side event for one member, caused by the event whose plan holds `step`:
// referral_completed (the rules run for the member: event.attributes.role, referral, referrer,
// referee) or referral_reversed (the points of that member's referral_completed event taken
// back). Decided after the cause in its transaction, the referee's on the cause's state_after.
Request side_request(const Request& cause, const ReferralStep& step, bool referrer_side,
                     std::string event_id);

// Counters as `source` has them plus what the plans decided before in the same transaction add:
// a side event sees the counters its cause moved.
class LayeredCounters final : public CounterSource {
 public:
  explicit LayeredCounters(CounterSource& source) : source_(source) {}
  std::map<std::string, std::int64_t> read(const std::vector<std::string>& keys) override;
  void add(const Plan& plan);

 private:
  CounterSource& source_;
  std::map<std::string, std::int64_t> added_;
};

// How many derived events one event may cause: rules reacting to them with effects that cause
// more of them stop here (the tier is still right).
inline constexpr int kMaxDerivedEvents = 8;

// What the rules see of a member: its tier (and the tier's multiplier), tags, badges, points,
// counts, profile.
rules::MemberSnapshot snapshot(const rules::CompiledProgram& program, const MemberState& state,
                               TimePoint now);

// The member's segments after evaluating `evaluated` (sorted segment ids; static or undeclared
// ones: the member leaves them) on its state at `now`: the job's decision for one member, and
// what each event does with every dynamic segment of the program.
segments::Update segment_update(const rules::CompiledProgram& program, const MemberState& state,
                                const std::vector<std::string>& evaluated, TimePoint now);
// The program's dynamic segments, sorted.
std::vector<std::string> dynamic_segments(const rules::CompiledProgram& program);

// Tiers. The entry tier (threshold 0), where a member without a tier starts, if the program has
// one; the tier `qualifying` reaches; a tier's rank in the program (-1: none or unknown).
std::optional<std::string> entry_tier(const rules::CompiledProgram& program);
std::optional<std::string> tier_reached(const rules::CompiledProgram& program,
                                        std::span<const ledger::Points> qualifying);
long tier_rank(const rules::CompiledProgram& program, const std::optional<std::string>& tier);
// Events only raise tiers: the higher tier reached, if any.
std::optional<std::string> raised_tier(const rules::CompiledProgram& program,
                                       const std::optional<std::string>& current,
                                       std::span<const ledger::Points> qualifying);
// The review only lowers them: the tier to move down to (nullopt inside: below every tier), or
// nothing when the member stays. A tier the program no longer has goes to where it stands.
std::optional<std::optional<std::string>> lowered_tier(const rules::CompiledProgram& program,
                                                       const std::optional<std::string>& current,
                                                       std::span<const ledger::Points> qualifying);

// The calendar periods a point earned at `time` counts in for leaderboards, in the program's
// time zone: "day:2026-11-22", "week:2026-11-16" (its Monday), "month:2026-11", "year:2026",
// "all".
std::vector<std::string> leaderboard_periods(const rules::CompiledProgram& program, TimePoint time);

// An effect of the rules as the response and the event record show it.
nlohmann::json effect_json(const rules::Effect& effect);

}  // namespace circolo::engine::event
