#include "circolo/engine/refunds.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace circolo::engine::refunds;

namespace {

Purchase purchase(std::int64_t total, Points awarded, std::vector<Line> lines = {}) {
  Purchase p;
  p.total_minor = total;
  p.awarded = awarded;
  p.lines = std::move(lines);
  return p;
}

// Applies a decision to the purchase the way the server books it.
void book(Purchase& p, const Decision& d) {
  p.refunded_minor += d.amount_minor;
  p.reversed += d.points;
  for (const auto& line : d.returned) p.refunded_lines.push_back(line);
}

}  // namespace

TEST(Refunds, AmountTakesBackItsShareRoundedDown) {
  auto p = purchase(8450, 94);
  const auto d = refund_amount(p, 3000);
  EXPECT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.amount_minor, 3000);
  EXPECT_EQ(d.points, 33);  // 94 * 30.00 / 84.50 = 33.37
}

TEST(Refunds, PartialRefundsAddingUpToTheTotalTakeBackExactlyTheAward) {
  auto p = purchase(1000, 7);
  for (int i = 0; i < 3; ++i) {
    const auto d = refund_amount(p, 300);
    ASSERT_EQ(d.refusal, Refusal::none);
    book(p, d);
  }
  const auto last = refund_amount(p, 100);
  ASSERT_EQ(last.refusal, Refusal::none);
  book(p, last);
  EXPECT_EQ(p.reversed, 7);
  EXPECT_EQ(refund_amount(p, 1).refusal, Refusal::exceeds_purchase);
}

TEST(Refunds, ARefundSaysWhenNothingOfThePurchaseIsLeft) {
  // By amount: the refund that reaches the total completes it, earlier ones do not.
  auto p = purchase(1000, 10);
  auto d = refund_amount(p, 400);
  EXPECT_FALSE(d.completes);
  book(p, d);
  d = refund_amount(p, 600);
  EXPECT_TRUE(d.completes);
  // By items: the last item returned completes it, also when it cost nothing.
  auto q = purchase(500, 5, {{"A", 1, 500}, {"FREE", 1, 0}});
  const std::vector<Line> a{{"A", 1, 0}}, free{{"FREE", 1, 0}};
  d = refund_items(q, a);
  EXPECT_TRUE(d.completes) << "the whole total is back";
  EXPECT_EQ(d.amount_minor, 500);
  d = refund_items(q, free);
  EXPECT_FALSE(d.completes);
  EXPECT_EQ(d.amount_minor, 0);
  book(q, d);
  d = refund_items(q, a);
  EXPECT_TRUE(d.completes);
  // A free purchase: only returning all of it completes it.
  auto z = purchase(0, 0, {{"G1", 1, 0}, {"G2", 1, 0}});
  const std::vector<Line> g1{{"G1", 1, 0}}, g2{{"G2", 1, 0}};
  d = refund_items(z, g1);
  EXPECT_FALSE(d.completes);
  book(z, d);
  EXPECT_TRUE(refund_items(z, g2).completes);
}

TEST(Refunds, NeverMoreThanThePurchase) {
  auto p = purchase(1000, 10);
  EXPECT_EQ(refund_amount(p, 1001).refusal, Refusal::exceeds_purchase);
  EXPECT_EQ(refund_amount(p, 0).refusal, Refusal::nothing_to_refund);
  EXPECT_EQ(refund_amount(p, -5).refusal, Refusal::nothing_to_refund);
  book(p, refund_amount(p, 1000));
  EXPECT_EQ(p.reversed, 10);
  EXPECT_EQ(refund_amount(p, 1).refusal, Refusal::exceeds_purchase);
}

TEST(Refunds, ItemsArePricedAsBoughtAndCountedPerSku) {
  auto p = purchase(8450, 84, {{"A", 2, 3000}, {"B", 1, 2450}});
  auto d = refund_items(p, std::vector<Line>{{"A", 1, 0}});
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.amount_minor, 3000);
  EXPECT_EQ(d.points, 29);  // 84 * 30.00 / 84.50 = 29.8
  book(p, d);
  EXPECT_EQ(refund_items(p, std::vector<Line>{{"A", 2, 0}}).refusal, Refusal::exceeds_quantity);
  EXPECT_EQ(refund_items(p, std::vector<Line>{{"Z", 1, 0}}).refusal, Refusal::unknown_item);
  EXPECT_EQ(refund_items(p, std::vector<Line>{}).refusal, Refusal::nothing_to_refund);
  // The rest: exactly what is left of the total, and of the points.
  d = refund_items(p, std::vector<Line>{{"B", 1, 0}, {"A", 1, 0}});
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.amount_minor, 5450);
  book(p, d);
  EXPECT_EQ(p.reversed, 84);
  EXPECT_EQ(refund_items(p, std::vector<Line>{{"B", 1, 0}}).refusal, Refusal::exceeds_quantity);
}

TEST(Refunds, ADiscountedReceiptScalesItemAmountsToItsTotal) {
  // Lines worth 100.00, paid 80.00 (a coupon): returning half the goods gives back 40.00.
  auto p = purchase(8000, 80, {{"A", 1, 5000}, {"B", 1, 5000}});
  const auto d = refund_items(p, std::vector<Line>{{"A", 1, 0}});
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.amount_minor, 4000);
  EXPECT_EQ(d.points, 40);
}

TEST(Refunds, AnyMixOfRefundsNeverTakesMoreThanTheAward) {
  std::mt19937 random(7);
  for (int round = 0; round < 500; ++round) {
    const std::int64_t total = 1 + random() % 100000;
    const Points awarded = random() % 5000;
    auto p = purchase(total, awarded);
    Points taken = 0;
    for (int i = 0; i < 20; ++i) {
      const std::int64_t amount = 1 + random() % (total / 3 + 1);
      const auto d = refund_amount(p, amount);
      if (d.refusal != Refusal::none) continue;
      taken += d.points;
      book(p, d);
      ASSERT_LE(taken, awarded);
      ASSERT_LE(p.refunded_minor, total);
    }
    if (p.refunded_minor < total) book(p, refund_amount(p, total - p.refunded_minor));
    EXPECT_EQ(p.reversed, awarded) << "round " << round;
  }
}
