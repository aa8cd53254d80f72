#pragma once

#include <soci/soci.h>

#include <nlohmann/json.hpp>

#include <string>

// A member's data as Circolo holds it, for the member's right of access.
namespace circolo::db::privacy {

// Everything stored about `member_id` (and the members merged into it), table by table, in one
// REPEATABLE READ snapshot: the rows as they are (machine-readable), without secrets (link
// codes are digests; none are included). Keys: member, identifiers, ledger_entries, point_lots,
// member_timeline, events, coupon_codes, coupon_holds, coupon_redemptions, reward_claims,
// challenge_states, member_badges, referral_codes, referrals, audit_log.
nlohmann::json export_member(soci::session& sql, const std::string& member_id);

}  // namespace circolo::db::privacy
