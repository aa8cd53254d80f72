#include "circolo/rules/checker.hpp"

#include <date/tz.h>

#include <algorithm>
#include <map>
#include <set>

#include "circolo/engine/money.hpp"
#include "circolo/rules/format.hpp"

namespace circolo::rules {

namespace {

struct Field {
  const char* name;
  TypeInfo type;
};

const std::vector<Field> kEventFields{{"type", {Type::string}},
                                      {"channel", {Type::string}},
                                      {"store", {Type::string, Type::error, true}},
                                      {"time", {Type::time}},
                                      {"total", {Type::money}},
                                      {"subtotal", {Type::money}},
                                      {"discount", {Type::money}},
                                      {"items", {Type::list, Type::item}},
                                      {"coupons", {Type::list, Type::string}},
                                      {"attributes", {Type::attributes}}};
const std::vector<Field> kItemFields{{"sku", {Type::string}},   {"category", {Type::string}},
                                     {"brand", {Type::string}}, {"quantity", {Type::integer}},
                                     {"price", {Type::money}},  {"attributes", {Type::attributes}}};
const std::vector<Field> kMemberFields{{"id", {Type::string}},
                                       {"tier", {Type::string}},
                                       {"multiplier", {Type::decimal}},
                                       {"tags", {Type::list, Type::string}},
                                       {"badges", {Type::list, Type::string}},
                                       {"points", {Type::integer}},
                                       {"lifetime_points", {Type::integer}},
                                       {"purchases", {Type::integer}},
                                       {"joined", {Type::time}},
                                       {"birthday", {Type::date, Type::error, true}},
                                       {"attributes", {Type::attributes}},
                                       // From the interest profile (before this event).
                                       {"days_since_purchase", {Type::integer, Type::error, true}},
                                       {"preferred_channel", {Type::string, Type::error, true}},
                                       {"preferred_store", {Type::string, Type::error, true}},
                                       {"spend_30d", {Type::money}},
                                       {"spend_90d", {Type::money}},
                                       {"spend_365d", {Type::money}},
                                       // The segments it is in (before this event).
                                       {"segments", {Type::list, Type::string}}};

const std::vector<std::string> kWeekdays{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
const std::vector<std::string> kFunctions{"floor", "ceil",    "round", "min",  "max",
                                          "abs",   "weekday", "hour",  "date", "days_since",
                                          "has",   "count",   "sum",   "any",  "all"};

const std::vector<Field>* fields_of(Type t) {
  switch (t) {
    case Type::event:
      return &kEventFields;
    case Type::item:
      return &kItemFields;
    case Type::member:
      return &kMemberFields;
    default:
      return nullptr;
  }
}

bool numeric(Type t) {
  return t == Type::integer || t == Type::decimal || t == Type::money || t == Type::dyn;
}

std::vector<std::string> names(const std::vector<Field>& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields) out.emplace_back(f.name);
  return out;
}

class Checker {
 public:
  explicit Checker(const Limits& limits) : limits_(limits) {}

  CheckResult run(const ProgramFile& f) {
    program(f);
    collect_ids(f);
    for (const auto& t : f.tiers) tier(t, f);
    for (const auto& c : f.coupons) coupon(c);
    for (const auto& r : f.rewards) reward(r);
    for (const auto& c : f.challenges) challenge(c);
    if (f.referral) referral(*f.referral);
    for (const auto& c : f.campaigns) campaign(c);
    for (const auto& e : f.events) event_type(e);
    for (const auto& s : f.segments) segment(s);
    custom_triggers(f);
    referral_triggers(f);

    std::stable_sort(result_.diagnostics.begin(), result_.diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       return a.range.begin.offset < b.range.begin.offset;
                     });
    if (result_.diagnostics.size() > limits_.max_errors)
      result_.diagnostics.resize(limits_.max_errors);
    return std::move(result_);
  }

 private:
  void error(Range r, std::string message, std::string suggestion = "") {
    result_.diagnostics.push_back({Severity::error, r, std::move(message), std::move(suggestion)});
  }
  void warning(Range r, std::string message, std::string suggestion = "") {
    result_.diagnostics.push_back(
        {Severity::warning, r, std::move(message), std::move(suggestion)});
  }
  static std::string did_you_mean(const std::string& s) {
    return s.empty() ? "" : "did you mean '" + s + "'?";
  }

  void program(const ProgramFile& f) {
    if (!f.program) return;
    const auto& p = *f.program;
    if (p.currency) {
      if (auto digits = engine::currency_digits(*p.currency))
        result_.currency_digits = *digits;
      else
        error(p.currency_range,
              "'" + *p.currency +
                  "' is not a currency this program knows (use an ISO 4217 code such as \"EUR\")");
    }
    if (p.timezone) {
      try {
        (void)date::locate_zone(*p.timezone);
      } catch (const std::exception&) {
        error(p.timezone_range,
              "'" + *p.timezone + "' is not an IANA time zone, such as \"Europe/Rome\"");
      }
    }
    if (p.points_expire) positive(*p.points_expire, "points_expire");
  }

