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
// The same, sent with the batch that ends the transaction (the entries are not returned), for an
// event: the member row's balance is left as it is, and the event's record adds the points
// (events::MemberUpdate::points_added), so that an event writes one new version of the member
// row, not two. `unbooked` is what earlier awards of the same event add to the balance first.
// Their points.earned events are not written: the event's outbox row carries them.
void earn_many_deferred(Batch& batch, const std::string& member_id,
                        const std::vector<Award>& awards, engine::TimePoint now, Points unbooked);
// The points.earned event of an award made by earn_many_deferred, without what the database
// assigns (the balance after it, the ledger entry's id): outbox::append_event adds them.
nlohmann::json earned_event_data(const Award& award);

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
void publish(Batch& batch, const std::string& type, const std::optional<std::string>& member_id,
             engine::TimePoint at, const nlohmann::json& data);

}  // namespace circolo::db::points
