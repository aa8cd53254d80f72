#pragma once

#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/db/batch.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/ledger.hpp"

// Points operations: each loads the member's lots, lets engine::ledger decide, and writes lot
// changes, ledger entries (with balance_after), the member's balance and outgoing events in the
// caller's transaction. The caller holds the member's row lock (members::lock).
namespace circolo::db::points {

using engine::ledger::Points;

struct LedgerEntry {
  long long id = 0;
  std::string member_id;
  std::string kind;  // earn, spend, expire, reverse, adjust, transfer, merge
  Points points = 0;
  Points balance_after = 0;
  engine::TimePoint at{};
  std::optional<std::string> campaign, rule, event_id, reason, counterparty;
  std::optional<long long> lot_id;
  std::optional<engine::TimePoint> expires_at;
};

std::vector<engine::ledger::Lot> active_lots(soci::session& sql, const std::string& member_id);
// The same as engine::ledger::balances(active_lots(...), now), summed by the database.
engine::ledger::Balances balances(soci::session& sql, const std::string& member_id,
                                  engine::TimePoint now);

struct Award {
  Points points = 0;  // positive
  std::optional<engine::TimePoint> pending_until, expires_at;
  std::optional<std::string> event_id, campaign, rule, reason;
  std::string kind = "earn";  // or adjust, transfer
  std::optional<std::string> counterparty;
};
LedgerEntry earn(soci::session& sql, const std::string& member_id, const Award& award,
                 engine::TimePoint now);

// The same for many awards at once, in one round trip (the event path): entries in order.
std::vector<LedgerEntry> earn_many(soci::session& sql, const std::string& member_id,
                                   const std::vector<Award>& awards, engine::TimePoint now);
// An event's awards (at least one), sent with the batch that ends the transaction, and the
// event's outgoing events as its one outbox row (migration 034): `outgoing` holds them in order,
// {"type", "data"} each, with {"award": n} where the n-th award's points.earned event goes (its
// data, balance and ledger entry id are made in the statement). The member row's balance is left
// as it is: the event's record adds the points (events::MemberUpdate::points_added), so that an
// event writes one new version of the member row, not two. Without awards, outbox::append_event.
void earn_event(Batch& batch, const std::string& member_id, const std::vector<Award>& awards,
                engine::TimePoint now, const nlohmann::json& outgoing);

struct Debit {
  Points points = 0;           // positive: what leaves the balance
  std::string kind = "spend";  // or adjust, transfer
  std::optional<std::string> reason, counterparty, event_id;
};
// The writes of a decided spend (engine::ledger::decide_spend on active_lots): the lots drawn,
// the ledger entry, points.spent.
LedgerEntry apply_spend(soci::session& sql, const std::string& member_id, const Debit& debit,
                        const std::vector<engine::ledger::Draw>& draws, engine::TimePoint now);

struct TransferResult {
  LedgerEntry out, in;
};
// The writes of a decided transfer of `points` drawn from `from`'s lots: on the receiving side
// one lot per lot drawn, with the same expiry (a transfer never extends the life of points).
TransferResult apply_transfer(soci::session& sql, const std::string& from, const std::string& to,
                              Points points, const std::vector<engine::ledger::Draw>& draws,
                              engine::TimePoint now);

struct ReversalResult {
  engine::ledger::Reversal plan;
  std::optional<LedgerEntry> entry;  // none when nothing was taken
};
// reverse() in two halves, for a decision made in between (engine::event): the lots a
// reversal of `event_id` draws on (the member's active lots and the event's used-up ones; a
// challenge's reward lots carry no source event), and the writes of its plan.
std::vector<engine::ledger::Lot> reversal_lots(soci::session& sql, const std::string& member_id,
                                               const std::string& event_id);
std::optional<LedgerEntry> apply_reversal(soci::session& sql, const std::string& member_id,
                                          const std::string& event_id,
                                          const engine::ledger::Reversal& plan,
                                          engine::TimePoint now);
ReversalResult reverse(soci::session& sql, const std::string& member_id,
                       const std::string& event_id, Points points, engine::TimePoint now);

// Writes off the member's lots due at `now`: one `expire` entry and one points.expired event
// per lot. Returns the entries.
std::vector<LedgerEntry> expire_member(soci::session& sql, const std::string& member_id,
                                       engine::TimePoint now);
std::vector<std::string> members_with_due_lots(soci::session& sql, engine::TimePoint now,
                                               int limit);

std::vector<LedgerEntry> ledger_page(soci::session& sql, const std::string& member_id,
                                     std::optional<long long> before_id, int limit);

// Appends to the outbox; the event's id is returned.
std::string publish(soci::session& sql, const std::string& type,
                    const std::optional<std::string>& member_id, engine::TimePoint at,
                    const nlohmann::json& data);

}  // namespace circolo::db::points