  // The first word of a declaration's range (which spans its whole block).
  static Range keyword(Range r, std::string_view word) {
    r.end = r.begin;
    r.end.offset += static_cast<std::uint32_t>(word.size());
    r.end.column += static_cast<std::uint32_t>(word.size());
    return r;
  }

  void positive(const Duration& d, const std::string& what) {
    if (d.amount <= 0)
      error(d.range, what + " must be at least 1 " + (d.unit == Unit::days ? "day" : "unit"));
  }

  void money(const Decimal& d, Range r, const std::string& what) {
    if (d.mantissa < 0) error(r, what + " must not be negative");
    if (d.scale > result_.currency_digits) {
      // Trailing zeros beyond the currency's digits are harmless.
      std::int64_t m = d.mantissa;
      bool exact = true;
      for (int s = d.scale; s > result_.currency_digits; --s) {
        if (m % 10 != 0) exact = false;
        m /= 10;
      }
      if (!exact) {
        error(r, what + " " + format_decimal(d) + " has more than " +
                     std::to_string(result_.currency_digits) +
                     " decimal places for the program's currency");
      }
    }
  }

  template <class Decl>
  void unique_ids(const std::vector<Decl>& decls, const char* kind, std::set<std::string>& ids) {
    for (const auto& d : decls) {
      if (d.id.empty()) continue;
      if (!ids.insert(d.id).second)
        error(d.id_range, std::string(kind) + " \"" + d.id + "\" is declared twice");
    }
  }

  void collect_ids(const ProgramFile& f) {
    unique_ids(f.tiers, "tier", tiers_);
    unique_ids(f.coupons, "coupon", coupons_);
    unique_ids(f.rewards, "reward", rewards_);
    unique_ids(f.challenges, "challenge", challenges_);
    unique_ids(f.campaigns, "campaign", campaigns_);
    unique_ids(f.events, "event", events_);
    unique_ids(f.segments, "segment", segments_);
  }

  void reference(const std::set<std::string>& ids, const std::string& id, Range r,
                 const char* kind) {
    if (id.empty() || ids.count(id)) return;
    const std::vector<std::string> candidates(ids.begin(), ids.end());
    error(r, std::string("there is no ") + kind + " \"" + id + "\" in this program",
          did_you_mean(nearest(id, candidates)));
  }

  void tier(const TierDecl& t, const ProgramFile& f) {
    if (!t.name) warning(t.id_range, "tier \"" + t.id + "\" has no name; members will see its id");
    if (!t.threshold)
      error(t.id_range, "tier \"" + t.id + "\" needs a threshold (qualifying points)");
    else if (*t.threshold < 0)
      error(t.id_range, "a tier threshold must not be negative");
    if (t.window) positive(*t.window, "window");
    if (t.multiplier && t.multiplier->mantissa <= 0)
      error(t.id_range, "a tier multiplier must be positive");
    for (const auto& other : f.tiers) {
      if (&other == &t) break;
      if (other.threshold && t.threshold && *other.threshold == *t.threshold) {
        error(t.id_range, "tiers \"" + other.id + "\" and \"" + t.id +
                              "\" have the same threshold; a member could not be in one");
      }
    }
  }

  void coupon(const CouponDecl& c) {
    if (!c.discount_amount && !c.discount_percent)
      error(c.id_range, "coupon \"" + c.id + "\" needs a discount (5.00 or 10%)");
    if (c.discount_percent) {
      const auto& p = *c.discount_percent;
      std::int64_t hundred = 100;
      for (int k = 0; k < p.scale; ++k) hundred *= 10;
      if (p.mantissa <= 0) error(c.discount_range, "a percentage discount must be more than 0%");
      if (p.mantissa > hundred) error(c.discount_range, "a discount cannot be more than 100%");
      if (p.scale > 4)
        error(c.discount_range, "a percentage takes at most four decimals, as in 12.5%");
    }
    if (c.discount_amount) {
      money(*c.discount_amount, c.discount_range, "the discount");
      if (c.discount_amount->mantissa == 0)
        error(c.discount_range, "a discount of 0 gives nothing");
      if (c.max_discount) {
        error(c.max_discount_range,
              "max_discount caps a percentage discount; this coupon's discount is an amount");
      }
    }
    if (c.max_discount) money(*c.max_discount, c.max_discount_range, "max_discount");
    if (c.min_total) money(*c.min_total, c.id_range, "min_total");
    if (!c.valid)
      error(c.id_range, "coupon \"" + c.id + "\" needs a lifetime, as in valid 30 days");
    else
      positive(*c.valid, "valid");
    if (c.uses && *c.uses < 1) error(c.id_range, "uses must be at least 1");
    if (c.uses && *c.uses > 1'000'000) error(c.id_range, "uses must be at most 1000000");
  }

