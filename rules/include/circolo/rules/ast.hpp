#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "circolo/rules/source.hpp"

// The syntax tree of a program file, with source ranges for every part that can be wrong.
namespace circolo::rules {

// An exact fixed-point number: mantissa * 10^-scale.
struct Decimal {
  std::int64_t mantissa = 0;
  int scale = 0;
  friend bool operator==(const Decimal&, const Decimal&) = default;
};

enum class Unit { hours, days, weeks, months };

struct Duration {
  std::int64_t amount = 0;
  Unit unit = Unit::days;
  Range range;
};

struct Date {
  int year = 0, month = 0, day = 0;
  friend bool operator==(const Date&, const Date&) = default;
};

enum class ExprKind {
  integer,  // integer
  decimal,  // decimal
  string,   // text
  boolean,  // integer: 0/1
  date,     // date
  list,     // args: elements
  name,     // text: a bare name (event, member, a field of the list element, mon..sun)
  field,    // text: field name; args[0]: the object
  call,     // text: function name; args
  unary,    // text: "-" or "not"; args[0]
  binary,   // text: operator (or, and, ==, in, +, ...); args[0], args[1]
  where,    // args[0]: list, args[1]: predicate over its elements
};

struct Expr {
  ExprKind kind = ExprKind::integer;
  Range range;
  std::int64_t integer = 0;
  Decimal decimal;
  Date date;
  std::string text;
  std::vector<std::unique_ptr<Expr>> args;
};
using ExprPtr = std::unique_ptr<Expr>;

enum class TriggerKind {
  purchase,
  refund,
  visit,
  signup,
  custom,
  challenge_completed,
  tier_changed,
  referral_completed  // made by Circolo for both members when a referral completes
};
struct Trigger {
  TriggerKind kind = TriggerKind::purchase;
  std::string custom;  // on event "NAME"
  Range range;
};
// The event type a trigger reacts to: "purchase", ..., "referral_completed", or the custom name
// (a view into the trigger).
std::string_view event_type(const Trigger& t);

// Text with {expr} holes, as in notify messages.
struct TextPart {
  std::string text;  // when expr is null
  ExprPtr expr;
};

enum class ActionKind { award, issue_coupon, progress_challenge, grant_badge, tag, untag, notify };
struct Action {
  ActionKind kind = ActionKind::award;
  Range range;
  ExprPtr amount;                    // award EXPR points; progress ... by EXPR
  std::optional<Duration> pending;   // award
  std::optional<Duration> expiring;  // award
  std::string target;                // coupon, challenge, badge, tag
  Range target_range;
  std::vector<TextPart> message;  // notify
};

struct Active {
  std::optional<Date> from, until;
  Range range;
};

enum class LimitScope { member, campaign };
enum class LimitPeriod { ever, day, week, month };
struct Limit {
  std::int64_t count = 0;
  LimitScope scope = LimitScope::member;
  LimitPeriod period = LimitPeriod::ever;
  Range range;
};

enum class GoalKind { count, sum, distinct, streak };
struct Goal {
  GoalKind kind = GoalKind::count;
  ExprPtr expr;    // sum / distinct
  Decimal target;  // count/distinct/streak: scale 0
  Unit streak_unit = Unit::weeks;
  Range range;
};

struct ProgramDecl {
  Range range;
  std::optional<std::string> currency;
  Range currency_range;
  std::optional<std::string> timezone;
  Range timezone_range;
  std::optional<Duration> points_expire;
};

struct TierDecl {
  std::string id;
  Range range, id_range;
  std::optional<std::string> name;
  std::optional<std::int64_t> threshold;
  std::optional<Duration> window;
  std::optional<Decimal> multiplier;
};

struct CouponDecl {
  std::string id;
  Range range, id_range;
  std::optional<std::string> name;
  std::optional<Decimal> discount_amount;
  std::optional<Decimal> discount_percent;
  Range discount_range;
  std::optional<Decimal> max_discount;
  Range max_discount_range;
  std::optional<Decimal> min_total;
  std::optional<Duration> valid;
  std::optional<std::int64_t> uses;
  std::vector<std::string> channels;
};

struct RewardDecl {
  std::string id;
  Range range, id_range;
  std::optional<std::string> name;
  std::optional<std::int64_t> cost;
  std::optional<std::string> coupon;
  Range coupon_range;
  std::optional<std::int64_t> stock;
};

struct ChallengeDecl {
  std::string id;
  Range range, id_range;
  std::optional<std::string> name;
  std::optional<Trigger> on;
  ExprPtr when;
  std::optional<Goal> goal;
  std::optional<Duration> within;
  std::optional<Active> active;
  bool repeatable = false;
  std::vector<Action> then;
};

struct RuleDecl {
  std::string id;
  Range range, id_range;
  std::optional<Trigger> on;
  ExprPtr when;
  std::vector<Action> then;
  std::vector<Limit> limits;
};

// An arm of an experiment besides control: the campaign's rules decide when and how often, the
// variant's actions replace the rules' actions for its members.
struct VariantDecl {
  std::string id;
  Range range, id_range, share_range;
  std::optional<std::string> name;
  std::optional<Decimal> share;  // percent of the members (none: a syntax error)
  std::vector<Action> then;
};

// experiment { control 10%  variant "coupon" 45% { then issue coupon "ten-off" } }: members
// are split by a hash of the campaign and their id; the rest (after control and the variants)
// get the campaign's own actions (the arm "treatment").
struct ExperimentDecl {
  Range range, control_range;
  std::optional<Decimal> control;  // percent held out
  std::vector<VariantDecl> variants;
};

struct CampaignDecl {
  std::string id;
  Range range, id_range;
  std::optional<std::string> name;
  std::optional<Active> active;
  std::vector<std::string> channels;
  std::optional<std::int64_t> priority;
  std::optional<std::int64_t> budget;
  bool exclusive = false;
  // audience "lapsed-gold", "vip": only members in one of these segments (none: everyone).
  std::vector<std::string> audience;
  Range audience_range;
  std::optional<ExperimentDecl> experiment;
  std::vector<RuleDecl> rules;
};

// A custom event type that touchpoints may send although no rule or challenge reacts to it
// (it only feeds the member's timeline): event "product_viewed" { name "Product viewed" }.
struct EventDecl {
  std::string id;  // the type touchpoints send
  Range range, id_range;
  std::optional<std::string> name;
  // What its items are worth to the member's interest profile against a purchase (0 < w <= 1):
  // event "product_viewed" { interest 0.25 }. None: its items teach nothing.
  std::optional<Decimal> interest;
};

// A group of members: segment "lapsed-gold" { name "..." when member.days_since_purchase > 60 }
// (membership follows the condition, on the member's own data only), or an uploaded list:
// segment "press" { name "Press list" static }.
struct SegmentDecl {
  std::string id;
  Range range, id_range;
  std::optional<std::string> name;
  ExprPtr when;
  bool is_static = false;
  Range static_range;
};

// When a referral qualifies, and what bounds it (at most one per program):
// referral { qualify on purchase when event.total >= 20.00  within 30 days  hold 14 days
//            limit 5 per referrer per month }
struct ReferralDecl {
  Range range;
  std::optional<std::string> name;
  std::optional<Trigger> on;  // qualify on TRIGGER
  ExprPtr when;               // qualify ... when EXPR (optional)
  Range qualify_range;
  std::optional<Duration> within, hold;
  std::optional<Limit> limit;  // `limit N per referrer [per day|week|month]` (scope: member)
};

struct ProgramFile {
  std::optional<ProgramDecl> program;
  std::optional<ReferralDecl> referral;
  std::vector<TierDecl> tiers;
  std::vector<CouponDecl> coupons;
  std::vector<RewardDecl> rewards;
  std::vector<ChallengeDecl> challenges;
  std::vector<CampaignDecl> campaigns;
  std::vector<EventDecl> events;
  std::vector<SegmentDecl> segments;
};

// Structural equality, ignoring source ranges (what the formatter must preserve).
bool same(const ProgramFile& a, const ProgramFile& b);
bool same(const Expr& a, const Expr& b);

}  // namespace circolo::rules
