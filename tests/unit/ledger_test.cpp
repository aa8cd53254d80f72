#include "circolo/engine/ledger.hpp"

#include <gtest/gtest.h>

using namespace circolo::engine;
using namespace circolo::engine::ledger;
using namespace std::chrono;

namespace {

const TimePoint kNow{sys_days{2026y / 12 / 5} + hours(10)};

Lot lot(std::int64_t id, Points points, std::optional<TimePoint> expires = std::nullopt,
        std::optional<TimePoint> pending_until = std::nullopt,
        std::optional<std::string> event = std::nullopt) {
  Lot l;
  l.id = id;
  l.points = points;
  l.remaining = points;
  l.earned_at = kNow - hours(24 * 10) + seconds(id);
  l.expires_at = expires;
  l.pending_until = pending_until;
  l.source_event_id = std::move(event);
  return l;
}

}  // namespace

TEST(Ledger, StatesAtTheBoundaries) {
  auto l = lot(1, 100, kNow + hours(1), kNow + minutes(30));
  EXPECT_EQ(state(l, kNow), LotState::pending);
  EXPECT_EQ(state(l, kNow + minutes(30) - microseconds(1)), LotState::pending);
  EXPECT_EQ(state(l, kNow + minutes(30)),
            LotState::available);  // pending_until is the first spendable instant
  EXPECT_EQ(state(l, kNow + hours(1) - microseconds(1)), LotState::available);
  EXPECT_EQ(state(l, kNow + hours(1)),
            LotState::expired);  // expires_at is the first instant without it
  l.remaining = 0;
  EXPECT_EQ(state(l, kNow), LotState::empty);
}

TEST(Ledger, BalancesSeparatePendingAndSkipExpired) {
  std::vector<Lot> lots{lot(1, 100), lot(2, 50, std::nullopt, kNow + hours(48)),
                        lot(3, 30, kNow - seconds(1)), lot(4, 20, kNow + hours(1))};
  auto b = balances(lots, kNow);
  EXPECT_EQ(b.available, 120);
  EXPECT_EQ(b.pending, 50);
  b = balances(lots, kNow + hours(49));  // the pending lot released, lot 4 expired
  EXPECT_EQ(b.available, 150);
  EXPECT_EQ(b.pending, 0);
}

TEST(Ledger, SpendTakesSoonestExpiringFirst) {
  std::vector<Lot> lots{lot(1, 100),                                  // never expires
                        lot(2, 40, kNow + hours(24 * 30)),            // later
                        lot(3, 25, kNow + hours(24 * 2)),             // soonest
                        lot(4, 500, std::nullopt, kNow + hours(1))};  // pending: untouchable
  auto plan = plan_spend(lots, 80, kNow);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->size(), 3u);
  EXPECT_EQ((*plan)[0], (Draw{3, 25, kNow + hours(48)}));
  EXPECT_EQ((*plan)[1], (Draw{2, 40, kNow + hours(24 * 30)}));
  EXPECT_EQ((*plan)[2], (Draw{1, 15, std::nullopt}));
}

TEST(Ledger, SpendTiesGoToTheOldestLot) {
  std::vector<Lot> lots{lot(7, 10, kNow + hours(5)), lot(3, 10, kNow + hours(5))};
  auto plan = plan_spend(lots, 15, kNow);
  ASSERT_TRUE(plan);
  EXPECT_EQ((*plan)[0].lot_id, 3);
  EXPECT_EQ((*plan)[1].lot_id, 7);
}

TEST(Ledger, SpendNeverGoesBelowZero) {
  std::vector<Lot> lots{lot(1, 100), lot(2, 50, std::nullopt, kNow + hours(1)), lot(3, 30, kNow)};
  EXPECT_FALSE(plan_spend(lots, 101, kNow));  // pending and expired points do not count
  EXPECT_TRUE(plan_spend(lots, 100, kNow));
  EXPECT_FALSE(plan_spend(lots, 0, kNow));
  EXPECT_FALSE(plan_spend(lots, -5, kNow));
  EXPECT_FALSE(plan_spend({}, 1, kNow));
}

TEST(Ledger, ReversalCancelsPendingFirst) {
  std::vector<Lot> lots{lot(1, 60, std::nullopt, std::nullopt, "evt_a"),      // available
                        lot(2, 40, std::nullopt, kNow + hours(24), "evt_a"),  // pending
                        lot(3, 500)};
  auto r = plan_reversal(lots, "evt_a", 50, kNow);
  EXPECT_EQ(r.reversible, 100);
  EXPECT_EQ(r.taken, 50);
  EXPECT_EQ(r.unrecovered, 0);
  ASSERT_EQ(r.draws.size(), 2u);
  EXPECT_EQ(r.draws[0], (Draw{2, 40, std::nullopt}));
  EXPECT_EQ(r.draws[1], (Draw{1, 10, std::nullopt}));
}

