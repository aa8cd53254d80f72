// The replay of a backtest: each recorded event decided with the draft program on the member's
// state in memory, the plan applied in memory the way db/ applies it, and both sides counted.
#include "circolo/engine/backtest.hpp"

#include <algorithm>

namespace circolo::engine::backtest {

namespace {

using nlohmann::json;

bool made_by_circolo(const std::string& type) {
  return type == event::kReferralCompleted || type == event::kReferralReversed;
}

Figures& at(std::map<std::string, Figures>& by, const std::string& key) {
  return by[key];
}

std::int64_t points_of(const CountedEffect& e) {
  return e.kind == CountedEffect::Kind::points ? e.points : 0;
}
std::int64_t points_of(const event::RuleEffect& e) {
  return e.kind == rules::EffectKind::award ? e.points : 0;
}
bool issues_coupon(const CountedEffect& e) {
  return e.kind == CountedEffect::Kind::coupon;
}
bool issues_coupon(const event::RuleEffect& e) {
  return e.kind == rules::EffectKind::issue_coupon;
}

}  // namespace

std::vector<CountedEffect> counted_effects(const json& effects) {
  std::vector<CountedEffect> out;
  out.reserve(effects.size());
  for (const auto& e : effects) {
    CountedEffect c;
    const auto campaign = e.find("campaign");
    if (campaign != e.end() && campaign->is_string()) {
      c.campaign = campaign->get<std::string>();
      c.rule = e.value("rule", "");
    }
    const auto type = e.find("type");
    if (type != e.end() && *type == "points_awarded") {
      c.kind = CountedEffect::Kind::points;
      c.points = e.value("points", 0LL);
    } else if (type != e.end() && *type == "coupon_issued") {
      c.kind = CountedEffect::Kind::coupon;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<CountedEffect> counted_effects(const std::vector<event::RuleEffect>& effects) {
  std::vector<CountedEffect> out;
  out.reserve(effects.size());
  for (const auto& e : effects) {
    CountedEffect c{e.campaign, e.rule, CountedEffect::Kind::other, 0};
    if (e.kind == rules::EffectKind::award) {
      c.kind = CountedEffect::Kind::points;
      c.points = e.points;
    } else if (e.kind == rules::EffectKind::issue_coupon) {
      c.kind = CountedEffect::Kind::coupon;
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Both sides counted alike: the recorded effects as read, the draft's as the decision left them
// (no copy into CountedEffects on the way).
template <class Effect>
void Replay::count(Side& side, const std::vector<Effect>& effects,
                   const std::vector<rules::TraceEntry>& trace, const std::string& day,
                   const std::string& channel, std::uint32_t member) const {
  std::set<std::string> fired;  // "campaign/rule": a rule fires once per event
  const auto touch = [&](Figures& f, bool firing, std::int64_t points, bool coupon) {
    if (firing) ++f.firings;
    f.points += points;
    if (coupon) ++f.coupons;
    f.members.insert(member);
  };
  for (const auto& e : effects) {
    if (e.campaign.empty()) continue;
    const auto& campaign = e.campaign;
    const auto rule = campaign + "/" + e.rule;
    const std::int64_t points = points_of(e);
    const bool coupon = issues_coupon(e);
    const bool firing = fired.insert(rule).second;
    touch(side.total, firing, points, coupon);
    touch(at(side.campaigns, campaign), firing, points, coupon);
    touch(at(side.rules, rule), firing, points, coupon);
    touch(at(side.days, day), firing, points, coupon);
    touch(at(side.channels, channel), firing, points, coupon);
  }
  for (const auto& t : trace) {
    if (t.reason != "limit" && t.reason != "budget") continue;
    for (auto* f : {&side.total, &at(side.campaigns, t.campaign),
                    &at(side.rules, t.campaign + "/" + t.rule)}) {
      if (t.reason == "limit")
        ++f->limit_refusals;
      else
        ++f->budget_refusals;
    }
  }
}

Replay::Replay(const rules::CompiledProgram& draft, TimePoint from, TimePoint until)
    : program_(draft), from_(from), until_(until) {}

event::MemberState Replay::take_state(Member& m, TimePoint now) const {
  auto s = std::move(m.state);
  s.balances = ledger::balances(m.lots, now);
  s.qualifying.clear();
  for (const auto& tier : program_.tiers()) {
    const auto start = program_.window_start(tier.window, now);
    // Movements are never later than `now` (recorded order): the sum from `start` on.
    const auto first = std::lower_bound(m.qualifying.begin(), m.qualifying.end(), start,
                                        [](const auto& q, TimePoint t) { return q.first < t; });
    const ledger::Points before = first == m.qualifying.begin() ? 0 : std::prev(first)->second;
    s.qualifying.push_back(m.qualifying.empty() ? 0 : m.qualifying.back().second - before);
  }
  // Trimming changes no progress (each goal looks at its own window), only the size of what is
  // copied and scanned: done every few events of the member.
  if (++m.events % 16 == 0) trim_challenges(s, now);
  return s;
}

void Replay::trim_challenges(event::MemberState& state, TimePoint now) const {
  for (const auto& c : program_.challenges()) {
    const auto it = state.challenges.find(c.id);
    if (it == state.challenges.end()) continue;
    std::optional<TimePoint> since;
    if (c.within) since = program_.window_start(*c.within, now);
    if (c.goal.kind == challenges::GoalKind::streak) {
      const rules::Duration back{
          std::min<std::int64_t>(c.goal.target, 10'000) + 1, c.streak_unit, {}};
      const auto streak_start = program_.window_start(back, now);
      since = since ? std::max(*since, streak_start) : streak_start;
    }
    if (!since) continue;
    auto& kept = it->second.contributions;
    kept.erase(std::remove_if(kept.begin(), kept.end(),
                              [&](const auto& contribution) { return contribution.at < *since; }),
               kept.end());
  }
}

std::uint32_t Replay::number_of(const std::string& member_id) {
  const auto [at, added] =
      numbers_.try_emplace(member_id, static_cast<std::uint32_t>(members_.size()));
  if (added) members_.emplace_back();
  return at->second;
}

void Replay::add(Recorded recorded) {
  const auto now = recorded.recorded_at;
  if (now >= until_) return;
  const bool in_period = now >= from_;
  std::string day;  // the local day the figures count it in
  if (in_period) {
    ++result_.events;
    if (const auto period = program_.calendar_period("day", now)) day = period->key.substr(4);
    count(result_.actual, recorded.effects, {}, day, recorded.event.channel,
          number_of(recorded.member_id));
  } else {
    ++result_.replayed_before;
  }
  // Referrals' side events are made by the decision of their cause, not replayed (the replay
  // keeps no referrals: their rewards count on the actual side only).
  if (made_by_circolo(recorded.event.type)) return;

  std::string member_id = recorded.member_id;
  const Purchase* bought = nullptr;
  if (recorded.original_event_id) {
    const auto it = purchases_.find(*recorded.original_event_id);
    if (it == purchases_.end()) {  // a purchase from before the history kept
      if (in_period) ++result_.refused;
      return;
    }
    bought = &it->second;
    member_id = bought->member_id;
  }
  const auto number = number_of(member_id);
  auto& m = members_[number];
  if (!m.seen) {
    m.seen = true;
    m.number = number;
    m.state.member.id = member_id;
    m.state.member.joined = recorded.event.time;
    m.state.member.tier = event::entry_tier(program_);
  }

  event::Request req;
  req.event_id = recorded.event_id;
  req.api_key_id = recorded.api_key_id;
  req.now = now;
  req.event = std::move(recorded.event);  // back after the decision
  req.order_id = recorded.order_id;
  req.total_minor = recorded.total_minor;
  req.original_event_id = recorded.original_event_id;
  req.refund_items = recorded.refund_items;
  req.render = false;  // counted from plan.rule_effects and plan.stopped
  req.new_id = [this](std::string_view prefix) {
    return std::string(prefix) + "_bt" + std::to_string(next_id_++);
  };

  event::Inputs inputs;
  inputs.member = take_state(m, now);
  if (bought) {
    event::RefundedPurchase r;
    r.event_id = *recorded.original_event_id;
    r.member_id = member_id;
    r.recorded_at = bought->recorded_at;
    r.purchase = bought->purchase;
    r.refund_receipts = bought->receipts;
    for (const auto& lot : m.lots) {
      if (lot.remaining > 0 || lot.source_event_id == r.event_id) r.lots.push_back(lot);
    }
    for (const auto& [id, state] : inputs.member.challenges) {  // moved out of m just above
      for (const auto& c : state.contributions) {
        if (c.event_id == r.event_id)
          r.contributions.push_back({id, state.round, c.key, false, c.amount});
      }
    }
    inputs.refund = std::move(r);
  }
  for (const auto& code : req.event.coupons) {
    event::BasketCoupon c;
    c.code = code;
    c.found = true;
    c.coupon = "recorded";
    c.digits = program_.currency_digits();
    c.state.expires_at = now + std::chrono::hours(24);
    c.state.uses_allowed = 1;
    const auto d = recorded.coupon_discounts.find(code);
    c.state.terms.amount_minor = d == recorded.coupon_discounts.end() ? 0 : d->second;
    inputs.coupons.push_back(std::move(c));
  }

  auto decision = event::decide(program_, req, std::move(inputs), counters_);
  recorded.event = std::move(req.event);
  if (auto* refusal = std::get_if<event::Refusal>(&decision)) {
    m.state = std::move(inputs.member);  // as it was: a refusal changes nothing
    if (in_period) ++result_.refused;
    return;
  }
  auto& plan = std::get<event::Plan>(decision);
  if (in_period)
    count(result_.draft, plan.rule_effects, plan.stopped, day, recorded.event.channel, m.number);
  apply(m, plan, recorded);

  // What each budget has used by the end of the day; it ran out on the local day it reached its
  // cap, or first refused a rule's award.
  if (!in_period) return;
  for (const auto& c : program_.campaigns()) {
    if (!c.budget) continue;
    const auto used = counters_.values().find(event::budget_counter(c.id));
    const std::int64_t used_now = used == counters_.values().end() ? 0 : used->second;
    result_.draft.budget_used[c.id][day] = used_now;
    if (result_.draft.budget_ran_out.count(c.id)) continue;
    const bool spent = used_now >= *c.budget;
    const bool refused = std::any_of(plan.stopped.begin(), plan.stopped.end(), [&](const auto& t) {
      return t.campaign == c.id && t.reason == "budget";
    });
    if (!spent && !refused) continue;
    result_.draft.budget_ran_out[c.id] = day;
  }
}

void Replay::apply(Member& m, event::Plan& plan, const Recorded& recorded) {
  const auto now = recorded.recorded_at;
  if (plan.refund) {
    const auto& r = *plan.refund;
    for (const auto& draw : r.ledger.draws) {
      for (auto& lot : m.lots) {
        if (lot.id == draw.lot_id) lot.remaining -= draw.points;
      }
    }
    for (const auto& booked : r.ledger.booked_on_source) {
      for (auto& lot : m.lots) {
        if (lot.id == booked.lot_id) lot.reversed += booked.points;
      }
    }
    if (r.ledger.taken > 0) m.qualify(now, -r.ledger.taken);
    auto& p = purchases_[r.original_event_id];
    p.purchase.refunded_minor += r.amount_minor;
    p.purchase.reversed += r.points;
    if (recorded.order_id) {
      p.receipts.push_back(
          {recorded.event.channel, recorded.event.store.value_or(""), *recorded.order_id});
    }
    for (const auto& line : recorded.refund_items) p.purchase.refunded_lines.push_back(line);
  }
  for (const auto& write : plan.writes) {
    const auto* earn = std::get_if<event::EarnPoints>(&write);
    if (!earn) continue;
    for (const auto& a : earn->awards) {
      ledger::Lot lot;
      lot.id = next_lot_++;
      lot.points = lot.remaining = a.points;
      lot.earned_at = now;
      lot.pending_until = a.pending_until;
      lot.expires_at = a.expires_at;
      // A challenge's reward is not taken back by a refund of the event that completed it; the
      // lots of a purchase no refund follows are found by none.
      if (recorded.refunded_later && (!a.reason || a.reason->rfind("challenge:", 0) != 0))
        lot.source_event_id = plan.record.id;
      m.lots.push_back(lot);
      m.qualify(now, a.points);
    }
  }
  // The member as the plan leaves it: tier, tags, counts, badges, challenges (its balances are
  // recomputed from the lots at each event).
  m.state = std::move(plan.state_after);
  for (const auto& [key, n] : plan.counter_increments) counters_.values()[key] += n;
  if (plan.record.type == "purchase" && plan.record.total_minor && recorded.refunded_later) {
    Purchase p;
    p.member_id = m.state.member.id;
    p.recorded_at = now;
    p.purchase.total_minor = *plan.record.total_minor;
    for (const auto& [code, d] : recorded.coupon_discounts) p.purchase.discount_minor += d;
    for (const auto& item : recorded.event.items)
      p.purchase.lines.push_back({item.sku, item.quantity, item.price.mantissa});
    p.purchase.awarded = plan.record.points_awarded;
    purchases_[plan.record.id] = std::move(p);
  }
  // Lots used up long ago matter to nothing but a refund of their purchase: kept (the history
  // of a backtest is bounded by its events).
}

Result Replay::result() const {
  auto out = result_;
  for (const auto& c : program_.campaigns())
    if (c.budget) out.budgets[c.id] = *c.budget;
  for (const auto& m : members_) {
    if (!m.seen) continue;  // counted on the actual side only (a referral's side event)
    out.tiers[m.state.member.tier.value_or("")] += 1;
    const auto b = ledger::balances(m.lots, until_);
    out.liability += b.available + b.pending;
  }
  return out;
}

}  // namespace circolo::engine::backtest