  void reward(const RewardDecl& r) {
    if (!r.cost)
      error(r.id_range, "reward \"" + r.id + "\" needs a cost, as in cost 300 points");
    else if (*r.cost <= 0)
      error(r.id_range, "a reward must cost at least 1 point");
    if (!r.coupon)
      error(r.id_range,
            "reward \"" + r.id + "\" needs the coupon it issues, as in coupon \"COFFEE\"");
    else
      reference(coupons_, *r.coupon, r.coupon_range, "coupon");
    if (r.stock && *r.stock < 0) error(r.id_range, "stock must not be negative");
  }

  void active(const std::optional<Active>& a) {
    if (!a || !a->from || !a->until) return;
    const auto key = [](const Date& d) { return d.year * 10000 + d.month * 100 + d.day; };
    if (key(*a->from) >= key(*a->until))
      error(a->range, "'until' must come after 'from': this is never active");
  }

  void actions(const std::vector<Action>& list, bool in_challenge) {
    for (const auto& a : list) {
      switch (a.kind) {
        case ActionKind::award: {
          const auto t = expr(a.amount.get(), nullptr);
          if (t.type != Type::error && t.type != Type::integer && t.type != Type::dyn) {
            error(a.amount ? a.amount->range : a.range,
                  "award needs a whole number of points, not " + type_name(t),
                  "use floor(), ceil() or round()");
          }
          if (a.pending) positive(*a.pending, "pending");
          if (a.expiring) positive(*a.expiring, "expiring");
          break;
        }
        case ActionKind::issue_coupon:
          reference(coupons_, a.target, a.target_range, "coupon");
          break;
        case ActionKind::progress_challenge:
          reference(challenges_, a.target, a.target_range, "challenge");
          if (in_challenge)
            error(a.range, "a challenge cannot progress a challenge in its own 'then'");
          if (a.amount) {
            const auto t = expr(a.amount.get(), nullptr);
            if (t.type != Type::error && t.type != Type::integer && t.type != Type::dyn)
              error(a.amount->range, "progress 'by' needs a whole number, not " + type_name(t));
          }
          break;
        case ActionKind::grant_badge:
        case ActionKind::tag:
        case ActionKind::untag:
          if (a.target.empty() || a.target.size() > 64)
            error(a.target_range, "a name of 1 to 64 characters");
          break;
        case ActionKind::notify:
          for (const auto& part : a.message) {
            if (part.expr) expr(part.expr.get(), nullptr);
          }
          break;
      }
    }
  }

  void condition(const Expr* e) {
    if (!e) return;
    const auto t = expr(e, nullptr);
    if (t.type != Type::error && t.type != Type::boolean && t.type != Type::dyn)
      error(e->range, "a condition must be true or false, not " + type_name(t));
  }

  void challenge(const ChallengeDecl& c) {
    if (!c.on)
      error(c.id_range,
            "challenge \"" + c.id + "\" needs 'on' and the events that count, as in on purchase");
    condition(c.when.get());
    if (!c.goal) {
      error(c.id_range, "challenge \"" + c.id + "\" needs a goal, as in goal count reaches 3");
    } else {
      const auto& g = *c.goal;
      if (g.target.mantissa <= 0) error(g.range, "a goal must be more than 0");
      if (g.kind != GoalKind::sum && g.target.scale != 0)
        error(g.range, "this goal counts: use a whole number");
      if (g.expr) {
        const auto t = expr(g.expr.get(), nullptr);
        if (g.kind == GoalKind::sum && t.type != Type::error && !numeric(t.type))
          error(g.expr->range, "sum needs a number, not " + type_name(t));
      }
    }
    if (c.within) positive(*c.within, "within");
    active(c.active);
    if (c.then.empty())
      error(c.id_range, "challenge \"" + c.id + "\" needs 'then' and what completing it gives");
    actions(c.then, true);
  }

