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
};
NewMember parse_new_member(const nlohmann::json& body, engine::TimePoint now);
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

std::string parse_merge(const nlohmann::json& body);

// A whole-number query parameter in [low, high] (`fallback` when absent); 400 invalid_query
// naming it otherwise.
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
