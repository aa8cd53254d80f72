// engine::backtest::Replay: recorded events replayed with a draft program, in recorded order,
// on members' state in memory; the draft's figures beside the recorded ones.
#include <gtest/gtest.h>

#include "circolo/engine/backtest.hpp"

namespace {

using namespace circolo;
using engine::backtest::Recorded;
using engine::backtest::Replay;
using nlohmann::json;

// Tuesday 1 December 2026, 10:00 UTC (11:00 in Rome).
const engine::TimePoint kStart = *engine::parse_rfc3339("2026-12-01T10:00:00Z");
constexpr auto kDay = std::chrono::hours(24);

const char* kDraft = R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { threshold 0 }
tier "silver" { threshold 100 window 365 days }
campaign "base" { rule "earn" { on purchase then award floor(event.total) points } }
campaign "promo" {
  budget 100 points
  rule "big" { on purchase when event.total >= 40.00 then award 40 points }
}
campaign "daily" { rule "visit" { on visit then award 5 points limit 1 per member per day } }
)";

const rules::CompiledProgram& draft() {
  static const auto compiled = [] {
    auto result = rules::compile({"draft.rules", kDraft});
    if (!result.program) throw std::runtime_error("the draft does not compile");
    return result.program;
  }();
  return *compiled;
}

int counter = 0;

Recorded purchase(const std::string& member, std::int64_t cents, engine::TimePoint at,
                  const std::string& channel = "store") {
  Recorded r;
  r.event_id = "ev_" + std::to_string(++counter);
  r.member_id = member;
  r.api_key_id = "key_1";
  r.recorded_at = at;
  r.event.type = "purchase";
  r.event.channel = channel;
  r.event.time = at;
  r.event.total = {cents, 2};
  r.total_minor = cents;
  return r;
}

Recorded visit(const std::string& member, engine::TimePoint at) {
  Recorded r;
  r.event_id = "ev_" + std::to_string(++counter);
  r.member_id = member;
  r.api_key_id = "key_1";
  r.recorded_at = at;
  r.event.type = "visit";
  r.event.channel = "store";
  r.event.time = at;
  return r;
}

Recorded refund(const Recorded& of, std::int64_t cents, engine::TimePoint at) {
  Recorded r;
  r.event_id = "ev_" + std::to_string(++counter);
  r.member_id = of.member_id;
  r.api_key_id = "key_1";
  r.recorded_at = at;
  r.event.type = "refund";
  r.event.channel = "store";
  r.event.time = at;
  r.event.total = {cents, 2};
  r.total_minor = cents;
  r.original_event_id = of.event_id;
  return r;
}

TEST(Backtest, TheDraftsFiguresPerCampaignRuleDayAndChannel) {
  Replay replay(draft(), kStart, kStart + 30 * kDay);
  replay.add(purchase("mem_a", 5000, kStart + std::chrono::hours(1)));
  replay.add(purchase("mem_b", 2000, kStart + std::chrono::hours(2), "web"));
  replay.add(purchase("mem_a", 4500, kStart + kDay));
  const auto r = replay.result();
  EXPECT_EQ(r.events, 3);
  const auto& base = r.draft.campaigns.at("base");
  EXPECT_EQ(base.firings, 3);
  EXPECT_EQ(base.points, 50 + 20 + 45);
  EXPECT_EQ(base.members.size(), 2u);
  const auto& promo = r.draft.rules.at("promo/big");
  EXPECT_EQ(promo.firings, 2);
  EXPECT_EQ(promo.points, 80);
  EXPECT_EQ(r.draft.channels.at("web").points, 20);
  EXPECT_EQ(r.draft.days.at("2026-12-01").points, 50 + 40 + 20);
  EXPECT_EQ(r.draft.days.at("2026-12-02").points, 45 + 40);
  EXPECT_EQ(r.draft.total.points, 50 + 20 + 45 + 80);
  // Tiers at the end: mem_a earned 175 qualifying points (silver at 100), mem_b 20.
  EXPECT_EQ(r.tiers.at("silver"), 1);
  EXPECT_EQ(r.tiers.at("member"), 1);
  EXPECT_EQ(r.liability, 195);
}

