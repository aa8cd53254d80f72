#include "circolo/db/reports.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::reports {

namespace {

// The same lot states as engine::ledger::balances: expired lots are not owed any more.
const std::string kLiability =
    "select m.tier, count(distinct m.id), coalesce(sum(l.remaining) filter (where "
    "l.pending_until is null or l.pending_until <= t), 0), coalesce(sum(l.remaining) filter "
    "(where l.pending_until > t), 0) from point_lots l join members m on m.id = l.member_id, "
    "(select " +
    micros_to_timestamptz("$1::bigint") +
    " as t) now where l.remaining > 0 and (l.expires_at is null or l.expires_at > t) group by "
    "m.tier order by m.tier nulls first";

// Every effect of a campaign's rule in the events recorded in the period: one row per effect.
const std::string kEffects =
    "with fx as (select e.id, e.member_id, e.channel, to_char(e.recorded_at at time zone $3, "
    "'YYYY-MM-DD') as day, x->>'campaign' as campaign, x->>'rule' as rule, x->>'type' as type, "
    "case when x->>'type' = 'points_awarded' then (x->>'points')::bigint else 0 end as points "
    "from events e cross join lateral jsonb_array_elements(e.effects) x where e.recorded_at >= " +
    micros_to_timestamptz("$1::bigint") + " and e.recorded_at < " +
    micros_to_timestamptz("$2::bigint") +
    " and x ? 'campaign' and ($4::text is null or x->>'campaign' = $4)) ";
// By campaign, and by campaign and rule, day or channel (which: the GROUPING bits).
const std::string kActivity =
    kEffects +
    "select campaign, rule, day, channel, grouping(rule, day, channel), count(distinct id || "
    "'/' || rule), count(distinct member_id), coalesce(sum(points), 0)::bigint, count(*) filter "
    "(where type = 'coupon_issued') from fx group by grouping sets ((campaign), (campaign, rule), "
    "(campaign, day), (campaign, channel))";
// Redemptions (not rolled back) of the codes the campaigns issued in the period.
const std::string kRedeemed =
    "select x->>'campaign', count(*) from events e cross join lateral "
    "jsonb_array_elements(e.effects) x join coupon_redemptions r on r.code = x->>'code' and "
    "r.rolled_back_at is null where e.recorded_at >= " +
    micros_to_timestamptz("$1::bigint") + " and e.recorded_at < " +
    micros_to_timestamptz("$2::bigint") +
    " and x->>'type' = 'coupon_issued' and x ? 'campaign' and ($3::text is null or "
    "x->>'campaign' = $3) group by 1";
// Points of the lots earned in [$1, $2): awarded and reversed since.
const std::string kLots =
    "select campaign, coalesce(sum(reversed), 0)::bigint, coalesce(sum(points), 0)::bigint from "
    "point_lots where earned_at >= " +
    micros_to_timestamptz("$1::bigint") + " and earned_at < " +
    micros_to_timestamptz("$2::bigint") +
    " and campaign is not null and ($3::text is null or campaign = $3) group by 1";
const std::string kBudgets =
    "select substr(key, 8), value from rule_counters where key = any(select 'budget:' || c from "
    "unnest($1::text[]) c)";

// An experiment's events, summed per member and arm. A purchase's revenue is what was paid
// (body.paid, the receipt less its coupons) less what refunds gave back.
const std::string kExperimentMembers =
    "select e.member_id, e.experiments->$1->>'arm', count(*) filter (where e.type = "
    "'purchase'), coalesce(sum(round((e.body->>'paid')::numeric * power(10::numeric, "
    "$2::int))::bigint - "
    "e.refunded_minor) filter (where e.type = 'purchase'), 0)::bigint, "
    "coalesce(sum((e.experiments->$1->>'points')::bigint), 0)::bigint, "
    "coalesce(sum((e.experiments->$1->>'coupons')::bigint), 0)::bigint, "
    "coalesce(sum((e.experiments->$1->>'withheld_points')::bigint), 0)::bigint, "
    "coalesce(sum((e.experiments->$1->>'withheld_coupons')::bigint), 0)::bigint from events e "
    "where e.experiments ? $1 group by 1, 2";
// Redemptions (not rolled back) of the codes the campaign issued in its experiment's events.
// Every member a report of members counts: not merged into another.
const std::string kCurrentMembers = "select id from members where merged_into is null";
const std::string kExperimentRedemptions =
    "select e.member_id, e.experiments->$1->>'arm', count(*) from events e cross join lateral "
    "jsonb_array_elements(e.effects) x join coupon_redemptions r on r.code = x->>'code' and "
    "r.rolled_back_at is null where e.experiments ? $1 and x->>'type' = 'coupon_issued' and "
    "x->>'campaign' = $1 group by 1, 2";

}  // namespace