  // referral { qualify on TRIGGER [when EXPR] within D hold D limit N per referrer [per P] }:
  // the referee's own event qualifies it, so only the events touchpoints send can.
  void referral(const ReferralDecl& r) {
    if (!r.on) {
      // A `qualify` whose trigger did not parse has its syntax error already.
      if (r.qualify_range.begin.offset == 0)
        error(keyword(r.range, "referral"),
              "a referral needs 'qualify' and the referee's event that completes it, as in "
              "qualify on purchase when event.total >= 20.00");
    } else {
      const auto& on = *r.on;
      // The type it waits for (`on event "tier_changed"` is `on tier_changed`).
      const std::string type(rules::event_type(on));
      const std::string hint = "a referral qualifies on purchase, visit, signup or event \"NAME\"";
      if (type == "refund") {
        error(on.range, "a refund cannot qualify a referral: it takes a purchase back", hint);
      } else if (type == "challenge_completed" || type == "tier_changed" ||
                 type == "referral_completed") {
        error(on.range,
              "'" + type +
                  "' is an event Circolo makes and cannot qualify a referral: the referee's own "
                  "event does",
              hint);
      } else if (r.hold && type != "purchase") {
        warning(r.hold->range,
                "hold takes a referral back when its qualifying purchase is refunded; only a "
                "purchase can be");
      }
    }
    condition(r.when.get());
    if (r.within) positive(*r.within, "within");
    if (r.hold) positive(*r.hold, "hold");
    if (r.limit && r.limit->count < 1)
      error(r.limit->range, "a limit of 0 means no referral ever completes; remove the referral");
  }

  // Rules and challenges `on referral_completed` wait for an event that only a program with a
  // referral declaration makes.
  void referral_triggers(const ProgramFile& f) {
    if (f.referral) return;
    auto check_one = [&](const std::optional<Trigger>& on) {
      if (on && rules::event_type(*on) == "referral_completed")
        warning(on->range, "no referral declaration: referral_completed never happens",
                "declare when a referral qualifies with referral { qualify on purchase }");
    };
    for (const auto& c : f.challenges) check_one(c.on);
    for (const auto& c : f.campaigns) {
      for (const auto& r : c.rules) check_one(r.on);
    }
  }

  // event "NAME": a custom type that touchpoints may send (POST /v1/events refuses the custom
  // types no declaration, rule or challenge names), so it must be one they can send.
  void event_type(const EventDecl& e) {
    if (e.id.empty()) return;
    if (const auto builtin = builtin_type_like(e.id); !builtin.empty()) {
      error(
          e.id_range,
          builtin == e.id ? "'" + e.id + "' is a built-in event type: it needs no declaration"
                          : "'" + e.id + "' would be confused with the built-in event type '" +
                                builtin + "' (event types are exact)",
          builtin == e.id && builtin != "referral_reversed" ? "rules take it with on " + e.id : "");
    } else if (!sendable_type(e.id)) {
      error(e.id_range,
            "an event type is letters, digits, '_', '.' and '-', starting with a letter or '_'");
    }
    if (e.interest) {
      const auto& w = *e.interest;
      std::int64_t one = 1;
      for (int s = 0; s < w.scale; ++s) one *= 10;
      if (w.mantissa <= 0 || w.mantissa > one)
        error(e.id_range, "an event's interest weight is more than 0 and at most 1 (a purchase)");
    }
  }

  // segment "ID" { when EXPR } or { static }: the condition is about the member alone, since
  // membership is kept between events (and re-evaluated by a job when time alone changes it).
  void segment(const SegmentDecl& s) {
    if (s.is_static && s.when) {
      error(s.static_range,
            "a static segment is an uploaded list: remove 'when', or 'static' to follow the "
            "condition");
    } else if (!s.is_static && !s.when) {
      error(s.id_range, "segment \"" + s.id +
                            "\" needs 'when' and a condition on the member, as in when "
                            "member.tier == \"gold\", or 'static' for an uploaded list");
    }
    if (!s.name)
      warning(s.id_range, "segment \"" + s.id + "\" has no name; marketing will see its id");
    in_segment_ = true;
    condition(s.when.get());
    in_segment_ = false;
  }

  // `on event "NAME"` needs no declaration, but a name that touchpoints cannot send, or a near
  // miss of a declared one, never fires.
  void custom_triggers(const ProgramFile& f) {
    auto check_one = [&](const std::optional<Trigger>& on) {
      if (!on || on->kind != TriggerKind::custom || on->custom.empty()) return;
      const auto& name = on->custom;
      if (const auto builtin = builtin_type_like(name); !builtin.empty() && builtin != name) {
        warning(on->range, "touchpoints cannot send '" + name + "' (event types are exact)",
                "did you mean on " + builtin + "?");
      } else if (builtin.empty() && !sendable_type(name)) {
        warning(on->range, "touchpoints cannot send '" + name +
                               "': an event type is letters, digits, '_', '.' and '-'");
      } else if (builtin.empty() && !events_.empty() && !events_.count(name)) {
        const std::vector<std::string> declared(events_.begin(), events_.end());
        const auto near = nearest(name, declared);
        if (!near.empty())
          warning(on->range, "event type '" + name + "' is not declared", did_you_mean(near));
      }
    };
    for (const auto& c : f.challenges) check_one(c.on);
    for (const auto& c : f.campaigns) {
      for (const auto& r : c.rules) check_one(r.on);
    }
    if (f.referral) check_one(f.referral->on);
  }

