#include "circolo/engine/interests.hpp"

#include <gtest/gtest.h>

namespace circolo::engine::interests {
namespace {

const TimePoint kNow = TimePoint{} + std::chrono::days(20'000) + std::chrono::hours(15);

Observation purchase(TimePoint at, std::vector<Line> lines, std::int64_t paid = 0,
                     std::string channel = "store") {
  return {at, std::move(channel), std::nullopt, std::move(lines), 1.0, paid};
}

TEST(Interests, ABasketSharesOneUnitOfInterestByValue) {
  const auto p = observe(
      {},
      purchase(kNow, {{"shoes", "acme", "SH-1", 1, 8000}, {"socks", "acme", "SO-1", 2, 2000}},
               10000),
      kNow);
  EXPECT_DOUBLE_EQ(affinity(p, Kind::category, "shoes"), 0.8);
  EXPECT_DOUBLE_EQ(affinity(p, Kind::category, "socks"), 0.2);
  EXPECT_DOUBLE_EQ(affinity(p, Kind::brand, "acme"), 1.0);
  EXPECT_DOUBLE_EQ(affinity(p, Kind::product, "SO-1"), 0.2);
  EXPECT_DOUBLE_EQ(affinity(p, Kind::category, "books"), 0.0);
  EXPECT_EQ(p.last_purchase, kNow);
  EXPECT_EQ(preferred_channel(p), "store");
}

TEST(Interests, OldEvidenceFadesByHalfEveryNinetyDays) {
  auto p = observe({}, purchase(kNow - std::chrono::days(180), {{"books", "", "", 1, 1000}}, 1000),
                   kNow);
  p = observe(p, purchase(kNow, {{"shoes", "", "", 1, 5000}}, 5000), kNow);
  // Books: two half-lives, a quarter of one purchase; shoes: one.
  EXPECT_NEAR(affinity(p, Kind::category, "books"), 0.25 / 1.25, 1e-12);
  EXPECT_NEAR(affinity(p, Kind::category, "shoes"), 1.0 / 1.25, 1e-12);
  const auto ranked = top(p, Kind::category, 5);
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[0].first, "shoes");
}

TEST(Interests, ALateEventCountsAsOldAsItIs) {
  const auto early = purchase(kNow - std::chrono::days(30), {{"books", "", "", 1, 1000}}, 1000);
  const auto late = purchase(kNow, {{"shoes", "", "", 1, 1000}}, 1000, "app");
  const auto in_order = observe(observe({}, early, kNow), late, kNow);
  const auto offline = observe(observe({}, late, kNow), early, kNow);
  EXPECT_NEAR(affinity(in_order, Kind::category, "books"),
              affinity(offline, Kind::category, "books"), 1e-12);
  EXPECT_EQ(in_order.last_purchase, offline.last_purchase);
  EXPECT_EQ(in_order.spend, offline.spend);
  EXPECT_EQ(offline.as_of, kNow);
}

TEST(Interests, LookingCountsLessThanBuying) {
  auto p = observe({}, purchase(kNow, {{"shoes", "", "", 1, 1000}}, 1000), kNow);
  for (int i = 0; i < 2; ++i)
    p = observe(p, {kNow, "web", std::nullopt, {{"bags", "", "", 1, 0}}, 0.25, std::nullopt}, kNow);
  EXPECT_NEAR(affinity(p, Kind::category, "bags"), 0.5 / 1.5, 1e-12);
  EXPECT_EQ(p.last_purchase, kNow) << "a view is not a purchase";
  EXPECT_EQ(spend_within(p, 30, kNow), 1000);
}

TEST(Interests, PreferredChannelAndStoreAreRecencyWeighted) {
  Profile p;
  for (int i = 0; i < 3; ++i) {
    auto seen = purchase(kNow - std::chrono::days(365), {}, 100, "store");
    seen.store = "milano-01";
    p = observe(p, seen, kNow);
  }
  p = observe(p, purchase(kNow, {}, 100, "app"), kNow);
  // Three store purchases a year ago weigh 3 × 2^(-365/90) ≈ 0.18: the app now wins.
  EXPECT_EQ(preferred_channel(p), "app");
  EXPECT_EQ(preferred_store(p), "milano-01");
  EXPECT_EQ(preferred_channel(Profile{}), std::nullopt);
}

TEST(Interests, DaysSincePurchaseAndSpendOverRecentPeriodsAreExact) {
  Profile p;
  p = observe(p, purchase(kNow - std::chrono::days(400), {}, 9999), kNow);
  p = observe(p, purchase(kNow - std::chrono::days(45), {}, 2550), kNow);
  p = observe(p, purchase(kNow - std::chrono::days(29), {}, 1000), kNow);
  p = observe(p, purchase(kNow - std::chrono::days(29), {}, 450), kNow);
  EXPECT_EQ(days_since_purchase(p, kNow), 29);
  EXPECT_EQ(spend_within(p, 30, kNow), 1450);
  EXPECT_EQ(spend_within(p, 90, kNow), 4000);
  EXPECT_EQ(spend_within(p, 365, kNow), 4000) << "older than a year is not kept";
  EXPECT_EQ(p.spend.size(), 2u);
  EXPECT_EQ(days_since_purchase(Profile{}, kNow), std::nullopt);
}

TEST(Interests, AProfileStaysSmallWhateverTheHistory) {
  Profile p;
  for (int i = 0; i < 200; ++i) {
    const auto key = std::to_string(i);
    p = observe(p,
                purchase(kNow - std::chrono::days(200 - i),
                         {{"c" + key, "b" + key, "p" + key, 1, 100}}, 100),
                kNow);
  }
  EXPECT_EQ(p.categories.size(), kMaxCategories);
  EXPECT_EQ(p.brands.size(), kMaxBrands);
  EXPECT_EQ(p.products.size(), kMaxProducts);
  EXPECT_TRUE(p.categories.contains("c199")) << "the newest stay";
  EXPECT_FALSE(p.categories.contains("c0"));
  EXPECT_LE(p.spend.size(), static_cast<std::size_t>(kSpendDays));
}

}  // namespace
}  // namespace circolo::engine::interests
