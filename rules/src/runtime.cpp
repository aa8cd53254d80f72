// Running a compiled program: the rules an event fires (triggers, conditions, limits, budgets,
// exclusive campaigns) and their effects; the challenges it counts toward, and the effects of
// completing one.
#include "circolo/rules/evaluate.hpp"

#include <algorithm>

#include "program_impl.hpp"

namespace circolo::rules {

using detail::add;
using detail::as_decimal;
using detail::Context;
using detail::i128;
using detail::pow10;
using detail::RuntimeError;
using detail::to_integer;
using detail::to_text;
using detail::Value;

namespace {

bool trigger_matches(const Trigger& t, const Event& e) {
  return e.type == event_type(t);
}

// The effect of one action for this event (none: an award of 0 or less). Throws RuntimeError.
// `cached` holds the award amount shared by rules with the same amount text (may be null).
std::optional<Effect> run_action(const CompiledProgram::Impl& impl,
                                 const CompiledProgram::Impl::CompiledAction& ca,
                                 const Context& ctx, const Event& event,
                                 std::optional<Value>* cached, int currency_digits) {
  const auto& a = *ca.source;
  // Effect kinds follow the action kinds one to one.
  static_assert(static_cast<int>(EffectKind::notify) == static_cast<int>(ActionKind::notify));
  Effect e;
  e.kind = static_cast<EffectKind>(a.kind);
  e.target = a.target;  // coupon, challenge, badge, tag
  switch (a.kind) {
    case ActionKind::award: {
      std::optional<Value> local;
      auto& slot = cached ? *cached : local;
      if (!slot) slot = ca.amount(ctx);  // a runtime error is not cached
      const auto& v = *slot;
      if (v.kind != Value::Kind::integer) throw RuntimeError("award needs a whole number");
      if (v.i <= 0) return std::nullopt;
      e.points = v.i;
      if (a.pending) e.pending_until = add(impl.zone, event.time, *a.pending);
      if (a.expiring)
        e.expires_at = add(impl.zone, event.time, *a.expiring);
      else if (impl.points_expire)
        e.expires_at = add(impl.zone, event.time, *impl.points_expire);
      break;
    }
    case ActionKind::progress_challenge: {
      e.points = 1;
      if (ca.amount) {
        const auto v = ca.amount(ctx);
        if (v.kind != Value::Kind::integer) throw RuntimeError("progress needs a whole number");
        e.points = v.i;
      }
      break;
    }
    case ActionKind::notify:
      for (const auto& [text, fn] : ca.message)
        e.message += fn ? to_text(fn(ctx), currency_digits) : text;
      break;
    case ActionKind::issue_coupon:
    case ActionKind::grant_badge:
    case ActionKind::tag:
    case ActionKind::untag:
      break;
  }
  return e;
}

// What one evaluation reads: the event, the member, the zone, and the memo of shared conditions.
struct Scope {
  Scope(const CompiledProgram::Impl& impl, const Event& event, const MemberSnapshot& member)
      : memo(impl.memo_slots, -1) {
    ctx.event = &event;
    ctx.member = &member;
    ctx.zone = impl.zone;
    ctx.memo = &memo;
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  std::vector<signed char> memo;
  Context ctx;
};

}  // namespace

Evaluation CompiledProgram::evaluate(const Event& event, const MemberSnapshot& member,
                                     const Counters& counters, bool with_trace) const {
  Evaluation out;
  Scope scope(*impl_, event, member);
  auto& ctx = scope.ctx;
  out.effects.reserve(16);
  // The event's kind and channel, compared per rule as an enum and a string_view.
  TriggerKind event_kind = TriggerKind::custom;
  for (auto k : {TriggerKind::purchase, TriggerKind::refund, TriggerKind::visit,
                 TriggerKind::signup, TriggerKind::challenge_completed, TriggerKind::tier_changed,
                 TriggerKind::referral_completed}) {
    if (trigger_matches(Trigger{k, "", {}}, event)) event_kind = k;
  }
  // The event's channel and the member's tier as ids into the program's guard tables (-1: none).
  int event_ids[2] = {-1, -1};
  const std::string* guard_values[2] = {&event.channel, &member.tier};
  for (std::size_t f = 0; f < 2; ++f) {
    const auto& table = impl_->guard_literals[f];
    const auto it = std::find(table.begin(), table.end(), *guard_values[f]);
    if (it != table.end()) event_ids[f] = static_cast<int>(it - table.begin());
  }
  std::vector<std::optional<Value>> amounts(impl_->amount_slots);
  std::optional<std::int64_t> exclusive_priority;
  std::string exclusive_campaign;
  // Trace entries are built only when asked for: the event path needs the effects alone.
  auto note = [&](const CampaignDecl& c, const RuleDecl& r, const char* reason,
                  const auto& detail) {
    if (with_trace) out.trace.push_back({c.id, r.id, false, reason, detail()});
  };

  for (const auto& cc : impl_->campaigns) {
    const auto& c = *cc.source;
    const auto priority = c.priority.value_or(0);
    auto skip_all = [&](const char* reason, const auto& detail) {
      for (const auto& r : c.rules) note(c, r, reason, detail);
    };
    // An experiment: the member's arm, recorded whenever the campaign is in scope (not paused,
    // active, its channel), whatever its rules and the exclusive campaigns above it do: the
    // report compares every member in scope, arm against arm.
    const bool experiment = !cc.arms.empty();
    std::size_t arm = 0, exposure = 0;
    // audience "a", "b": for members in one of the segments (as they stood before the event).
    const bool in_audience =
        c.audience.empty() ||
        std::any_of(c.audience.begin(), c.audience.end(), [&](const std::string& s) {
          return std::binary_search(member.segments.begin(), member.segments.end(), s);
        });
    if (experiment && in_audience && (counters.paused.empty() || !counters.paused.count(c.id)) &&
        !(cc.from && event.time < *cc.from) && !(cc.until && event.time >= *cc.until) &&
        (c.channels.empty() ||
         std::find(c.channels.begin(), c.channels.end(), event.channel) != c.channels.end())) {
      arm = engine::experiments::assign(cc.arms, engine::experiments::bucket(c.id, member.id));
      exposure = out.exposures.size();
      out.exposures.push_back({c.id, cc.arms[arm].id, 0, 0});
    }
    const bool control = experiment && arm == 0;  // arms() puts control first
    // A variant's actions replace the rules' own.
    const auto* variant_actions =
        experiment && !cc.arm_actions[arm].empty() ? &cc.arm_actions[arm] : nullptr;
    if (exclusive_priority && priority < *exclusive_priority) {
      skip_all("exclusive",
               [&] { return "campaign \"" + exclusive_campaign + "\" is exclusive and fired"; });
      continue;
    }
    if (!counters.paused.empty() && counters.paused.count(c.id)) {
      skip_all("inactive", [] { return std::string("the campaign is paused"); });
      continue;
    }
    if ((cc.from && event.time < *cc.from) || (cc.until && event.time >= *cc.until)) {
      skip_all("inactive", [&] { return "not active at " + engine::format_rfc3339(event.time); });
      continue;
    }
    if (!c.channels.empty() &&
        std::find(c.channels.begin(), c.channels.end(), event.channel) == c.channels.end()) {
      skip_all("channel", [&] {
        return "channel '" + event.channel + "' is not among this campaign's channels";
      });
      continue;
    }
    if (!in_audience) {
      skip_all("audience", [&] {
        std::string names;
        for (const auto& s : c.audience) names += (names.empty() ? "\"" : ", \"") + s + "\"";
        return "the member is in none of the campaign's segments (" + names + ")";
      });
      continue;
    }
    bool campaign_fired = false;
    for (const auto& cr : cc.rules) {
      const auto& r = *cr.source;
      if (!r.on || (r.on->kind == TriggerKind::custom ? r.on->custom != event.type
                                                      : r.on->kind != event_kind)) {
        note(c, r, "trigger",
             [&] { return "the rule is for another kind of event than '" + event.type + "'"; });
        continue;
      }
      if (!cr.guards.empty() &&
          !std::all_of(cr.guards.begin(), cr.guards.end(),
                       [&](const auto& g) { return event_ids[g.first] == g.second; })) {
        note(c, r, "condition", [] { return std::string("the 'when' condition is false"); });
        continue;
      }
      const std::size_t mark_on_entry = out.effects.size();
      try {
        if (cr.condition && !cr.condition(ctx)) {
          note(c, r, "condition", [] { return std::string("the 'when' condition is false"); });
          continue;
        }
        // Limits: counts so far plus what this evaluation already added.
        std::string limit_hit;
        std::vector<std::string> keys;
        if (!r.limits.empty()) keys.reserve(r.limits.size());
        for (const auto& l : r.limits) {
          auto key = limit_key(c.id, r.id, l, member.id, period(l.period, event.time));
          // Control counts what it held back apart: its limits stop what is withheld as they
          // would stop what is given, and never touch the counters of what was given.
          if (control) key = std::string(kHeldBackPrefix) + key;
          const auto stored = counters.firings.count(key) ? counters.firings.at(key) : 0;
          const auto added = out.firings_added.count(key) ? out.firings_added.at(key) : 0;
          if (stored + added >= l.count) limit_hit = key;
          keys.push_back(std::move(key));
        }
        if (!limit_hit.empty()) {
          note(c, r, "limit", [&] { return "the limit is reached (" + limit_hit + ")"; });
          out.stopped.push_back({c.id, r.id, false, "limit", ""});
          continue;
        }
        // Actions, computed before anything is committed: a failure leaves no effect.
        // Written straight into the output; taken back if the rule does not fire after all.
        const std::size_t mark = out.effects.size();
        std::int64_t awarded = 0;
        for (const auto& ca : variant_actions ? *variant_actions : cr.actions) {
          auto e = run_action(*impl_, ca, ctx, event,
                              ca.amount ? &amounts[ca.amount_slot] : nullptr, currency_digits_);
          if (!e) continue;
          e->campaign = c.id;
          e->rule = r.id;
          if (e->kind == EffectKind::award && __builtin_add_overflow(awarded, e->points, &awarded))
            throw RuntimeError("integer overflow in award");
          out.effects.push_back(std::move(*e));
        }
        if (awarded > 0) {
          if (c.budget) {
            const auto used =
                (counters.budget_used.count(c.id) ? counters.budget_used.at(c.id) : 0) +
                (out.budget_added.count(c.id) ? out.budget_added.at(c.id) : 0);
            if (used + awarded > *c.budget) {
              note(c, r, "budget", [&] {
                return std::to_string(awarded) + " points would exceed the budget (" +
                       std::to_string(*c.budget - used) + " left)";
              });
              out.stopped.push_back({c.id, r.id, false, "budget", ""});
              out.effects.resize(mark);
              continue;
            }
          }
          if (c.budget && !control) {
            out.budget_added[c.id] += awarded;
            out.budget_caps[c.id] = *c.budget;
          }
          // Control reads the budget (a spent budget withholds nothing more), never spends it.
          if (c.budget && control) out.budgets_read.insert(c.id);
        }
        // Held out: evaluated as usual, nothing given, no limit or budget spent; the campaign
        // does not count as fired (control members see lower priorities as if it did not exist).
        if (control) {
          for (std::size_t k = 0; k < keys.size(); ++k) {
            out.firings_added[keys[k]] += 1;
            out.limit_caps[keys[k]] = r.limits[k].count;
          }
          auto& x = out.exposures[exposure];
          for (std::size_t k = mark; k < out.effects.size(); ++k) {
            if (out.effects[k].kind == EffectKind::award)
              x.withheld_points += out.effects[k].points;
            if (out.effects[k].kind == EffectKind::issue_coupon) ++x.withheld_coupons;
          }
          out.effects.resize(mark);
          note(c, r, "control", [&] {
            return "the member is in the control group of the campaign's experiment (" +
                   std::to_string(awarded) + " points held back)";
          });
          continue;
        }
        for (std::size_t k = 0; k < keys.size(); ++k) {
          out.firings_added[keys[k]] += 1;
          out.limit_caps[keys[k]] = r.limits[k].count;
        }
        if (with_trace)
          out.trace.push_back(
              {c.id, r.id, true, "fired", experiment ? "arm \"" + cc.arms[arm].id + "\"" : ""});
        campaign_fired = true;
      } catch (const RuntimeError& e) {
        out.effects.resize(mark_on_entry);
        note(c, r, "runtime_error", [&] { return std::string(e.what()); });
      }
    }
    if (campaign_fired && c.exclusive && !exclusive_priority) {
      exclusive_priority = priority;
      exclusive_campaign = c.id;
    }
  }
  return out;
}

// ---- referrals ----

bool CompiledProgram::referral_qualifies(const Event& event, const MemberSnapshot& member) const {
  const auto& decl = file_->referral;
  if (!referral_ || !decl || !decl->on || !trigger_matches(*decl->on, event)) return false;
  if (!impl_->referral_condition) return true;
  Scope scope(*impl_, event, member);
  try {
    return impl_->referral_condition(scope.ctx);
  } catch (const RuntimeError&) {
    return false;  // like a rule that does not fire
  }
}

// ---- segments ----

const CompiledProgram::Segment* CompiledProgram::segment(const std::string& id) const {
  for (const auto& s : segments_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

std::vector<std::string> CompiledProgram::segments_of(const MemberSnapshot& member,
                                                      engine::TimePoint now) const {
  std::vector<std::string> out;
  if (segments_.empty()) return out;
  Event at;  // a segment's condition sees no event: only its time, for days_since()
  at.time = now;
  Scope scope(*impl_, at, member);
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const auto& holds = impl_->segment_conditions[i];
    if (!holds) continue;
    try {
      if (holds(scope.ctx)) out.push_back(segments_[i].id);
    } catch (const RuntimeError&) {
      // Like a rule that does not fire: not in the segment.
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool CompiledProgram::in_segment(const std::string& id, const MemberSnapshot& member,
                                 engine::TimePoint now) const {
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].id != id || !impl_->segment_conditions[i]) continue;
    Event at;
    at.time = now;
    Scope scope(*impl_, at, member);
    try {
      return impl_->segment_conditions[i](scope.ctx);
    } catch (const RuntimeError&) {
      return false;
    }
  }
  return false;
}

// ---- challenges ----

const CompiledProgram::Challenge* CompiledProgram::challenge(const std::string& id) const {
  for (const auto& c : challenges_) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

namespace {

// A goal expression's value in the challenge's terms (see ChallengeHit). Throws RuntimeError.
void goal_value(const CompiledProgram::Challenge& info, const Value& v, int currency_digits,
                ChallengeHit& hit) {
  if (info.goal.kind == engine::challenges::GoalKind::distinct) {
    if (v.kind == Value::Kind::missing) throw RuntimeError("the goal's value is missing");
    hit.key = to_text(v, currency_digits);
    return;
  }
  if (v.kind != Value::Kind::integer && v.kind != Value::Kind::decimal)
    throw RuntimeError("sum needs a number");
  const Decimal d = as_decimal(v);
  i128 m = d.mantissa;
  if (d.scale > info.scale) m /= pow10(d.scale - info.scale);  // toward zero: never more
  if (d.scale < info.scale) m *= pow10(info.scale - d.scale);
  hit.amount = to_integer(m);
}

}  // namespace

std::vector<ChallengeHit> CompiledProgram::challenge_hits(const Event& event,
                                                          const MemberSnapshot& member) const {
  std::vector<ChallengeHit> out;
  if (impl_->challenges.empty()) return out;
  Scope scope(*impl_, event, member);
  auto& ctx = scope.ctx;
  for (std::size_t i = 0; i < impl_->challenges.size(); ++i) {
    const auto& cc = impl_->challenges[i];
    const auto& info = challenges_[i];
    const auto& c = *cc.source;
    if (!c.on || !trigger_matches(*c.on, event)) continue;
    if ((info.from && event.time < *info.from) || (info.until && event.time >= *info.until))
      continue;
    try {
      if (cc.condition && !cc.condition(ctx)) continue;
      ChallengeHit hit;
      hit.challenge = info.id;
      if (cc.goal_value) goal_value(info, cc.goal_value(ctx), currency_digits_, hit);
      if (hit.amount <= 0 && info.goal.kind == engine::challenges::GoalKind::sum) continue;
      out.push_back(std::move(hit));
    } catch (const RuntimeError&) {
      // Does not count, like a rule that does not fire.
    }
  }
  return out;
}

std::optional<ChallengeHit> CompiledProgram::explicit_hit(const std::string& challenge,
                                                          std::int64_t by, const Event& event,
                                                          const MemberSnapshot& member) const {
  for (std::size_t i = 0; i < impl_->challenges.size(); ++i) {
    const auto& info = challenges_[i];
    if (info.id != challenge) continue;
    if ((info.from && event.time < *info.from) || (info.until && event.time >= *info.until))
      return std::nullopt;
    if (by <= 0) return std::nullopt;
    ChallengeHit hit;
    hit.challenge = info.id;
    hit.amount = by;
    if (info.goal.kind == engine::challenges::GoalKind::sum) {
      // `by` counts in whole units of the goal (points, currency units).
      i128 m = by;
      m *= pow10(info.scale);
      if (m > INT64_MAX) return std::nullopt;
      hit.amount = static_cast<std::int64_t>(m);
    }
    if (info.goal.kind == engine::challenges::GoalKind::distinct) {
      Scope scope(*impl_, event, member);
      auto& ctx = scope.ctx;
      try {
        goal_value(info, impl_->challenges[i].goal_value(ctx), currency_digits_, hit);
      } catch (const RuntimeError&) {
        return std::nullopt;
      }
      hit.amount = 1;
    }
    return hit;
  }
  return std::nullopt;
}

std::vector<Effect> CompiledProgram::completion_effects(const std::string& challenge,
                                                        const Event& event,
                                                        const MemberSnapshot& member) const {
  std::vector<Effect> out;
  for (const auto& cc : impl_->challenges) {
    if (cc.source->id != challenge) continue;
    Scope scope(*impl_, event, member);
    auto& ctx = scope.ctx;
    // Each action on its own: one that fails at run time (overflow) is left out, the others
    // still happen (the challenge is completed either way).
    for (const auto& ca : cc.actions) {
      try {
        auto e = run_action(*impl_, ca, ctx, event, nullptr, currency_digits_);
        if (!e) continue;
        e->challenge = challenge;
        out.push_back(std::move(*e));
      } catch (const RuntimeError&) {
      }
    }
  }
  return out;
}

}  // namespace circolo::rules