  // What POST /v1/events accepts as a custom type: [A-Za-z_][A-Za-z0-9_.-]{0,63}.
  static bool sendable_type(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    auto letter = [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
    };
    if (!letter(name.front())) return false;
    return std::all_of(name.begin(), name.end(), [&](char ch) {
      return letter(ch) || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
    });
  }

  // A share in hundredths of a percent (members are split into 10,000 buckets); -1 when it is
  // not a share (an error is reported).
  std::int64_t share(const Decimal& d, const Range& range, const char* what) {
    if (d.scale > 2) {
      error(range, std::string(what) + " takes at most two decimals, as in 12.5%");
      return -1;
    }
    std::int64_t e2 = d.mantissa;
    bool overflow = false;
    for (int k = d.scale; k < 2; ++k) overflow = overflow || __builtin_mul_overflow(e2, 10, &e2);
    if (overflow || e2 <= 0 || e2 >= 10000) {
      error(range, std::string(what) + " must be more than 0% and less than 100%");
      return -1;
    }
    return e2;
  }

  void experiment(const ExperimentDecl& e) {
    std::int64_t total = 0;
    if (!e.control)
      error(e.range, "an experiment needs a control group, as in control 10%",
            "control members are evaluated as usual and given nothing: the comparison");
    else if (const auto c = share(*e.control, e.control_range, "the control share"); c > 0)
      total += c;
    std::set<std::string> ids;
    for (const auto& v : e.variants) {
      if (v.id.empty() || v.id.size() > 64)
        error(v.id_range, "a variant's id is 1 to 64 characters");
      else if (v.id == "control" || v.id == "treatment")
        error(v.id_range, "'" + v.id + "' names an arm already",
              "the campaign's own actions are the arm \"treatment\"; pick another id");
      else if (!ids.insert(v.id).second)
        error(v.id_range, "variant \"" + v.id + "\" is declared twice in this experiment");
      if (const auto s = v.share ? share(*v.share, v.share_range, "a variant's share") : -1;
          s > 0) {
        const bool within = total <= 10000;
        total += s;
        if (within && total > 10000)
          error(v.share_range, "the control and the variants add up to more than 100%");
      }
      if (v.then.empty())
        error(v.id_range, "variant \"" + v.id + "\" needs 'then' and at least one action",
              "its actions replace the campaign's when one of its rules fires");
      actions(v.then, false);
    }
  }

  void campaign(const CampaignDecl& c) {
    active(c.active);
    if (c.budget && *c.budget <= 0)
      error(c.id_range, "a budget of 0 points means the campaign never awards anything");
    if (c.rules.empty())
      warning(c.id_range, "campaign \"" + c.id + "\" has no rules and does nothing");
    if (c.experiment) experiment(*c.experiment);
    for (const auto& id : c.audience) reference(segments_, id, c.audience_range, "segment");
    std::set<std::string> rule_ids;
    for (const auto& r : c.rules) {
      if (!r.id.empty() && !rule_ids.insert(r.id).second)
        error(r.id_range, "rule \"" + r.id + "\" is declared twice in campaign \"" + c.id + "\"");
      if (!r.on) error(r.id_range, "rule \"" + r.id + "\" needs a trigger, as in on purchase");
      if (r.then.empty())
        error(r.id_range, "rule \"" + r.id + "\" needs 'then' and at least one action");
      condition(r.when.get());
      actions(r.then, false);
      for (const auto& l : r.limits) {
        if (l.count < 1)
          error(l.range, "a limit of 0 means the rule never fires; remove the rule instead");
      }
      if (r.on && r.on->kind == TriggerKind::refund) {
        for (const auto& a : r.then) {
          if (a.kind == ActionKind::award)
            warning(
                a.range,
                "awarding points on a refund: refunds already take back what the purchase earned");
        }
      }
    }
  }

  // ---- expressions ----
  TypeInfo set(const Expr* e, TypeInfo t) {
    result_.types[e] = t;
    return t;
  }
  TypeInfo bad(const Expr* e) { return set(e, {Type::error}); }

