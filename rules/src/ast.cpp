#include "circolo/rules/ast.hpp"

namespace circolo::rules {

namespace {

bool same_ptr(const ExprPtr& a, const ExprPtr& b) {
  if (!a || !b) return !a && !b;
  return same(*a, *b);
}

bool same_duration(const std::optional<Duration>& a, const std::optional<Duration>& b) {
  if (!a || !b) return !a && !b;
  return a->amount == b->amount && a->unit == b->unit;
}

bool same_active(const std::optional<Active>& a, const std::optional<Active>& b) {
  if (!a || !b) return !a && !b;
  return a->from == b->from && a->until == b->until;
}

bool same_trigger(const std::optional<Trigger>& a, const std::optional<Trigger>& b) {
  if (!a || !b) return !a && !b;
  return a->kind == b->kind && a->custom == b->custom;
}

bool same_actions(const std::vector<Action>& a, const std::vector<Action>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto &x = a[i], &y = b[i];
    if (x.kind != y.kind || x.target != y.target || !same_ptr(x.amount, y.amount) ||
        !same_duration(x.pending, y.pending) || !same_duration(x.expiring, y.expiring) ||
        x.message.size() != y.message.size())
      return false;
    for (std::size_t j = 0; j < x.message.size(); ++j) {
      if (x.message[j].text != y.message[j].text || !same_ptr(x.message[j].expr, y.message[j].expr))
        return false;
    }
  }
  return true;
}

template <class T, class F>
bool same_list(const std::vector<T>& a, const std::vector<T>& b, F same_one) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!same_one(a[i], b[i])) return false;
  }
  return true;
}

bool same_limit(const Limit& l, const Limit& m) {
  return l.count == m.count && l.scope == m.scope && l.period == m.period;
}

bool same_experiment(const std::optional<ExperimentDecl>& a,
                     const std::optional<ExperimentDecl>& b) {
  if (!a || !b) return !a && !b;
  return a->control == b->control &&
         same_list(a->variants, b->variants, [](const VariantDecl& x, const VariantDecl& y) {
           return x.id == y.id && x.name == y.name && x.share == y.share &&
                  same_actions(x.then, y.then);
         });
}

bool same_referral(const std::optional<ReferralDecl>& a, const std::optional<ReferralDecl>& b) {
  if (!a || !b) return !a && !b;
  const bool limits = a->limit.has_value() == b->limit.has_value() &&
                      (!a->limit || same_limit(*a->limit, *b->limit));
  return a->name == b->name && same_trigger(a->on, b->on) && same_ptr(a->when, b->when) &&
         same_duration(a->within, b->within) && same_duration(a->hold, b->hold) && limits;
}

}  // namespace

std::string_view event_type(const Trigger& t) {
  switch (t.kind) {
    case TriggerKind::purchase:
      return "purchase";
    case TriggerKind::refund:
      return "refund";
    case TriggerKind::visit:
      return "visit";
    case TriggerKind::signup:
      return "signup";
    case TriggerKind::custom:
      return t.custom;
    case TriggerKind::challenge_completed:
      return "challenge_completed";
    case TriggerKind::tier_changed:
      return "tier_changed";
    case TriggerKind::referral_completed:
      return "referral_completed";
  }
  return "";
}

bool same(const Expr& a, const Expr& b) {
  if (a.kind != b.kind || a.integer != b.integer || !(a.decimal == b.decimal) ||
      !(a.date == b.date) || a.text != b.text || a.args.size() != b.args.size())
    return false;
  for (std::size_t i = 0; i < a.args.size(); ++i) {
    if (!same_ptr(a.args[i], b.args[i])) return false;
  }
  return true;
}

bool same(const ProgramFile& a, const ProgramFile& b) {
  if (a.program.has_value() != b.program.has_value()) return false;
  if (a.program &&
      (a.program->currency != b.program->currency || a.program->timezone != b.program->timezone ||
       !same_duration(a.program->points_expire, b.program->points_expire)))
    return false;
  if (!same_referral(a.referral, b.referral)) return false;
  return same_list(a.tiers, b.tiers,
                   [](const TierDecl& x, const TierDecl& y) {
                     return x.id == y.id && x.name == y.name && x.threshold == y.threshold &&
                            same_duration(x.window, y.window) && x.multiplier == y.multiplier;
                   }) &&
         same_list(a.coupons, b.coupons,
                   [](const CouponDecl& x, const CouponDecl& y) {
                     return x.id == y.id && x.name == y.name &&
                            x.discount_amount == y.discount_amount &&
                            x.discount_percent == y.discount_percent &&
                            x.max_discount == y.max_discount && x.min_total == y.min_total &&
                            same_duration(x.valid, y.valid) && x.uses == y.uses &&
                            x.channels == y.channels;
                   }) &&
         same_list(a.rewards, b.rewards,
                   [](const RewardDecl& x, const RewardDecl& y) {
                     return x.id == y.id && x.name == y.name && x.cost == y.cost &&
                            x.coupon == y.coupon && x.stock == y.stock;
                   }) &&
         same_list(a.challenges, b.challenges,
                   [](const ChallengeDecl& x, const ChallengeDecl& y) {
                     const bool goals = x.goal.has_value() == y.goal.has_value() &&
                                        (!x.goal || (x.goal->kind == y.goal->kind &&
                                                     x.goal->target == y.goal->target &&
                                                     x.goal->streak_unit == y.goal->streak_unit &&
                                                     same_ptr(x.goal->expr, y.goal->expr)));
                     return x.id == y.id && x.name == y.name && same_trigger(x.on, y.on) &&
                            same_ptr(x.when, y.when) && goals &&
                            same_duration(x.within, y.within) && same_active(x.active, y.active) &&
                            x.repeatable == y.repeatable && same_actions(x.then, y.then);
                   }) &&
         same_list(a.campaigns, b.campaigns,
                   [](const CampaignDecl& x, const CampaignDecl& y) {
                     return x.id == y.id && x.name == y.name && same_active(x.active, y.active) &&
                            x.channels == y.channels && x.priority == y.priority &&
                            x.budget == y.budget && x.exclusive == y.exclusive &&
                            x.audience == y.audience &&
                            same_experiment(x.experiment, y.experiment) &&
                            same_list(x.rules, y.rules, [](const RuleDecl& p, const RuleDecl& q) {
                              return p.id == q.id && same_trigger(p.on, q.on) &&
                                     same_ptr(p.when, q.when) && same_actions(p.then, q.then) &&
                                     same_list(p.limits, q.limits, same_limit);
                            });
                   }) &&
         same_list(a.events, b.events,
                   [](const EventDecl& x, const EventDecl& y) {
                     return x.id == y.id && x.name == y.name && x.interest == y.interest;
                   }) &&
         same_list(a.segments, b.segments, [](const SegmentDecl& x, const SegmentDecl& y) {
           return x.id == y.id && x.name == y.name && x.is_static == y.is_static &&
                  same_ptr(x.when, y.when);
         });
}

}  // namespace circolo::rules