TEST(Backtest, BudgetsRunOutAndLimitsRefuseAsLiveEventsWould) {
  Replay replay(draft(), kStart, kStart + 30 * kDay);
  replay.add(purchase("mem_0", 4000, kStart));
  replay.add(visit("mem_0", kStart + std::chrono::hours(2)));
  replay.add(visit("mem_0", kStart + std::chrono::hours(3)));  // the same local day
  for (int i = 1; i < 3; ++i)
    replay.add(purchase("mem_" + std::to_string(i), 4000, kStart + kDay * i));
  const auto r = replay.result();
  const auto& promo = r.draft.campaigns.at("promo");
  EXPECT_EQ(promo.firings, 2);  // 40 + 40 of 100; a third 40 would pass the budget
  EXPECT_EQ(promo.budget_refusals, 1);
  EXPECT_EQ(r.draft.budget_ran_out.at("promo"), "2026-12-03");
  EXPECT_EQ(r.draft.rules.at("daily/visit").firings, 1);
  EXPECT_EQ(r.draft.rules.at("daily/visit").limit_refusals, 1);
  // The burn-down: what the budget had used at the end of each day.
  EXPECT_EQ(r.budgets, (std::map<std::string, std::int64_t>{{"promo", 100}}));
  EXPECT_EQ(r.draft.budget_used.at("promo"),
            (std::map<std::string, std::int64_t>{
                {"2026-12-01", 40}, {"2026-12-02", 80}, {"2026-12-03", 80}}));
}

TEST(Backtest, RefundsTakeBackWhatTheDraftAwarded) {
  Replay replay(draft(), kStart, kStart + 30 * kDay);
  const auto bought = purchase("mem_a", 12000, kStart);
  replay.add(bought);
  replay.add(refund(bought, 12000, kStart + kDay));
  const auto r = replay.result();
  EXPECT_EQ(r.draft.campaigns.at("base").points, 120);
  EXPECT_EQ(r.liability, 0) << "a full refund takes back the base and promo points";
  EXPECT_EQ(r.tiers.at("silver"), 1) << "events only raise tiers; the review lowers them";
  // A refund of a purchase the replay never saw (history not kept) is counted as refused.
  Replay later(draft(), kStart, kStart + 30 * kDay);
  later.add(refund(bought, 100, kStart + kDay));
  EXPECT_EQ(later.result().refused, 1);
}

// The database reader marks purchases no refund follows: they are not kept for one (a million
// purchases' baskets and lots' sources would be), and points owed stay the same.
TEST(Backtest, PurchasesNoRefundFollowsAreNotKeptForOne) {
  Replay kept(draft(), kStart, kStart + 30 * kDay), lean(draft(), kStart, kStart + 30 * kDay);
  auto bought = purchase("mem_a", 12000, kStart);
  kept.add(bought);
  bought.refunded_later = false;
  lean.add(bought);
  EXPECT_EQ(kept.result().liability, lean.result().liability);
  EXPECT_EQ(kept.result().draft, lean.result().draft);
  // Were the mark wrong, the refund would find no purchase: counted as refused.
  lean.add(refund(bought, 12000, kStart + kDay));
  EXPECT_EQ(lean.result().refused, 1);
  kept.add(refund(bought, 12000, kStart + kDay));
  EXPECT_EQ(kept.result().refused, 0);
  EXPECT_EQ(kept.result().liability, 0);
}