TEST(Ledger, ReversalIsCappedByWhatTheEventEarned) {
  std::vector<Lot> lots{lot(1, 100, std::nullopt, std::nullopt, "evt_a"), lot(2, 1000)};
  auto r = plan_reversal(lots, "evt_a", 250, kNow);
  EXPECT_EQ(r.reversible, 100);
  EXPECT_EQ(r.taken, 100);
  ASSERT_EQ(r.booked_on_source.size(), 1u);
  EXPECT_EQ(r.booked_on_source[0].points, 100);
  // Apply it and reverse again: a no-op.
  lots[0].remaining = 0;
  lots[0].reversed = 100;
  auto again = plan_reversal(lots, "evt_a", 100, kNow);
  EXPECT_EQ(again.reversible, 0);
  EXPECT_EQ(again.taken, 0);
  EXPECT_TRUE(again.draws.empty());
}

TEST(Ledger, PartialReversalsAddUpToTheCap) {
  std::vector<Lot> lots{lot(1, 100, std::nullopt, std::nullopt, "evt_a")};
  auto first = plan_reversal(lots, "evt_a", 30, kNow);
  EXPECT_EQ(first.taken, 30);
  lots[0].remaining -= 30;
  lots[0].reversed += 30;
  auto second = plan_reversal(lots, "evt_a", 90, kNow);
  EXPECT_EQ(second.reversible, 70);
  EXPECT_EQ(second.taken, 70);
}

TEST(Ledger, ReversalOfSpentPointsTakesOthersThenReportsTheRest) {
  // The member earned 100 with evt_a, spent 80 of them, and has 15 from elsewhere.
  std::vector<Lot> lots{lot(1, 100, std::nullopt, std::nullopt, "evt_a"),
                        lot(2, 15, kNow + hours(3))};
  lots[0].remaining = 20;
  auto r = plan_reversal(lots, "evt_a", 100, kNow);
  EXPECT_EQ(r.taken, 35);
  EXPECT_EQ(r.unrecovered, 65);
  EXPECT_EQ(r.draws[0].lot_id, 1);
  EXPECT_EQ(r.draws[1].lot_id, 2);
  // The whole 100 is booked, so nothing can be reversed twice.
  EXPECT_EQ(r.booked_on_source[0].points, 100);
}

TEST(Ledger, ReversalOfAnUnknownEventTakesNothing) {
  std::vector<Lot> lots{lot(1, 100)};
  auto r = plan_reversal(lots, "evt_x", 10, kNow);
  EXPECT_EQ(r.reversible, 0);
  EXPECT_EQ(r.taken, 0);
}

TEST(Ledger, ExpiryTakesDueLotsOnly) {
  std::vector<Lot> lots{lot(1, 10, kNow), lot(2, 20, kNow + microseconds(1)),
                        lot(3, 30, kNow - hours(1)), lot(4, 40)};
  lots[2].remaining = 5;
  auto due = plan_expiry(lots, kNow);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0], (Draw{3, 5, kNow - hours(1)}));
  EXPECT_EQ(due[1], (Draw{1, 10, kNow}));
}

TEST(Ledger, ExpiringSoonIsGroupedByInstant) {
  const auto day = hours(24);
  std::vector<Lot> lots{lot(1, 10, kNow + day), lot(2, 5, kNow + day), lot(3, 7, kNow + 40 * day),
                        lot(4, 3, kNow + 2 * day, kNow + day * 3 / 2), lot(5, 100)};
  auto soon = expiring(lots, kNow, kNow + 30 * day);
  ASSERT_EQ(soon.size(), 2u);
  EXPECT_EQ(soon[0], (Expiring{15, kNow + day}));
  EXPECT_EQ(soon[1], (Expiring{3, kNow + 2 * day}));  // pending points expire too
}

TEST(Ledger, ASpendDecisionRefusesWithWhatIsAvailable) {
  std::vector<Lot> lots{lot(1, 100), lot(2, 50, std::nullopt, kNow + hours(1)), lot(3, 30, kNow)};
  const auto refused = decide_spend(lots, 101, kNow);
  EXPECT_TRUE(refused.refused());
  EXPECT_EQ(refused.asked, 101);
  EXPECT_EQ(refused.available, 100);  // pending and expired points are not available
  const auto taken = decide_spend(lots, 60, kNow);
  ASSERT_FALSE(taken.refused());
  EXPECT_EQ(*taken.draws, *plan_spend(lots, 60, kNow));
  EXPECT_EQ(taken.available, 100);
}
