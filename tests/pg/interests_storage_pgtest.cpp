// The interest profile as db stores it (no database needed): every event of the member reads
// and rewrites it with the member row, so its size is part of every event's cost.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "circolo/db/interests.hpp"

namespace circolo {
namespace {

using namespace std::chrono_literals;
namespace interests = engine::interests;

const engine::TimePoint kNow = engine::TimePoint{} + std::chrono::days(20'000);

// A member who bought three new products every day for two months, in one store and online.
interests::Profile long_history() {
  interests::Profile p;
  for (int day = 0; day < 60; ++day) {
    interests::Observation o;
    o.at = kNow - std::chrono::days(60 - day);
    o.channel = day % 3 ? "store" : "web";
    if (day % 3) o.store = "milano-centro";
    o.spend_minor = 4'599;
    for (int i = 0; i < 3; ++i) {
      const auto n = std::to_string(day * 3 + i);
      o.lines.push_back({"category-" + std::to_string(day % 12),
                         "brand-" + std::to_string(day % 25), "SKU-" + n + "-XL", 1, 1'533});
    }
    p = interests::observe(p, o, o.at);
  }
  return interests::observe(p, {.at = kNow, .channel = "app"}, kNow);
}

// 20 scores of each kind at six decimals, and 60 days of spend (a third of it): some 2 KB.
TEST(StoredInterests, StayUnderTwoKilobytesForADailyShopper) {
  const auto text = db::interests::to_text(long_history());
  EXPECT_LT(text.size(), 2'200u) << text;
}

TEST(StoredInterests, ReadBackAsWrittenToSixDecimals) {
  const auto written = long_history();
  const auto read = db::interests::from_text(db::interests::to_text(written));
  EXPECT_EQ(read.as_of, written.as_of);
  EXPECT_EQ(read.last_purchase, written.last_purchase);
  EXPECT_EQ(read.spend, written.spend);
  ASSERT_EQ(read.products.size(), written.products.size());
  for (const auto& [key, score] : written.products) EXPECT_NEAR(read.products.at(key), score, 1e-6);
  ASSERT_EQ(read.channels.size(), 3u);
  EXPECT_EQ(interests::preferred_channel(read), interests::preferred_channel(written));
  EXPECT_EQ(db::interests::from_text("not json"), interests::Profile{}) << "unreadable: empty";
}

}  // namespace
}  // namespace circolo
