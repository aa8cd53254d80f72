#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "circolo/engine/challenges.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/coupons.hpp"
#include "circolo/engine/experiments.hpp"
#include "circolo/rules/ast.hpp"
#include "circolo/rules/checker.hpp"

namespace circolo::rules {

// A value of `attributes.NAME`: typed only at run time.
using Dyn = std::variant<std::monostate, bool, std::int64_t, Decimal, std::string>;
using Attributes = std::map<std::string, Dyn>;

struct Item {
  std::string sku, category, brand;
  std::int64_t quantity = 1;
  Decimal price;  // unit price, in the program currency
  Attributes attributes;
};

struct Event {
  // purchase, refund, visit, signup, a custom name; made by Circolo: challenge_completed,
  // tier_changed, referral_completed.
  std::string type;
  std::string channel;
  std::optional<std::string> store;
  engine::TimePoint time{};
  // A purchase: `total` is what the customer paid, `subtotal` the receipt total sent, `discount`
  // what the basket's coupons took off it (total = subtotal - discount). Other events: the
  // amount sent (a refund's: what it gives back) in total and subtotal, discount 0.
  Decimal total, subtotal, discount;
  std::vector<Item> items;
  std::vector<std::string> coupons;
  Attributes attributes;
};

struct MemberSnapshot {
  std::string id;
  std::string tier;
  Decimal multiplier{1, 0};
  std::vector<std::string> tags, badges;
  std::int64_t points = 0, lifetime_points = 0, purchases = 0;
  engine::TimePoint joined{};
  std::optional<Date> birthday;
  Attributes attributes;
  // From the member's interest profile, as it was before the event (none: nothing learnt).
  std::optional<std::int64_t> days_since_purchase;
  std::optional<std::string> preferred_channel, preferred_store;
  Decimal spend_30d, spend_90d, spend_365d;  // in the program currency
  // member.affinity(kind, key): the share of the member's interest, 0 to 1 (4 places).
  std::function<Decimal(std::string_view kind, const std::string& key)> affinity;
  // The segments of the program it is in, sorted (before this event).
  std::vector<std::string> segments;
};

// Counts that limits and budgets are checked against: the caller reads them from storage (and
// applies the increments of an evaluation atomically with its effects).
struct Counters {
  std::map<std::string, std::int64_t> firings;      // limit_key(...) -> rule firings so far
  std::map<std::string, std::int64_t> budget_used;  // campaign id -> points awarded so far
  std::set<std::string> paused;                     // campaigns an admin paused: inactive
};

// The key of a limit's counter for the period that contains `time` (program time zone):
// "weekend-double/weekend/member:mem_1/day:2026-12-05".
std::string limit_key(const std::string& campaign, const std::string& rule, const Limit& limit,
                      const std::string& member_id, const std::string& period);

enum class EffectKind { award, issue_coupon, progress_challenge, grant_badge, tag, untag, notify };

struct Effect {
  EffectKind kind = EffectKind::award;
  std::string campaign, rule;
  std::int64_t points = 0;  // award; progress "by"
  std::optional<engine::TimePoint> pending_until, expires_at;
  std::string target;     // coupon, challenge, badge, tag
  std::string message;    // notify, interpolated
  std::string challenge;  // set on the effects of completing a challenge (campaign is empty)
};

// An event that counts toward a challenge: what it adds (count: 1, sum: the expression in
// the challenge's scale) and its value (distinct: the expression as text).
struct ChallengeHit {
  std::string challenge;
  std::int64_t amount = 1;
  std::string key;
};

struct TraceEntry {
  std::string campaign, rule;
  bool fired = false;
  // "fired", or why not: inactive, channel, trigger, condition, limit, budget, exclusive,
  // runtime_error, audience (the member is in none of the campaign's segments), control (the member
  // is held out of the campaign's experiment).
  std::string reason;
  std::string detail;
};

// An experiment campaign the event was in scope of (active, its channel, not paused): the
// member's arm, and what the campaign's rules would have given a control member.
struct Exposure {
  std::string campaign, arm;
  std::int64_t withheld_points = 0, withheld_coupons = 0;
};

struct Evaluation {
  std::vector<Effect> effects;
  std::vector<Exposure> exposures;
  std::vector<TraceEntry> trace;
  // Rules that matched but a limit or budget stopped (reason "limit" or "budget", no detail),
  // with or without the trace: backtests count them.
  std::vector<TraceEntry> stopped;
  std::map<std::string, std::int64_t> firings_added;  // limit keys to increment
  std::map<std::string, std::int64_t> budget_added;   // campaign (with a budget) -> points awarded
  // What each counter above may reach: the limit's count, the campaign's budget. The decisions
  // stay right as long as stored + added <= cap (counters only grow: a rule refused stays so).
  std::map<std::string, std::int64_t> limit_caps, budget_caps;
  // Budgets a control member's rule consulted without spending them: to be read as well.
  std::set<std::string> budgets_read;
};

// Limit keys of what control held back start with this (counted apart from what was given).
inline constexpr std::string_view kHeldBackPrefix = "held:";

class CompiledProgram;

struct CompileResult {
  std::shared_ptr<const CompiledProgram> program;  // null when there are errors
  std::vector<Diagnostic> diagnostics;             // syntax and check errors, and warnings
};

// Parse, check and compile. The compiled program is immutable and shared between threads.
CompileResult compile(const Source& source, const Limits& limits = {});

class CompiledProgram {
 public:
  // Effects in a deterministic order (campaign priority, then file order; actions in rule order)
  // and a trace entry for every rule of every campaign.
  // `with_trace` false skips building the trace (the event path needs effects only).
  Evaluation evaluate(const Event& event, const MemberSnapshot& member, const Counters& counters,
                      bool with_trace = true) const;

