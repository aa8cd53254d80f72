#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "circolo/engine/clock.hpp"

// The points ledger's rules, as pure functions over a member's lots. A lot is what one award
// created: `points` at first, `remaining` after spends, expiries and reversals. Lots are state;
// the ledger entries that db/ writes beside every change are the append-only history, and a
// member's stored balance is the sum of those entries (equal to the sum of `remaining`).
namespace circolo::engine::ledger {

using Points = std::int64_t;

struct Lot {
  std::int64_t id = 0;
  Points points = 0;
  Points remaining = 0;
  TimePoint earned_at{};
  std::optional<TimePoint> pending_until;  // not spendable before
  std::optional<TimePoint> expires_at;     // gone at this instant
  std::optional<std::string> source_event_id;
  Points reversed = 0;  // taken back by reversals of the source event
};

enum class LotState { pending, available, expired, empty };
LotState state(const Lot& lot, TimePoint now);

struct Balances {
  Points available = 0;
  Points pending = 0;  // earned, not yet spendable
};
// Lots past their expiry count in neither, even before the expiry job has written them off.
Balances balances(std::span<const Lot> lots, TimePoint now);

// Points taken from one lot.
struct Draw {
  std::int64_t lot_id = 0;
  Points points = 0;
  std::optional<TimePoint> expires_at;
  friend bool operator==(const Draw&, const Draw&) = default;
};

// Spending order: the soonest-expiring available lot first (lots that never expire last), then
// the oldest. Returns nullopt when fewer than `points` are available; points must be positive.
std::optional<std::vector<Draw>> plan_spend(std::span<const Lot> lots, Points points,
                                            TimePoint now);

// The decision of a spend, a negative adjustment, a transfer's sending side or a reward claim:
// the draws (plan_spend), or a refusal (insufficient_points) with what is available.
struct SpendDecision {
  std::optional<std::vector<Draw>> draws;  // nullopt: refused
  Points asked = 0;
  Points available = 0;
  bool refused() const { return !draws.has_value(); }
};
SpendDecision decide_spend(std::span<const Lot> lots, Points points, TimePoint now);

struct Reversal {
  Points requested = 0;
  Points reversible = 0;    // what the event earned, less what earlier reversals took
  std::vector<Draw> draws;  // pending lots of the event, then its available lots, then others
  Points taken = 0;         // sum of draws: what leaves the balance
  Points unrecovered = 0;   // reversible but already spent, with nothing left to take it from
  // How much of the reversal is booked on each lot of the event (for the next reversal's cap).
  std::vector<Draw> booked_on_source;
};

// Takes back up to `requested` points that the event `source_event_id` earned. Never more than
// it earned in total across all reversals: a second full reversal takes nothing. The balance
// never goes below zero; what cannot be taken is reported as `unrecovered`.
Reversal plan_reversal(std::span<const Lot> lots, const std::string& source_event_id,
                       Points requested, TimePoint now);

// Lots due to expire at `now` (expires_at <= now) that still hold points.
std::vector<Draw> plan_expiry(std::span<const Lot> lots, TimePoint now);

struct Expiring {
  Points points = 0;
  TimePoint at{};
  friend bool operator==(const Expiring&, const Expiring&) = default;
};
// Available and pending points that expire after `now` and up to `horizon`, summed per instant.
std::vector<Expiring> expiring(std::span<const Lot> lots, TimePoint now, TimePoint horizon);

}  // namespace circolo::engine::ledger
