#include "circolo/engine/offers.hpp"

#include <gtest/gtest.h>

namespace circolo::engine::offers {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = *parse_rfc3339("2026-11-20T10:00:00Z");

Coupon coupon(std::string code, std::string name, std::int64_t amount_minor,
              std::int64_t min_total_minor, std::vector<std::string> channels = {},
              TimePoint expires = kNow + std::chrono::days(30)) {
  Coupon c;
  c.code = std::move(code);
  c.coupon = "T";
  c.name = std::move(name);
  c.terms.amount_minor = amount_minor;
  c.terms.min_total_minor = min_total_minor;
  c.terms.channels = std::move(channels);
  c.expires_at = expires;
  return c;
}

interests::Profile likes(std::map<std::string, double> categories) {
  interests::Profile p;
  p.as_of = kNow;
  p.categories = std::move(categories);
  return p;
}

recommend::CoOccurrence shop() {
  recommend::CoOccurrence m;
  for (int i = 0; i < 8; ++i) m.add_member({"shoes", "socks"});
  for (int i = 0; i < 2; ++i) m.add_member({"shoes", "bags"});
  for (int i = 0; i < 5; ++i) m.add_member({"coffee", "books"});
  return m;
}

Input base() {
  Input in;
  in.now = kNow;
  in.limit = 20;
  return in;
}

TEST(Offers, RewardsClaimableOrCloseWithTheirReason) {
  auto in = base();
  in.points_available = 260;
  in.rewards = {{"free-coffee", "Free coffee", 300, std::nullopt, {}},
                {"mug", "A mug", 200, std::nullopt, {}},
                {"bag", "Tote bag", 1000, std::nullopt, {}},    // 26 %: not close
                {"cap", "Cap", 100, std::int64_t{0}, {}},       // out of stock
                {"pen", "Pen", 259 + 2, std::int64_t{3}, {}}};  // 1 point away
  const auto offers = rank(in);
  ASSERT_EQ(offers.size(), 3u);
  EXPECT_EQ(offers[0], (Offer{Kind::reward, "mug", "A mug", "You can claim A mug now", 0.9}));
  EXPECT_EQ(offers[1].id, "pen");
  EXPECT_EQ(offers[1].reason, "1 point from Pen");
  EXPECT_EQ(offers[2].id, "free-coffee");
  EXPECT_EQ(offers[2].reason, "40 points from Free coffee");
  EXPECT_DOUBLE_EQ(offers[2].score, 0.3 + 0.5 * 260.0 / 300.0);
}

TEST(Offers, CouponsFitTheBasketOrSayWhatIsMissing) {
  auto in = base();
  in.coupons = {coupon("WELCOME-A", "5 euro off", 500, 2500),
                coupon("SMALL-B", "1 euro off", 100, 0)};
  in.basket_total_minor = 2000;
  auto offers = rank(in);
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].id, "SMALL-B");
  EXPECT_EQ(offers[0].reason, "Fits this basket: 1.00 off");
  EXPECT_EQ(offers[1].reason, "Spend 5.00 more to use it");
  // No basket: what the wallet holds, with its date, a soon expiry pointed out first.
  in.basket_total_minor.reset();
  in.coupons.push_back(coupon("SOON-C", "2 euro off", 200, 0, {}, kNow + 36h));
  offers = rank(in);
  ASSERT_EQ(offers.size(), 3u);
  EXPECT_EQ(offers[0].id, "SOON-C");
  EXPECT_EQ(offers[0].reason, "2.00 off, expires in 2 days");
  EXPECT_EQ(offers[1].reason, "1.00 off, in your wallet until 2026-12-20");
}

TEST(Offers, ATouchpointSeesOnlyWhatIsValidOnItsChannel) {
  auto in = base();
  in.points_available = 1000;
  in.rewards = {{"free-coffee", "Free coffee", 300, std::nullopt, {"store"}}};
  in.coupons = {coupon("STORE-A", "Coffee", 250, 0, {"store"}),
                coupon("ANY-B", "Anything", 100, 0)};
  Campaign c{"double", "Double points", std::nullopt, std::nullopt, false, {"app"}, {"shoes"}, {}};
  in.campaigns = {c};
  in.basket_categories = {"shoes"};
  in.channel = "web";
  auto offers = rank(in);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].id, "ANY-B");
  in.channel = "store";
  EXPECT_EQ(rank(in).size(), 3u);
  in.channel = "app";
  offers = rank(in);
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0], (Offer{Kind::campaign, "double", "Double points",
                              "Rewards shoes in this basket", 0.75}));
  in.channel.reset();  // the member's own app or an admin: everything
  EXPECT_EQ(rank(in).size(), 4u);
  // A campaign for an audience: only for members in one of its segments.
  in.campaigns[0].audience = {"lapsed-gold", "vip"};
  EXPECT_EQ(rank(in).size(), 3u);
  in.segments = {"buyers", "vip"};
  EXPECT_EQ(rank(in).size(), 4u);
}