std::vector<engine::experiments::MemberRow> experiment_members(soci::session& sql,
                                                               const std::string& campaign,
                                                               int currency_digits) {
  std::vector<engine::experiments::MemberRow> out;
  std::map<std::pair<std::string, std::string>, std::size_t> at;
  for (const auto& row :
       fetch(sql, kExperimentMembers, {campaign, std::to_string(currency_digits)})) {
    engine::experiments::MemberRow r;
    r.member_id = *row[0];
    r.arm = row[1].value_or("");
    r.outcome = {to_int(row[2]), to_int(row[3])};
    r.points = to_int(row[4]);
    r.coupons = to_int(row[5]);
    r.withheld_points = to_int(row[6]);
    r.withheld_coupons = to_int(row[7]);
    at[{r.member_id, r.arm}] = out.size();
    out.push_back(std::move(r));
  }
  for (const auto& row : fetch(sql, kExperimentRedemptions, {campaign})) {
    const auto it = at.find({*row[0], row[1].value_or("")});
    if (it != at.end()) out[it->second].redemptions = to_int(row[2]);
  }
  return out;
}

engine::experiments::Figures experiment_figures(soci::session& sql, const std::string& campaign,
                                                const std::vector<engine::experiments::Arm>& arms,
                                                const std::vector<std::string>& declared_order,
                                                int currency_digits) {
  soci::transaction tx(sql);
  sql << "set transaction isolation level repeatable read, read only";
  const auto rows = experiment_members(sql, campaign, currency_digits);
  if (arms.empty()) return engine::experiments::figures(rows, declared_order);
  engine::experiments::AssignedFigures assigned(campaign, arms, rows);
  const auto members = fetch_raw(sql, kCurrentMembers);
  for (int i = 0; i < members.rows(); ++i) assigned.add_member(members.at(i, 0));
  tx.commit();
  return assigned.result();
}

std::map<std::string, CampaignActivity> campaign_activity(
    soci::session& sql, engine::TimePoint from, engine::TimePoint until,
    const std::string& time_zone, const std::optional<std::string>& only,
    const std::vector<std::string>& known, engine::TimePoint recent_from, engine::TimePoint now) {
  std::map<std::string, CampaignActivity> out;
  for (const auto& id : known) {
    if (!only || *only == id) out[id];
  }
  const auto micros = [](engine::TimePoint t) { return std::to_string(to_micros(t)); };
  const std::vector<Value> period{micros(from), micros(until), time_zone,
                                  only ? Value(*only) : Value()};
  for (const auto& row : fetch(sql, kActivity, period)) {
    auto& campaign = out[*row[0]];
    const ActivityFigures figures{to_int(row[5]), to_int(row[6]), to_int(row[7]), to_int(row[8])};
    // GROUPING(rule, day, channel): 0b011 by rule, 0b101 by day, 0b110 by channel, 0b111 none.
    switch (to_int(row[4])) {
      case 0b011:
        campaign.rules[row[1].value_or("")] = figures;
        break;
      case 0b101:
        campaign.days[row[2].value_or("")] = figures;
        break;
      case 0b110:
        campaign.channels[row[3].value_or("")] = figures;
        break;
      default:
        campaign.total = figures;
    }
  }
  const Value filter = only ? Value(*only) : Value();
  for (const auto& row : fetch(sql, kRedeemed, {micros(from), micros(until), filter}))
    out[*row[0]].coupons_redeemed = to_int(row[1]);
  for (const auto& row : fetch(sql, kLots, {micros(from), micros(until), filter}))
    out[*row[0]].points_reversed = to_int(row[1]);
  for (const auto& row : fetch(sql, kLots, {micros(recent_from), micros(now), filter})) {
    if (out.count(*row[0])) out[*row[0]].recent_points = to_int(row[2]);
  }
  std::vector<std::string> ids;
  for (const auto& [id, _] : out) ids.push_back(id);
  for (const auto& row : fetch(sql, kBudgets, {text_array(ids)})) {
    if (out.count(*row[0])) out[*row[0]].budget_used = to_int(row[1]);
  }
  return out;
}

std::vector<LiabilityRow> liability(soci::session& sql, engine::TimePoint now) {
  std::vector<LiabilityRow> out;
  for (const auto& row : fetch(sql, kLiability, {std::to_string(to_micros(now))}))
    out.push_back({row[0], to_int(row[1]), to_int(row[2]), to_int(row[3])});
  return out;
}

}  // namespace circolo::db::reports
