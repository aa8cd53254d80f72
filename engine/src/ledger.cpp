#include "circolo/engine/ledger.hpp"

#include <algorithm>
#include <map>

namespace circolo::engine::ledger {

namespace {

bool expired(const Lot& lot, TimePoint now) {
  return lot.expires_at && *lot.expires_at <= now;
}
bool pending(const Lot& lot, TimePoint now) {
  return lot.pending_until && *lot.pending_until > now;
}

// Soonest expiry first, "never" last; then oldest; then id for a total order.
bool spend_before(const Lot* a, const Lot* b) {
  if (a->expires_at != b->expires_at) {
    if (!a->expires_at) return false;
    if (!b->expires_at) return true;
    return *a->expires_at < *b->expires_at;
  }
  if (a->earned_at != b->earned_at) return a->earned_at < b->earned_at;
  return a->id < b->id;
}

std::vector<const Lot*> ordered(std::span<const Lot> lots) {
  std::vector<const Lot*> out;
  out.reserve(lots.size());
  for (const auto& lot : lots) out.push_back(&lot);
  std::sort(out.begin(), out.end(), spend_before);
  return out;
}

}  // namespace

LotState state(const Lot& lot, TimePoint now) {
  if (lot.remaining <= 0) return LotState::empty;
  if (expired(lot, now)) return LotState::expired;
  if (pending(lot, now)) return LotState::pending;
  return LotState::available;
}

Balances balances(std::span<const Lot> lots, TimePoint now) {
  Balances b;
  for (const auto& lot : lots) {
    switch (state(lot, now)) {
      case LotState::available:
        b.available += lot.remaining;
        break;
      case LotState::pending:
        b.pending += lot.remaining;
        break;
      default:
        break;
    }
  }
  return b;
}

std::optional<std::vector<Draw>> plan_spend(std::span<const Lot> lots, Points points,
                                            TimePoint now) {
  if (points <= 0) return std::nullopt;
  std::vector<Draw> draws;
  Points left = points;
  for (const Lot* lot : ordered(lots)) {
    if (left == 0) break;
    if (state(*lot, now) != LotState::available) continue;
    const Points take = std::min(left, lot->remaining);
    draws.push_back({lot->id, take, lot->expires_at});
    left -= take;
  }
  if (left > 0) return std::nullopt;
  return draws;
}

Reversal plan_reversal(std::span<const Lot> lots, const std::string& source_event_id,
                       Points requested, TimePoint now) {
  Reversal r;
  r.requested = std::max<Points>(requested, 0);
  Points earned = 0, already = 0;
  for (const auto& lot : lots) {
    if (lot.source_event_id == source_event_id) {
      earned += lot.points;
      already += lot.reversed;
    }
  }
  r.reversible = std::max<Points>(earned - already, 0);
  const Points target = std::min(r.requested, r.reversible);
  if (target == 0) return r;

  std::map<std::int64_t, Points> drawn;  // lot id -> points taken so far
  Points left = target;
  auto take_from = [&](const Lot& lot) {
    const Points take = std::min(left, lot.remaining - drawn[lot.id]);
    if (take <= 0) return;
    drawn[lot.id] += take;
    r.draws.push_back({lot.id, take, lot.expires_at});
    left -= take;
  };
  const auto order = ordered(lots);
  // 1. Pending points of the event: cancelled before anything spendable is touched.
  for (const Lot* lot : order) {
    if (left > 0 && lot->source_event_id == source_event_id &&
        state(*lot, now) == LotState::pending)
      take_from(*lot);
  }
  // 2. What the event earned and is still available.
  for (const Lot* lot : order) {
    if (left > 0 && lot->source_event_id == source_event_id &&
        state(*lot, now) == LotState::available)
      take_from(*lot);
  }
  // 3. The member spent those points: take the equivalent from other available points.
  for (const Lot* lot : order) {
    if (left > 0 && lot->source_event_id != source_event_id &&
        state(*lot, now) == LotState::available)
      take_from(*lot);
  }
  r.taken = target - left;
  r.unrecovered = left;

  // Book the whole target (taken or not) on the event's lots, so the cap holds next time.
  Points to_book = target;
  for (const Lot* lot : order) {
    if (to_book == 0) break;
    if (lot->source_event_id != source_event_id) continue;
    const Points room = lot->points - lot->reversed;
    const Points book = std::min(room, to_book);
    if (book > 0) {
      r.booked_on_source.push_back({lot->id, book, lot->expires_at});
      to_book -= book;
    }
  }
  return r;
}

std::vector<Draw> plan_expiry(std::span<const Lot> lots, TimePoint now) {
  std::vector<Draw> out;
  for (const Lot* lot : ordered(lots)) {
    if (state(*lot, now) == LotState::expired)
      out.push_back({lot->id, lot->remaining, lot->expires_at});
  }
  return out;
}

std::vector<Expiring> expiring(std::span<const Lot> lots, TimePoint now, TimePoint horizon) {
  std::map<TimePoint, Points> by_instant;
  for (const auto& lot : lots) {
    const auto s = state(lot, now);
    if ((s == LotState::available || s == LotState::pending) && lot.expires_at &&
        *lot.expires_at <= horizon) {
      by_instant[*lot.expires_at] += lot.remaining;
    }
  }
  std::vector<Expiring> out;
  for (const auto& [at, points] : by_instant) out.push_back({points, at});
  return out;
}

SpendDecision decide_spend(std::span<const Lot> lots, Points points, TimePoint now) {
  SpendDecision d;
  d.asked = points;
  d.available = balances(lots, now).available;
  d.draws = plan_spend(lots, points, now);
  return d;
}

}  // namespace circolo::engine::ledger