  TypeInfo expr(const Expr* e, const TypeInfo* element) {
    if (e == nullptr) return {Type::error};
    switch (e->kind) {
      case ExprKind::integer:
        return set(e, {Type::integer});
      case ExprKind::decimal:
        return set(e, {Type::decimal});
      case ExprKind::string:
        return set(e, {Type::string});
      case ExprKind::boolean:
        return set(e, {Type::boolean});
      case ExprKind::date:
        return set(e, {Type::date});
      case ExprKind::list: {
        TypeInfo elem{Type::error};
        for (const auto& a : e->args) {
          const auto t = expr(a.get(), element);
          if (t.type == Type::error) continue;
          if (elem.type == Type::error)
            elem = t;
          else if (!compatible(elem.type, t.type)) {
            error(a->range, "a list holds one type: this is " + type_name(t) +
                                ", the first element " + type_name(elem));
          } else if (elem.type == Type::integer && t.type != Type::integer) {
            elem = t;
          }
        }
        return set(e, {Type::list, elem.type});
      }
      case ExprKind::name: {
        if (e->text == "event" && in_segment_) {
          error(e->range,
                "a segment's condition is about the member alone: 'event' is not known here",
                "membership is kept between events; use member fields such as "
                "member.days_since_purchase");
          return bad(e);
        }
        if (e->text == "event") return set(e, {Type::event});
        if (e->text == "member") return set(e, {Type::member});
        if (element && element->type == Type::item) {
          for (const auto& f : kItemFields) {
            if (e->text == f.name) return set(e, f.type);
          }
        }
        if (std::find(kWeekdays.begin(), kWeekdays.end(), e->text) != kWeekdays.end())
          return set(e, {Type::weekday});
        std::vector<std::string> candidates{"event", "member"};
        candidates.insert(candidates.end(), kWeekdays.begin(), kWeekdays.end());
        if (element && element->type == Type::item) {
          for (const auto& f : kItemFields) candidates.emplace_back(f.name);
        }
        std::string hint = did_you_mean(nearest(e->text, candidates));
        if (hint.empty() && !element) {
          for (const auto& f : kItemFields) {
            if (e->text == f.name)
              hint =
                  "item fields are in scope inside any(), all(), sum() and 'where' over "
                  "event.items";
          }
        }
        error(e->range, "unknown name '" + e->text + "'", hint);
        return bad(e);
      }
      case ExprKind::field: {
        const auto object = expr(e->args[0].get(), element);
        if (object.type == Type::error) return bad(e);
        if (object.type == Type::attributes || object.type == Type::dyn)
          return set(e, {Type::dyn, Type::error, true});
        const auto* fields = fields_of(object.type);
        if (!fields) {
          error(e->range, type_name(object) + " has no fields");
          return bad(e);
        }
        if (in_segment_ && object.type == Type::member && e->text == "segments") {
          error(e->range, "a segment's condition cannot depend on other segments",
                "write the other segment's condition here");
          return bad(e);
        }
        for (const auto& f : *fields) {
          if (e->text == f.name) return set(e, f.type);
        }
        error(e->range, type_name(object) + " has no field '" + e->text + "'",
              did_you_mean(nearest(e->text, names(*fields))));
        return bad(e);
      }
      case ExprKind::unary: {
        const auto t = expr(e->args[0].get(), element);
        if (t.type == Type::error) return bad(e);
        if (e->text == "not") {
          if (t.type != Type::boolean && t.type != Type::dyn) {
            error(e->range, "'not' needs true or false, not " + type_name(t));
            return bad(e);
          }
          return set(e, {Type::boolean});
        }
        if (!numeric(t.type)) {
          error(e->range, "'-' needs a number, not " + type_name(t));
          return bad(e);
        }
        return set(e, t);
      }
      case ExprKind::binary:
        return binary(e, element);
      case ExprKind::where: {
        const auto list = expr(e->args[0].get(), element);
        if (list.type == Type::error) {
          expr(e->args[1].get(), nullptr);
          return bad(e);
        }
        if (list.type != Type::list) {
          error(e->args[0]->range, "'where' filters a list, not " + type_name(list));
          return bad(e);
        }
        const TypeInfo elem{list.element};
        const auto pred = expr(e->args[1].get(), &elem);
        if (pred.type != Type::error && pred.type != Type::boolean && pred.type != Type::dyn)
          error(e->args[1]->range,
                "the filter after 'where' must be true or false, not " + type_name(pred));
        return set(e, list);
      }
      case ExprKind::call:
        return call(e, element);
    }
    return bad(e);
  }

  static bool compatible(Type a, Type b) {
    if (a == Type::dyn || b == Type::dyn) return true;
    if (numeric(a) && numeric(b)) return true;
    return a == b;
  }

