// Applying an event's plan in its transaction: the writes whose answers are needed at once on
// the session, the rest in the batch sent with COMMIT.
#include <type_traits>

#include "circolo/db/coupons.hpp"
#include "circolo/db/event.hpp"
#include "circolo/db/gamification.hpp"
#include "circolo/db/interests.hpp"
#include "circolo/db/outbox.hpp"
#include "circolo/db/points.hpp"
#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::db::event {

namespace {

using nlohmann::json;

points::Award award_of(const engine::event::Award& a, const std::string& event_id) {
  points::Award out;
  out.points = a.points;
  out.pending_until = a.pending_until;
  out.expires_at = a.expires_at;
  out.event_id = event_id;
  out.campaign = a.campaign;
  out.rule = a.rule;
  out.reason = a.reason;
  return out;
}

void apply_refund(soci::session& sql, const engine::event::Plan& plan, engine::TimePoint now) {
  const auto& r = *plan.refund;
  points::apply_reversal(sql, plan.member_id, r.original_event_id, r.ledger, now);
  events::add_refund(sql, r.original_event_id, r.amount_minor, r.points);
  if (r.take_back_contributions)
    gamification::take_back(sql, plan.member_id, r.original_event_id);
  else
    gamification::set_amounts(sql, plan.member_id, r.original_event_id, r.rescaled);
}

void apply_redemptions(soci::session& sql, const engine::event::Plan& plan, engine::TimePoint now) {
  const auto& row = plan.record;
  for (const auto& use : plan.redemptions) {
    coupons::Redemption r;
    r.id = use.id;
    r.code = use.code;
    r.member_id = plan.member_id;
    r.channel = row.channel;
    r.order_id = row.order_id;
    r.event_id = row.id;
    r.total_minor = use.total_minor;
    r.discount_minor = use.discount_minor;
    r.redeemed_at = now;
    r.hold_id = use.hold_id;
    coupons::record_redemption(sql, r, use.coupon, use.digits);
  }
}

void apply_issues(soci::session& sql, engine::event::Plan& plan, engine::TimePoint now) {
  for (const auto& issue : plan.issues) {
    coupons::Issue fresh;
    fresh.coupon = issue.coupon;
    fresh.name = issue.name;
    fresh.digits = issue.digits;
    fresh.terms = issue.terms;
    fresh.expires_at = issue.expires_at;
    fresh.uses = issue.uses;
    fresh.member_id = plan.member_id;
    fresh.source = "rule";
    fresh.source_id = plan.record.id;
    plan.effects[issue.effect_index]["code"] = coupons::issue(sql, fresh, now);
  }
}

}  // namespace

void apply(soci::session& sql, Batch& batch, engine::event::Plan& plan,
           const rules::CompiledProgram& program, engine::TimePoint now,
           const std::set<std::string>& absent_counters,
           std::function<void(const SqlError&)> on_duplicate) {
  const auto& member = plan.member_id;
  const auto& event_id = plan.record.id;
  if (plan.refund) apply_refund(sql, plan, now);
  apply_redemptions(sql, plan, now);
  apply_issues(sql, plan, now);
  // The event's awards (one statement) and outgoing events (one outbox row), in the plan's order.
  std::vector<points::Award> awards;
  long long points_added = 0;  // by the awards, to the balance the event's record writes
  json outgoing = json::array();
  for (const auto& write : plan.writes) {
    std::visit(
        [&](const auto& w) {
          using W = std::decay_t<decltype(w)>;
          if constexpr (std::is_same_v<W, engine::event::Outgoing>) {
            outgoing.push_back({{"type", w.type}, {"data", w.data}});
          } else if constexpr (std::is_same_v<W, engine::event::EarnPoints>) {
            for (const auto& a : w.awards) {
              awards.push_back(award_of(a, event_id));
              points_added += a.points;
              outgoing.push_back({{"award", awards.size()}});
            }
          } else if constexpr (std::is_same_v<W, engine::event::GrantBadge>) {
            gamification::grant_badge(batch, member, w.badge, now, event_id);
          } else {
            gamification::save_state(batch, member, w.state);
          }
        },
        write);
  }
  if (awards.empty()) {
    outbox::append_event(batch, member, now, outgoing);
  } else {
    points::earn_event(batch, member, awards, now, outgoing);
  }
  std::vector<gamification::NewContribution> contributions;
  for (const auto& c : plan.contributions)
    contributions.push_back(
        {c.challenge, c.digest, event_id, c.round, c.explicit_progress, c.at, c.amount, c.key});
  gamification::add_contributions(batch, member, contributions);

  // The event, its timeline entry and the member's new tier, counts and tags together.
  const auto& r = plan.record;
  events::Event row;
  row.id = r.id;
  row.member_id = r.member_id;
  row.type = r.type;
  row.channel = r.channel;
  row.store = r.store;
  row.order_id = r.order_id;
  row.occurred_at = r.occurred_at;
  row.recorded_at = r.recorded_at;
  row.program_version = r.program_version;
  row.api_key_id = r.api_key_id;
  row.total_minor = r.total_minor;
  row.original_event_id = r.original_event_id;
  row.points_awarded = r.points_awarded;
  row.body = r.body;
  row.effects = plan.effects;
  row.experiments = r.experiments;
  const events::MemberUpdate update{
      plan.member.tier,
      plan.member.purchases_added,
      plan.member.lifetime_points_added,
      points_added,
      plan.member.tags,
      plan.member.interests ? std::optional(interests::to_text(*plan.member.interests))
                            : std::nullopt,
      plan.member.segments,
      plan.member.limits ? std::optional(json(*plan.member.limits).dump()) : std::nullopt};
  events::record(batch, row, update, std::move(on_duplicate));
  gamification::add_points(batch, member, engine::event::leaderboard_periods(program, now),
                           plan.leaderboard_points);
  if (plan.refund && plan.leaderboard_reversed > 0) {
    gamification::add_points(
        batch, member,
        engine::event::leaderboard_periods(program, plan.refund->original_recorded_at),
        -plan.leaderboard_reversed);
  }
  // Last: the counters, locked (key order) for the one round trip that also commits. Counters
  // locked before deciding (a retry) are within their caps already and settle the same way.
  std::vector<std::string> absent;
  for (const auto& [key, n] : plan.counter_increments) {
    if (absent_counters.count(key)) absent.push_back(key);
  }
  const std::map<std::string, long long> increments(plan.counter_increments.begin(),
                                                    plan.counter_increments.end());
  const std::map<std::string, long long> caps(plan.counter_caps.begin(), plan.counter_caps.end());
  events::settle_counters(batch, increments, caps, absent);
}

}  // namespace circolo::db::event