  const ProgramFile& file() const { return *file_; }
  int currency_digits() const { return currency_digits_; }
  const std::string& currency() const { return currency_; }
  const std::string& timezone() const { return timezone_; }
  // The local period containing `time` ("2026-12-05", "2026-W49", "2026-12", "ever").
  std::string period(LimitPeriod period, engine::TimePoint time) const;

  // Tiers in ascending threshold order, with the defaults filled in.
  struct Tier {
    std::string id, name;
    std::int64_t threshold = 0;
    Duration window{365, Unit::days, {}};
    Decimal multiplier{1, 0};
  };
  const std::vector<Tier>& tiers() const { return tiers_; }
  // Coupon templates: the terms a code is issued with, its lifetime and uses.
  struct CouponTemplate {
    std::string id, name;
    engine::coupons::Terms terms;
    Duration valid{30, Unit::days, {}};
    int uses = 1;
  };
  const std::map<std::string, CouponTemplate>& coupon_templates() const { return coupons_; }
  // The reward catalog, in file order.
  struct Reward {
    std::string id, name, coupon;
    std::int64_t cost = 0;
    std::optional<std::int64_t> stock;
  };
  const std::vector<Reward>& rewards() const { return rewards_; }
  // Challenges in file order, with what the runtime needs to decide their goals.
  struct Challenge {
    std::string id, name;
    engine::challenges::Goal goal;
    int scale = 0;  // sum goals: amounts and target in 10^-scale units (the currency's digits)
    std::optional<Duration> within;
    std::optional<engine::TimePoint> from, until;  // active [from, until)
    bool repeatable = false;
    Unit streak_unit = Unit::weeks;
    std::string goal_text;  // "distinct event.channel reaches 3"
    std::string on_text;    // "purchase when event.total >= 10.00"
    // Identifies the goal and what counts toward it: progress is kept across program versions
    // while it is unchanged.
    std::string digest;
  };
  const std::vector<Challenge>& challenges() const { return challenges_; }
  // Campaigns in file order: when they run ([from, until), local midnights) and their budget.
  struct Campaign {
    std::string id, name;
    std::optional<engine::TimePoint> from, until;
    std::optional<std::int64_t> budget;  // points
    // Its experiment's arms in assignment order (engine::experiments::arms); empty: none.
    std::vector<engine::experiments::Arm> arms;
  };
  const std::vector<Campaign>& campaigns() const { return campaigns_; }
  // The referral declaration: when a referral qualifies and what bounds it (none: the program
  // has no referrals).
  struct Referral {
    std::string name;     // "" when the declaration has none
    std::string on_text;  // "purchase when event.total >= 20.00" (formatter text, as Challenge)
    std::optional<Duration> within, hold;
    std::optional<std::int64_t> limit;  // completed referrals per referrer per period
    LimitPeriod limit_period = LimitPeriod::ever;
  };
  const std::optional<Referral>& referral() const { return referral_; }
  // Whether `event` qualifies a referral of `member` (the referee): the trigger matches and the
  // condition holds; a runtime error in the condition means it does not qualify.
  bool referral_qualifies(const Event& event, const MemberSnapshot& member) const;