  TypeInfo binary(const Expr* e, const TypeInfo* element) {
    const auto l = expr(e->args[0].get(), element);
    const auto r = expr(e->args[1].get(), element);
    if (l.type == Type::error || r.type == Type::error) return bad(e);
    const auto& op = e->text;
    if (op == "and" || op == "or") {
      for (const auto& [side, t] :
           {std::pair{e->args[0].get(), l}, std::pair{e->args[1].get(), r}}) {
        if (t.type != Type::boolean && t.type != Type::dyn) {
          error(side->range, "'" + op + "' joins true/false values, not " + type_name(t));
          return bad(e);
        }
      }
      return set(e, {Type::boolean});
    }
    if (op == "in") {
      if (r.type != Type::list) {
        error(e->args[1]->range, "'in' needs a list on its right, not " + type_name(r));
        return bad(e);
      }
      if (r.element != Type::error && !compatible(l.type, r.element)) {
        error(e->range,
              "'in' compares " + type_name(l) + " with a list of " + type_name({r.element}));
        return bad(e);
      }
      // "lapsed-gold" in member.segments: a segment the program declares.
      const Expr* list = e->args[1].get();
      if (e->args[0]->kind == ExprKind::string && list->kind == ExprKind::field &&
          list->text == "segments" && list->args[0]->kind == ExprKind::name &&
          list->args[0]->text == "member")
        reference(segments_, e->args[0]->text, e->args[0]->range, "segment");
      return set(e, {Type::boolean});
    }
    if (op == "==" || op == "!=") {
      if (!compatible(l.type, r.type)) {
        error(e->range, "cannot compare " + type_name(l) + " with " + type_name(r));
        return bad(e);
      }
      return set(e, {Type::boolean});
    }
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      const bool ordered =
          (numeric(l.type) && numeric(r.type)) ||
          (compatible(l.type, r.type) &&
           (l.type == Type::date || l.type == Type::time || l.type == Type::string ||
            l.type == Type::weekday || l.type == Type::dyn || r.type == Type::dyn));
      if (!ordered) {
        error(e->range,
              "cannot order " + type_name(l) + " and " + type_name(r) + " with '" + op + "'");
        return bad(e);
      }
      return set(e, {Type::boolean});
    }
    // Arithmetic.
    if (!numeric(l.type) || !numeric(r.type)) {
      error(e->range, "'" + op + "' needs numbers, not " + type_name(l) + " and " + type_name(r));
      return bad(e);
    }
    if (l.type == Type::dyn || r.type == Type::dyn) return set(e, {Type::dyn});
    if (op == "/") return set(e, {Type::decimal});
    if (op == "%") {
      if (l.type != Type::integer || r.type != Type::integer) {
        error(e->range, "'%' needs whole numbers, not " + type_name(l) + " and " + type_name(r));
        return bad(e);
      }
      return set(e, {Type::integer});
    }
    if (l.type == Type::money || r.type == Type::money) return set(e, {Type::money});
    if (l.type == Type::decimal || r.type == Type::decimal) return set(e, {Type::decimal});
    return set(e, {Type::integer});
  }

