#include "circolo/db/campaigns.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::campaigns {

namespace {

// Budgets are counted in rule_counters under "budget:<campaign>" (engine::event::budget_counter);
// every effect a campaign's rule had carries "campaign" in the event's effects.
const std::string kActivity =
    "with ids as (select id, n from unnest($1::text[]) with ordinality as i(id, n)), "
    "fired as (select f.value->>'campaign' as campaign, max(e.recorded_at) as at from events e "
    "cross join lateral jsonb_array_elements(e.effects) f where e.effects <> '[]'::jsonb and "
    "f.value->>'campaign' = any($1::text[]) group by 1) "
    "select ids.id, coalesce(r.value, 0), " +
    timestamptz_to_micros("fired.at") + ", " + timestamptz_to_micros("p.paused_at") +
    ", p.paused_by from ids left join rule_counters r on r.key = 'budget:' || ids.id "
    "left join fired on fired.campaign = ids.id left join campaign_pauses p on "
    "p.campaign_id = ids.id order by ids.n";

std::optional<engine::TimePoint> optional_time(const Value& v) {
  if (!v) return std::nullopt;
  return from_micros(to_int(v));
}

}  // namespace

std::vector<Activity> activity(soci::session& sql, const std::vector<std::string>& ids) {
  std::vector<Activity> out;
  for (const auto& row : fetch(sql, kActivity, {text_array(ids)})) {
    out.push_back({*row[0], to_int(row[1]), optional_time(row[2]), optional_time(row[3]), row[4]});
  }
  return out;
}

}  // namespace circolo::db::campaigns