// A full refund takes its purchase out of challenges, as it does live: spending 80, refunding
// it, then spending 30 does not reach a goal of 100.
TEST(Backtest, ARefundTakesItsPurchaseOutOfChallenges) {
  const auto compiled = rules::compile({"spend.rules", R"(
program { currency "EUR" timezone "Europe/Rome" }
campaign "base" { rule "earn" { on purchase then award floor(event.total) points } }
challenge "spend" { name "Spend 100" on purchase goal sum event.total reaches 100.00 then award 20 points }
)"});
  ASSERT_TRUE(compiled.program);
  Replay replay(*compiled.program, kStart, kStart + 30 * kDay);
  const auto bought = purchase("mem_a", 8000, kStart);
  replay.add(bought);
  replay.add(refund(bought, 8000, kStart + kDay));
  replay.add(purchase("mem_a", 3000, kStart + 2 * kDay));
  EXPECT_EQ(replay.result().liability, 30) << "no challenge reward: 80 was taken back";
}

TEST(Backtest, HistoryBeforeThePeriodBuildsStateButIsNotCounted) {
  Replay replay(draft(), kStart + 10 * kDay, kStart + 30 * kDay);
  replay.add(purchase("mem_a", 9000, kStart));              // before: 90 + 40 promo
  replay.add(purchase("mem_a", 1000, kStart + 11 * kDay));  // in the period
  const auto r = replay.result();
  EXPECT_EQ(r.replayed_before, 1);
  EXPECT_EQ(r.events, 1);
  EXPECT_EQ(r.draft.total.points, 10);
  EXPECT_EQ(r.tiers.at("silver"), 1) << "the earlier 130 points count toward the tier";
  EXPECT_EQ(r.liability, 140);
}

TEST(Backtest, OfflineEventsAreDecidedAsOfWhenTheyHappenedInRecordedOrder) {
  const char* source = R"(
program { currency "EUR" timezone "Europe/Rome" }
campaign "december" {
  active from 2026-12-01 until 2026-12-05
  rule "earn" { on purchase then award 10 points }
}
)";
  const auto compiled = rules::compile({"offline.rules", source}).program;
  ASSERT_TRUE(compiled);
  Replay replay(*compiled, kStart, kStart + 30 * kDay);
  // Happened on 3 December (campaign active), recorded on the 6th (it had ended).
  auto late = purchase("mem_a", 1000, kStart + 5 * kDay);
  late.event.time = kStart + 2 * kDay;
  replay.add(late);
  replay.add(purchase("mem_a", 1000, kStart + 5 * kDay + std::chrono::hours(1)));
  const auto r = replay.result();
  EXPECT_EQ(r.draft.rules.at("december/earn").firings, 1);
}

TEST(Backtest, TheActualSideIsWhatTheRecordedVersionsDid) {
  Replay replay(draft(), kStart, kStart + 30 * kDay);
  auto e = purchase("mem_a", 5000, kStart);
  e.effects = engine::backtest::counted_effects(
      json::array({{{"type", "points_awarded"}, {"campaign", "old"}, {"rule", "x"}, {"points", 7}},
                   {{"type", "coupon_issued"}, {"campaign", "old"}, {"rule", "x"}},
                   {{"type", "tag_added"}, {"tag", "vip"}}}));
  ASSERT_EQ(e.effects.size(), 3u);
  EXPECT_EQ(e.effects[2].campaign, "");
  replay.add(e);
  const auto r = replay.result();
  EXPECT_EQ(r.actual.campaigns.at("old").firings, 1);
  EXPECT_EQ(r.actual.campaigns.at("old").points, 7);
  EXPECT_EQ(r.actual.campaigns.at("old").coupons, 1);
  EXPECT_FALSE(r.draft.campaigns.count("old"));
  EXPECT_EQ(r.draft.campaigns.at("base").points, 50);
}

TEST(Backtest, BasketCouponsCountAsRecorded) {
  Replay replay(draft(), kStart, kStart + 30 * kDay);
  auto e = purchase("mem_a", 5000, kStart);
  const auto code = engine::coupons::make_code("WELCOME", [](unsigned char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(i * 37 + 11);
  });
  e.event.coupons = {code};
  e.coupon_discounts[code] = 1500;
  replay.add(e);
  const auto r = replay.result();
  EXPECT_EQ(r.draft.campaigns.at("base").points, 35) << "earned on what was paid";
  EXPECT_FALSE(r.draft.campaigns.count("promo")) << "35.00 paid is under 40.00";
}

}  // namespace
