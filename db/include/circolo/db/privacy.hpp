#pragma once

#include <soci/soci.h>

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "circolo/engine/clock.hpp"

// A member's data as Circolo holds it, for the member's right of access.
namespace circolo::db::privacy {

// Everything stored about `member_id` (and the members merged into it), table by table, in one
// REPEATABLE READ snapshot: the rows as they are (machine-readable), without secrets (link
// codes are digests; none are included). Keys: member, identifiers, ledger_entries, point_lots,
// member_timeline, events, coupon_codes, coupon_holds, coupon_redemptions, reward_claims,
// challenge_states, member_badges, referral_codes, referrals, audit_log.
nlohmann::json export_member(soci::session& sql, const std::string& member_id);

// Members whose personal data is still held and who did nothing (no event, nothing staff or the
// member did: their timeline) since `cutoff`, and joined before it; at most `limit`, by id
// after `after`.
std::vector<std::string> inactive_members(soci::session& sql, engine::TimePoint cutoff,
                                          const std::string& after, int limit);
// Whether `member_id` is still so (the caller holds its row lock: nothing can come in between).
bool inactive_since(soci::session& sql, const std::string& member_id, engine::TimePoint cutoff);

// A consent choice as recorded: who gave it (source: "member:app", "staff:pos", "admin"...),
// through which key, when.
struct ConsentRecord {
  std::string purpose;
  bool granted = false;
  std::string source;
  std::optional<std::string> key_id;
  engine::TimePoint recorded_at{};
};
// Records `changes` (purpose: granted) in members.consents and in the member's consent history.
// The member row must be locked.
void record_consents(soci::session& sql, const std::string& member_id,
                     const std::map<std::string, bool>& changes, const std::string& source,
                     const std::optional<std::string>& key_id, engine::TimePoint now);
// The latest record of each purpose the member (or staff for it) chose.
std::vector<ConsentRecord> latest_consents(soci::session& sql, const std::string& member_id);

}  // namespace circolo::db::privacy
