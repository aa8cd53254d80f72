#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "circolo/api/problem.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/engine/ledger.hpp"

// JSON mapping of members and points: pure functions that validate request bodies (throwing
// ApiError 422 with every bad field) and render responses.
namespace circolo::api {

struct NewMember {
  std::vector<engine::Identifier> identifiers;
  db::Profile profile;
  // Find or create: when some identifiers belong to one member already, answer that member
  // with the others linked to it (without `link`: 409 identifier_taken).
  bool link = false;
  // A member's referral code: the new member was referred (an existing one found with `link`
  // is recorded as refused, already_member).
  std::optional<std::string> referral_code;
};
NewMember parse_new_member(const nlohmann::json& body, engine::TimePoint now);

// A change of the profile, as a JSON merge patch (RFC 7396): a field left out is kept, null
// clears it, a value (checked and normalised) replaces it; `attributes` is merged name by name
// (a null value removes that name, "attributes": null removes them all). The profile's email and
// phone are contact details only: identifiers find members, these never do.
struct ProfilePatch {
  using Field = std::optional<std::optional<std::string>>;  // nullopt: left out
  Field name, display_name, email, phone, birthday;
  std::optional<nlohmann::json> attributes;  // an object of changes, or null
};
// The profile fields of `body` (POST's "profile", PATCH's whole body): names 1-200 characters,
// display_name 1-64, email an address, phone 6-20 digits with an optional leading '+' (blanks,
// dashes, dots and brackets dropped), birthday a real date from 1900-01-01 to today, attributes
// at most 50 scalars under names of 1-64 characters; unknown fields refused. 422 with every bad
// field.
ProfilePatch parse_profile_patch(const nlohmann::json& body, engine::TimePoint now);
// Applies the patch; returns the names of the fields it changed (in the profile's order), none
// if it changed nothing. 422 when the attributes would pass 50 entries.
std::vector<std::string> apply_profile_patch(db::Profile& profile, const ProfilePatch& patch);
// What a member token may not change of its own profile, with why (403 forbidden): email and
// phone (contact details are the touchpoint's to check and change), and a birthday once set
// (birthday campaigns must not be replayable by moving it). Empty: it may.
std::vector<FieldError> member_patch_refusals(const db::Profile& current,
                                              const ProfilePatch& patch);

engine::Identifier parse_identifier_body(const nlohmann::json& body);
// An identifier object {"type","value"} inside a larger body; errors name `field`.
std::optional<engine::Identifier> parse_identifier_field(const nlohmann::json& value,
                                                         const std::string& field,
                                                         std::vector<FieldError>& errors);

struct SpendRequest {
  engine::ledger::Points points = 0;
  std::optional<std::string> reason;
};
SpendRequest parse_spend(const nlohmann::json& body);

struct AdjustRequest {
  engine::ledger::Points points = 0;  // either sign, never 0
  std::string reason;
  std::optional<engine::TimePoint> expires_at;  // for a positive adjustment
  bool never_expires = false;                   // "expires_at": null
};
AdjustRequest parse_adjust(const nlohmann::json& body, engine::TimePoint now);

struct TransferRequest {
  std::string to;
  engine::ledger::Points points = 0;
};
TransferRequest parse_transfer(const nlohmann::json& body);

// POST /v1/members/{id}/link-codes: {"ttl_seconds"} (30–900, default 300).
long long parse_link_code_request(const nlohmann::json& body);

struct MergeRequest {
  std::string from;
  bool dry_run = false;  // answer what would move, and the tier, changing nothing
};
MergeRequest parse_merge(const nlohmann::json& body);

// A whole-number query parameter in [low, high] (`fallback` when absent); 400 invalid_query
// naming it otherwise.
// Loads the member or answers 404 unknown_member / 410 member_merged.
db::Member require_member(soci::session& sql, const std::string& id);

long long parse_whole_query(const std::optional<std::string>& text, std::string_view name,
                            long long low, long long high, long long fallback);
// ?limit= (1..200, default 50); 400 invalid_query otherwise.
int parse_limit(const std::optional<std::string>& text);
std::optional<long long> parse_ledger_cursor(const std::optional<std::string>& text);
std::optional<db::TimelineCursor> parse_timeline_cursor(const std::optional<std::string>& text);
std::string timeline_cursor(const db::TimelineEntry& last);

nlohmann::json member_json(const db::Member& member,
                           const std::vector<engine::Identifier>& identifiers,
                           const engine::ledger::Balances& points);
nlohmann::json ledger_entry_json(const db::points::LedgerEntry& entry);
nlohmann::json timeline_entry_json(const db::TimelineEntry& entry);
nlohmann::json wallet_json(const std::vector<engine::ledger::Lot>& lots, engine::TimePoint now,
                           engine::TimePoint expiring_horizon);

// Points leaving a member's balance (a spend, a negative adjustment, a reward claim): the
// member's active lots read, engine::ledger::decide_spend, then db::points::apply_spend. Refused:
// 409 insufficient_points with `available`, nothing written. The caller holds the member's lock.
db::points::LedgerEntry take_points(soci::session& sql, const std::string& member_id,
                                    const db::points::Debit& debit, engine::TimePoint now);
// The same refusal for a decision made elsewhere (a transfer).
[[noreturn]] void throw_insufficient(const engine::ledger::SpendDecision& refused);

}  // namespace circolo::api