  // Every custom event type the program names, sorted: declared (`event "NAME"`) or in a rule's
  // or a challenge's `on event "NAME"`, or the referral's `qualify on event "NAME"`. The custom
  // types POST /v1/events accepts: never a built-in or Circolo-made type (or a case variant).
  const std::vector<std::string>& event_types() const { return event_types_; }
  bool names_event_type(const std::string& type) const;
  // What a custom event's items are worth to the member's interests (its declaration's
  // `interest`), 0 when it has none.
  double interest_weight(const std::string& type) const {
    const auto it = interest_weights_.find(type);
    return it == interest_weights_.end() ? 0.0 : it->second;
  }
  // Segments in file order.
  struct Segment {
    std::string id, name;
    bool is_static = false;
    std::string condition;  // the `when` as the formatter writes it ("" when static)
    // Identifies the condition: members are re-evaluated when it changes.
    std::string digest;
  };
  const std::vector<Segment>& segments() const { return segments_; }
  const Segment* segment(const std::string& id) const;
  // The dynamic segments whose condition holds for `member` at `now`, sorted (a runtime error
  // in a condition means the member is not in it).
  std::vector<std::string> segments_of(const MemberSnapshot& member, engine::TimePoint now) const;
  // The same for one segment (false for a static or unknown one).
  bool in_segment(const std::string& id, const MemberSnapshot& member, engine::TimePoint now) const;

  const Challenge* challenge(const std::string& id) const;
  // The challenges that count `event` (trigger, condition, active at the event's time). A
  // runtime error in a condition or goal expression means the event does not count.
  std::vector<ChallengeHit> challenge_hits(const Event& event, const MemberSnapshot& member) const;
  // `progress challenge "ID" by N` as a hit: N for count and sum goals (sum in the challenge's
  // scale), the goal's value of this event for distinct goals. None when it cannot count.
  std::optional<ChallengeHit> explicit_hit(const std::string& challenge, std::int64_t by,
                                           const Event& event, const MemberSnapshot& member) const;
  // The effects of completing a challenge: its `then` actions for this event and member.
  std::vector<Effect> completion_effects(const std::string& challenge, const Event& event,
                                         const MemberSnapshot& member) const;
  // The calendar period ("day", "week" from Monday, "month", "year") containing `time` in the
  // program's time zone: its name ("day:2026-11-22", "week:2026-11-16", "month:2026-11",
  // "year:2026") and its first and last-plus-one instants.
  struct CalendarPeriod {
    std::string key;
    engine::TimePoint from{}, until{};
  };
  std::optional<CalendarPeriod> calendar_period(const std::string& kind,
                                                engine::TimePoint time) const;
  // The calendar period index (local days, or weeks from Monday) of a time: for streaks.
  std::int64_t period_index(Unit unit, engine::TimePoint time) const;

  // `from` plus a duration (calendar arithmetic in the program zone): a coupon's expiry.
  engine::TimePoint after(const Duration& duration, engine::TimePoint from) const;
  // When points earned at `from` expire by the program's `points_expire` (none: never).
  std::optional<engine::TimePoint> default_expiry(engine::TimePoint from) const;
  // The start of a rolling window that ends at `end` (calendar arithmetic in the program zone).
  engine::TimePoint window_start(const Duration& window, engine::TimePoint end) const;

  struct Impl;

 private:
  friend CompileResult compile(const Source&, const Limits&);
  CompiledProgram() = default;
  std::unique_ptr<ProgramFile> file_;
  std::shared_ptr<Impl> impl_;
  int currency_digits_ = 2;
  std::string currency_ = "EUR";
  std::string timezone_ = "UTC";
  std::vector<Tier> tiers_;
  std::map<std::string, CouponTemplate> coupons_;
  std::vector<Reward> rewards_;
  std::vector<Challenge> challenges_;
  std::vector<Campaign> campaigns_;
  std::optional<Referral> referral_;
  std::vector<std::string> event_types_;
  std::map<std::string, double> interest_weights_;
  std::vector<Segment> segments_;
};

}  // namespace circolo::rules
