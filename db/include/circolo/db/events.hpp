#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include "circolo/db/batch.hpp"
#include "circolo/db/gamification.hpp"
#include "circolo/db/members.hpp"
#include "circolo/engine/clock.hpp"
#include "circolo/engine/identity.hpp"
#include "circolo/engine/ledger.hpp"

// Touchpoint events and the counters rules keep (limit firings, campaign budgets). The caller
// holds the member's row lock and runs everything of one event in one transaction.
namespace circolo::db::events {

using engine::ledger::Points;

struct Event {
  std::string id, member_id, type, channel;
  std::optional<std::string> store, order_id;
  engine::TimePoint occurred_at{}, recorded_at{};
  long long program_version = 0;
  std::string api_key_id;
  std::optional<long long> total_minor;
  std::optional<std::string> original_event_id;
  Points points_awarded = 0;
  long long refunded_minor = 0;  // purchases: what refunds gave back so far
  Points points_reversed = 0;    // purchases: what refunds took back (or tried to) so far
  nlohmann::json body = nlohmann::json::object();  // the event as the rules saw it
  nlohmann::json effects = nlohmann::json::array();
  nlohmann::json experiments;  // engine::event::EventRecord::experiments (null: none)
};

// What the rules need of a member, read (and its row locked) in one round trip: the member, its
// balances, and its qualifying points since each of `since` (see qualifying_points).
struct MemberState {
  Member member;
  engine::ledger::Balances balances;
  std::vector<std::string> badges;  // in the order they were granted
  std::vector<Points> qualifying;
  // Its stored state in each of `challenges` it progressed in (see gamification::load).
  std::map<std::string, gamification::ChallengeState> challenges;
  std::optional<std::string> open_referral;    // the id of its referral still open, if any
  std::map<std::string, std::int64_t> limits;  // its own limit counters (members.limit_counts)
  // The counters asked for with it (member_state_read's `counters`), read without locks; nullopt
  // for one without a row. None asked: nullopt.
  std::optional<std::map<std::string, std::optional<std::int64_t>>> counters;
};
// A challenge and the oldest contribution that can still matter to it (its window; none: all).
struct ChallengeWindow {
  std::string id;
  std::optional<engine::TimePoint> since;
};
std::optional<MemberState> lock_member_state(soci::session& sql, const std::string& id,
                                             engine::TimePoint now,
                                             std::span<const engine::TimePoint> since,
                                             const std::vector<ChallengeWindow>& challenges = {});
// lock_member_state in two halves, for sending its read ahead (Transaction::begin_with): the
// read for a member id or (exclusive) an identifier, and the state from the rows it returned
// (read again, on `sql`, when the row lock waited for another transaction).
struct MemberStateRead {
  Prefetch read;
  std::vector<engine::TimePoint> since;     // the tier windows asked for
  std::vector<engine::TimePoint> distinct;  // those summed
  std::vector<std::string> counters;        // read with it (rule_counters keys)
};
// The Idempotency-Key claim sent before the read in the same round trip: the member is read and
// locked only if that claim is fresh, so a replay or a conflicting request locks nothing.
// `counters`: rule_counters keys read in the same statement, without locks (MemberState::counters).
struct ClaimOf {
  std::string api_key_id, idempotency_key;
};
MemberStateRead member_state_read(const std::optional<std::string>& id,
                                  const std::optional<engine::Identifier>& identifier,
                                  engine::TimePoint now, std::span<const engine::TimePoint> since,
                                  const std::vector<ChallengeWindow>& challenges,
                                  const std::optional<ClaimOf>& claim = std::nullopt,
                                  bool lock = true, const std::vector<std::string>& counters = {});
std::optional<MemberState> member_state(soci::session& sql, const MemberStateRead& read,
                                        std::vector<Row> rows);
// The same for the member holding `identifier`, found in the same round trip.
std::optional<MemberState> lock_member_state(soci::session& sql,
                                             const engine::Identifier& identifier,
                                             engine::TimePoint now,
                                             std::span<const engine::TimePoint> since,
                                             const std::vector<ChallengeWindow>& challenges = {});

// The end of an event, in one round trip: the event row, the member's timeline entry and the
// member's tier, counts and tags. false (nothing written): a purchase with this order exists.
struct MemberUpdate {
  std::optional<std::string> tier;
  long long purchases_added = 0, lifetime_points_added = 0;
  long long points_added = 0;  // to the balance: the event's awards (points::earn_event)
  std::vector<std::string> tags;
  std::optional<std::string> interests;  // the profile to store (db::interests), if it changed
  std::optional<std::vector<std::string>> segments;  // all of them, if they changed
  std::optional<std::string> limits;  // its limit counters as JSON (all of them), if they changed
};
// Sent with the batch that ends the transaction: a duplicate order fails the commit (SQLSTATE
// 23505) and `on_duplicate` is called after the rollback.
void record(Batch& batch, const Event& event, const MemberUpdate& member,
            std::function<void(const SqlError&)> on_duplicate);

std::optional<Event> find(soci::session& sql, const std::string& id);
// The purchase a refund names, locked: refunds of one purchase are serialised.
std::optional<Event> lock(soci::session& sql, const std::string& id);
// The bodies of the refunds of `original_id` so far.
std::vector<nlohmann::json> refunds_of(soci::session& sql, const std::string& original_id);
void add_refund(soci::session& sql, const std::string& original_id, long long refunded_minor,
                Points points_reversed);

// Counters, created at 0 when missing and locked in key order (so events never deadlock on
// them); returns every key's value.
std::map<std::string, long long> lock_counters(soci::session& sql,
                                               const std::vector<std::string>& keys);

// Optimistic counters: read without locks while deciding, then settled at the end of the
// transaction (settle_counters). Rows are held only from the settlement to commit.
std::map<std::string, long long> read_counters(soci::session& sql,
                                               const std::vector<std::string>& keys);
// Sent with the batch that ends the transaction: locks the rows (key order) and adds the
// increments only if every counter stays within its cap, creating `absent` ones; a counter past
// its cap fails the commit with kCounterMovedState (retryable: decide again, locked first).
// Counters locked before deciding (lock_counters) settle the same way, their caps met already.
void settle_counters(Batch& batch, const std::map<std::string, long long>& increments,
                     const std::map<std::string, long long>& caps,
                     const std::vector<std::string>& absent);

// How many events were recorded before `until` (a backtest's total).
long long recorded_before(soci::session& sql, engine::TimePoint until);

}  // namespace circolo::db::events
