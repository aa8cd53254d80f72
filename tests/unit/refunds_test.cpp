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
  // Lines worth 100.00, paid 80.00 (a discount in the receipt): half the goods give back 40.00.
  auto p = purchase(8000, 80, {{"A", 1, 5000}, {"B", 1, 5000}});
  auto d = refund_items(p, std::vector<Line>{{"A", 1, 0}});
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.amount_minor, 4000);
  EXPECT_EQ(d.points, 40);
  // With a 10.00 coupon on top, 70.00 was paid (and earned 70): the same half gives back 35.00.
  p.discount_minor = 1000;
  p.awarded = 70;
  d = refund_items(p, std::vector<Line>{{"A", 1, 0}});
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.amount_minor, 3500);
  EXPECT_EQ(d.points, 35);
}

namespace {

// Random refunds of random purchases (with a coupon's discount when `discounted`): never more
// than was paid or earned, and refunding all that was paid takes back exactly the award.
void expect_any_mix_of_refunds_takes_back_the_award(unsigned seed, bool discounted) {
  std::mt19937 random(seed);
  for (int round = 0; round < 500; ++round) {
    const std::int64_t total = 1 + random() % 100000;
    const Points awarded = random() % 5000;
    auto p = purchase(total, awarded);
    if (discounted) p.discount_minor = random() % total;
    const std::int64_t paid = p.paid_minor();
    Points taken = 0;
    for (int i = 0; i < 20; ++i) {
      const std::int64_t amount = 1 + random() % (paid / 3 + 1);
      const auto d = refund_amount(p, amount);
      if (d.refusal != Refusal::none) continue;
      taken += d.points;
      book(p, d);
      ASSERT_LE(taken, awarded);
      ASSERT_LE(p.refunded_minor, paid);
    }
    if (p.refunded_minor < paid) book(p, refund_amount(p, paid - p.refunded_minor));
    EXPECT_EQ(p.refunded_minor, paid) << "round " << round;
    EXPECT_EQ(p.reversed, awarded) << "round " << round;
  }
}

}  // namespace

TEST(Refunds, AnyMixOfRefundsNeverTakesMoreThanTheAward) {
  expect_any_mix_of_refunds_takes_back_the_award(7, false);
}

// A purchase of 84.50 with a 5.00 coupon: paid 79.50, which earned 79 points. Refunds give back
// what was paid, and take the points back in proportion to it.
TEST(Refunds, ADiscountedPurchaseRefundsWhatWasPaid) {
  auto p = purchase(8450, 79);
  p.discount_minor = 500;
  EXPECT_EQ(p.paid_minor(), 7950);
  auto d = refund_amount(p, 3975);
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.points, 39);  // 79 * 39.75 / 79.50 = 39.5
  EXPECT_FALSE(d.completes);
  book(p, d);
  EXPECT_EQ(refund_amount(p, 3976).refusal, Refusal::exceeds_purchase);
  d = refund_amount(p, 3975);
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_TRUE(d.completes) << "all that was paid is back";
  book(p, d);
  EXPECT_EQ(p.reversed, 79);
  EXPECT_EQ(refund_amount(p, 1).refusal, Refusal::exceeds_purchase);
}

TEST(Refunds, ARefundOfAllThatWasPaidTakesBackEverythingAndNoMore) {
  auto p = purchase(8450, 79);
  p.discount_minor = 500;
  EXPECT_EQ(refund_amount(p, 7951).refusal, Refusal::exceeds_purchase);
  EXPECT_EQ(refund_amount(p, 8450).refusal, Refusal::exceeds_purchase) << "the receipt total";
  const auto d = refund_amount(p, 7950);
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.points, 79);
  EXPECT_TRUE(d.completes);
}

TEST(Refunds, ItemsOfADiscountedPurchaseArePricedAsBoughtAndScaledToWhatWasPaid) {
  auto p = purchase(8450, 79, {{"SHOE", 1, 5990}, {"SOCKS", 2, 1230}});
  p.discount_minor = 500;
  auto d = refund_items(p, std::vector<Line>{{"SHOE", 1, 0}});
  ASSERT_EQ(d.refusal, Refusal::none);
  ASSERT_EQ(d.returned.size(), 1u);
  EXPECT_EQ(d.returned[0].unit_price_minor, 5990);  // as bought
  EXPECT_EQ(d.amount_minor, 5635);                  // 59.90 * 79.50 / 84.50 = 56.356
  EXPECT_EQ(d.points, 55);                          // 79 * 56.35 / 79.50 = 55.99
  book(p, d);
  // The rest: exactly what is left of what was paid, and of the points.
  d = refund_items(p, std::vector<Line>{{"SOCKS", 2, 0}});
  ASSERT_EQ(d.refusal, Refusal::none);
  EXPECT_EQ(d.amount_minor, 2315);
  EXPECT_TRUE(d.completes);
  book(p, d);
  EXPECT_EQ(p.reversed, 79);
}

TEST(Refunds, AnyMixOfRefundsOfADiscountedPurchaseTakesBackExactlyTheAward) {
  expect_any_mix_of_refunds_takes_back_the_award(11, true);
}