TEST(Offers, ChallengesNearCompletionFirst) {
  auto in = base();
  in.challenges = {{"explorer", "Omnichannel explorer", 2, 3, 0, false},
                   {"regular", "Four weeks", 1, 4, 0, false},
                   {"spender", "Spend 100", 2550, 10000, 2, false},
                   {"none", "Not started", 0, 3, 0, false},
                   {"done", "Done for good", 3, 3, 0, true}};
  const auto offers = rank(in);
  ASSERT_EQ(offers.size(), 3u);
  EXPECT_EQ(offers[0].id, "explorer");
  EXPECT_EQ(offers[0].reason, "2 of 3 done");
  EXPECT_DOUBLE_EQ(offers[0].score, 0.3 + 0.6 * 2.0 / 3.0);
  EXPECT_EQ(offers[1].reason, "25.50 of 100.00 done");
  EXPECT_EQ(offers[2].reason, "1 of 4 done");
}

TEST(Offers, InterestsMatchCampaignsCouponsAndRecommendOnlyWithProfiling) {
  auto in = base();
  in.interests = likes({{"shoes", 3.0}, {"coffee", 1.0}});
  const auto model = shop();
  in.model = &model;
  in.coupons = {coupon("SHOE-A", "10% off shoes", 0, 0)};
  in.coupons[0].terms.amount_minor.reset();
  in.coupons[0].terms.percent_e4 = 100000;
  in.campaigns = {{"shoe-week", "Shoe week", kNow - 24h, kNow + 24h, false, {}, {"shoes"}, {}},
                  {"paused", "Paused", std::nullopt, std::nullopt, true, {}, {"shoes"}, {}},
                  {"later", "Later", kNow + 24h, std::nullopt, false, {}, {"shoes"}, {}},
                  {"books", "Book club", std::nullopt, std::nullopt, false, {}, {"books"}, {}}};
  in.profiling = true;
  auto offers = rank(in);
  ASSERT_EQ(offers.size(), 5u);
  EXPECT_EQ(offers[0], (Offer{Kind::coupon, "SHOE-A", "10% off shoes",
                              "10% off shoes, which you like", 0.8 + 0.1 * 0.75}));
  EXPECT_EQ(offers[1], (Offer{Kind::campaign, "shoe-week", "Shoe week",
                              "Rewards shoes, which you like", 0.4 + 0.4 * 0.75}));
  // Socks: 0.75 × 8/10; books: 0.25 × 5/5; bags: 0.75 × 2/10. Shoes and coffee are known.
  EXPECT_EQ(offers[2].kind, Kind::recommendation);
  EXPECT_EQ(offers[2].id, "socks");
  EXPECT_EQ(offers[2].reason, "Bought by members who buy shoes");
  EXPECT_DOUBLE_EQ(offers[2].score, 0.1 + 0.3 * 0.6);
  EXPECT_EQ(offers[3].id, "books");
  EXPECT_EQ(offers[3].reason, "Bought by members who buy coffee");
  EXPECT_EQ(offers[4].id, "bags");

  // Without consent: the coupon is still the member's, but nothing comes from its interests.
  in.profiling = false;
  offers = rank(in);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].kind, Kind::coupon);
  EXPECT_EQ(offers[0].reason, "10% off, in your wallet until 2026-12-20");
}

TEST(Offers, LimitAndTiesAreDeterministic) {
  auto in = base();
  in.points_available = 500;
  in.rewards = {{"b", "B", 100, std::nullopt, {}},
                {"a", "A", 100, std::nullopt, {}},
                {"c", "C", 100, std::nullopt, {}}};
  in.limit = 2;
  const auto offers = rank(in);
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].id, "a");
  EXPECT_EQ(offers[1].id, "b");
  in.limit = 0;
  EXPECT_TRUE(rank(in).empty());
  EXPECT_EQ(name(Kind::recommendation), "recommendation");
}

TEST(Offers, AnExpiredCodeOrAnEmptyModelOffersNothing) {
  auto in = base();
  in.coupons = {coupon("OLD-A", "Old", 100, 0, {}, kNow)};
  in.profiling = true;
  in.interests = likes({{"shoes", 1.0}});
  recommend::CoOccurrence empty;
  in.model = &empty;
  EXPECT_TRUE(rank(in).empty());
}

}  // namespace
}  // namespace circolo::engine::offers