  TypeInfo call(const Expr* e, const TypeInfo* element) {
    const auto& f = e->text;
    const auto n = e->args.size();
    auto arity = [&](std::size_t lo, std::size_t hi, const char* shape) {
      if (n < lo || n > hi) {
        error(e->range, f + " takes " + shape + ", given " + std::to_string(n) + " argument" +
                            (n == 1 ? "" : "s"));
        for (const auto& a : e->args) expr(a.get(), element);
        return false;
      }
      return true;
    };
    if (f == "member.affinity") {
      // The share of the member's interest: a kind named in the program text, any key.
      if (!arity(2, 2, "a kind (\"category\", \"brand\" or \"product\") and a key")) return bad(e);
      const auto* kind = e->args[0].get();
      if (kind->kind != ExprKind::string ||
          (kind->text != "category" && kind->text != "brand" && kind->text != "product")) {
        error(kind->range,
              "member.affinity's first argument is \"category\", \"brand\" or "
              "\"product\"");
        expr(e->args[1].get(), element);
        return bad(e);
      }
      const auto key = expr(e->args[1].get(), element);
      if (key.type == Type::error) return bad(e);
      if (key.type != Type::string && key.type != Type::dyn) {
        error(e->args[1]->range, "member.affinity needs a string key, not " + type_name(key));
        return bad(e);
      }
      return set(e, {Type::decimal});
    }
    if (f.starts_with("member.")) {
      error(e->range, "the member has no function '" + f.substr(7) + "'",
            did_you_mean(nearest(f.substr(7), std::vector<std::string>{"affinity"})));
      for (const auto& a : e->args) expr(a.get(), element);
      return bad(e);
    }
    if (std::find(kFunctions.begin(), kFunctions.end(), f) == kFunctions.end()) {
      error(e->range, "unknown function '" + f + "'", did_you_mean(nearest(f, kFunctions)));
      for (const auto& a : e->args) expr(a.get(), element);
      return bad(e);
    }
    if (f == "floor" || f == "ceil" || f == "round" || f == "abs") {
      if (!arity(1, 1, "one number")) return bad(e);
      const auto t = expr(e->args[0].get(), element);
      if (t.type == Type::error) return bad(e);
      if (!numeric(t.type)) {
        error(e->args[0]->range, f + " needs a number, not " + type_name(t));
        return bad(e);
      }
      return set(e, f == "abs" ? t : TypeInfo{t.type == Type::dyn ? Type::dyn : Type::integer});
    }
    if (f == "min" || f == "max") {
      if (!arity(2, 16, "2 or more numbers")) return bad(e);
      TypeInfo out{Type::integer};
      for (const auto& a : e->args) {
        const auto t = expr(a.get(), element);
        if (t.type == Type::error) return bad(e);
        if (!numeric(t.type)) {
          error(a->range, f + " needs numbers, not " + type_name(t));
          return bad(e);
        }
        if (t.type == Type::money || (t.type == Type::decimal && out.type != Type::money) ||
            t.type == Type::dyn)
          out = t;
      }
      return set(e, out);
    }
    if (f == "weekday" || f == "hour" || f == "date" || f == "days_since") {
      if (!arity(1, 1, "one time")) return bad(e);
      const auto t = expr(e->args[0].get(), element);
      if (t.type == Type::error) return bad(e);
      const bool ok = t.type == Type::time || t.type == Type::dyn ||
                      (f == "days_since" && t.type == Type::date);
      if (!ok) {
        error(e->args[0]->range, f + " needs a time" +
                                     (f == "days_since" ? std::string(" or a date") : "") +
                                     ", not " + type_name(t));
        return bad(e);
      }
      if (f == "weekday") return set(e, {Type::weekday});
      if (f == "date") return set(e, {Type::date});
      return set(e, {Type::integer});
    }
    if (f == "has") {
      if (!arity(1, 1, "one field")) return bad(e);
      const auto t = expr(e->args[0].get(), element);
      if (t.type == Type::error) return bad(e);
      if (!t.optional)
        warning(e->range, "has(...) of a field that is always present is always true");
      return set(e, {Type::boolean});
    }
    if (f == "count") {
      if (!arity(1, 1, "one list")) return bad(e);
      const auto t = expr(e->args[0].get(), element);
      if (t.type == Type::error) return bad(e);
      if (t.type != Type::list) {
        error(e->args[0]->range, "count needs a list, not " + type_name(t));
        return bad(e);
      }
      return set(e, {Type::integer});
    }
    // sum, any, all: a list and an expression over its elements.
    if (!arity(2, 2, "a list and an expression over its elements")) return bad(e);
    const auto list = expr(e->args[0].get(), element);
    if (list.type == Type::error) {
      expr(e->args[1].get(), nullptr);
      return bad(e);
    }
    if (list.type != Type::list) {
      error(e->args[0]->range, f + " needs a list, not " + type_name(list));
      return bad(e);
    }
    const TypeInfo elem{list.element};
    const auto body = expr(e->args[1].get(), &elem);
    if (body.type == Type::error) return bad(e);
    if (f == "sum") {
      if (!numeric(body.type)) {
        error(e->args[1]->range, "sum adds numbers, not " + type_name(body));
        return bad(e);
      }
      return set(e, body);
    }
    if (body.type != Type::boolean && body.type != Type::dyn) {
      error(e->args[1]->range, f + " needs a condition (true or false), not " + type_name(body));
      return bad(e);
    }
    return set(e, {Type::boolean});
  }

  const Limits& limits_;
  CheckResult result_;
  std::set<std::string> tiers_, coupons_, rewards_, challenges_, campaigns_, events_, segments_;
  // Checking a segment's condition: it sees the member alone (no event, no other segments).
  bool in_segment_ = false;
};

}  // namespace

std::string type_name(const TypeInfo& t) {
  switch (t.type) {
    case Type::error:
      return "an invalid value";
    case Type::integer:
      return "int";
    case Type::decimal:
      return "decimal";
    case Type::money:
      return "money";
    case Type::string:
      return "string";
    case Type::boolean:
      return "bool";
    case Type::time:
      return "time";
    case Type::date:
      return "date";
    case Type::weekday:
      return "weekday";
    case Type::list:
      return t.element == Type::error ? "list" : "list<" + type_name({t.element}) + ">";
    case Type::event:
      return "event";
    case Type::member:
      return "member";
    case Type::item:
      return "item";
    case Type::attributes:
      return "attributes";
    case Type::dyn:
      return "dyn";
  }
  return "?";
}

std::string builtin_type_like(const std::string& name) {
  static const std::vector<std::string> kTypes{
      "purchase",
      "refund",
      "visit",
      "signup",
      "challenge_completed",
      "tier_changed",
      "referral_completed",
      "referral_reversed"};  // made by Circolo when a referral is taken back; no rule reacts
  std::string lower = name;
  for (auto& ch : lower) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  for (const auto& t : kTypes) {
    if (t == lower) return t;
  }
  return "";
}

bool CheckResult::ok() const {
  return std::none_of(diagnostics.begin(), diagnostics.end(),
                      [](const Diagnostic& d) { return d.severity == Severity::error; });
}

CheckResult check(const ProgramFile& file, const Limits& limits) {
  return Checker(limits).run(file);
}

}  // namespace circolo::rules
