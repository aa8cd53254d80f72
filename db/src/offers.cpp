#include "circolo/db/offers.hpp"

#include "circolo/db/events.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/query.hpp"

namespace circolo::db::offers {

namespace {

// One page of members' profile categories (their keys, joined by the unit separator), by id.
// Only profiles of members who consented to profiling (withdrawing it forgets the profile, the
// consent test is a second guard), neither merged nor erased.
const std::string kMemberCategories =
    "select id, coalesce((select string_agg(k, chr(31) order by k) from "
    "json_object_keys(coalesce(interest_profile, interests::json) -> 'categories') k), '') from "
    "members where id > $1 and (interest_profile is not null or interests is not null) and "
    "merged_into is null and erased_at is null and (consents ->> "
    "'profiling') = 'true' order by id limit $2::int";

std::vector<std::string> split(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const auto at = joined.find('\x1f');
    out.emplace_back(joined.substr(0, at));
    if (at == std::string_view::npos) break;
    joined.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace

MemberSide load(soci::session& sql, const std::string& member_id,
                const std::vector<std::string>& challenge_ids,
                const std::vector<std::string>& counter_keys, engine::TimePoint now) {
  MemberSide out;
  out.points = points::balances(sql, member_id, now);
  out.coupons = coupons::usable_of(sql, member_id, now);
  if (!challenge_ids.empty()) out.challenges = gamification::load(sql, member_id, challenge_ids);
  if (!counter_keys.empty()) out.counters = events::read_counters(sql, counter_keys);
  return out;
}

CategoriesPage member_categories(soci::session& sql, const std::string& after, int n) {
  CategoriesPage out;
  const auto rows = fetch(sql, kMemberCategories, {after, std::to_string(n)});
  out.members.reserve(rows.size());
  for (const auto& row : rows) out.members.push_back(split(row[1].value_or("")));
  if (!rows.empty()) out.last_id = *rows.back()[0];
  return out;
}

}  // namespace circolo::db::offers
