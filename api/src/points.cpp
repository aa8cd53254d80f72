// Points leaving a member's balance, in the caller's transaction: kept apart from the JSON
// mapping in members.cpp so that the request validators link without the database.
#include "circolo/api/members.hpp"

namespace circolo::api {

db::points::LedgerEntry take_points(soci::session& sql, const std::string& member_id,
                                    const db::points::Debit& debit, engine::TimePoint now) {
  const auto decided =
      engine::ledger::decide_spend(db::points::active_lots(sql, member_id), debit.points, now);
  if (decided.refused()) throw_insufficient(decided);
  return db::points::apply_spend(sql, member_id, debit, *decided.draws, now);
}

}  // namespace circolo::api
