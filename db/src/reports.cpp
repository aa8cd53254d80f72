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

}  // namespace

std::vector<LiabilityRow> liability(soci::session& sql, engine::TimePoint now) {
  std::vector<LiabilityRow> out;
  for (const auto& row : fetch(sql, kLiability, {std::to_string(to_micros(now))}))
    out.push_back({row[0], to_int(row[1]), to_int(row[2]), to_int(row[3])});
  return out;
}

}  // namespace circolo::db::reports
