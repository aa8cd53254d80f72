// Referrals in the engine: codes, the refusals at start and after merges, and what the decision
// of a referee's event does to its open referral (completed, refused, expired), a refund within
// the hold (reversed), and the side events that carry them on.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/referrals.hpp"

namespace {

using namespace circolo;
using engine::event::Inputs;
using engine::event::MapCounters;
using engine::event::Plan;
using engine::event::ReferralStep;
using engine::event::Request;
namespace referrals = engine::referrals;

// Wednesday 2 December 2026, 11:00 in Rome.
const engine::TimePoint kNow = *engine::parse_rfc3339("2026-12-02T10:00:00Z");
constexpr auto kDay = std::chrono::hours(24);

const char* kProgram = R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { threshold 0 }
referral {
  qualify on purchase when event.total >= 20.00 and member.purchases == 0
  within 30 days
  hold 14 days
  limit 3 per referrer per month
}
challenge "ambassador" {
  on referral_completed when event.attributes.role == "referrer"
  goal count reaches 3
  then award 1000 points
}
campaign "base" { rule "earn" { on purchase then award floor(event.total) points } }
campaign "referrals" {
  rule "referrer" { on referral_completed when event.attributes.role == "referrer" then award 500 points }
  rule "referee" { on referral_completed when event.attributes.role == "referee" then award 200 points }
}
)";

const rules::CompiledProgram& program() {
  static const auto compiled = [] {
    auto result = rules::compile({"referrals.rules", kProgram});
    if (!result.program) throw std::runtime_error("the test program does not compile");
    return result.program;
  }();
  return *compiled;
}

Request purchase(std::int64_t cents, engine::TimePoint at = kNow) {
  Request r;
  r.event_id = "ev_1";
  r.api_key_id = "key_1";
  r.now = kNow;
  r.program_version = 1;
  r.event.type = "purchase";
  r.event.channel = "store";
  r.event.time = at;
  r.event.total = {cents, 2};
  r.total_minor = cents;
  auto next = std::make_shared<int>(0);
  r.new_id = [next](std::string_view prefix) {
    return std::string(prefix) + "_" + std::to_string(++*next);
  };
  return r;
}

Inputs referee(engine::TimePoint started = kNow - 5 * kDay, std::int64_t completed = 0) {
  Inputs in;
  in.member.member.id = "mem_new";
  in.member.member.tier = "member";
  in.member.qualifying.assign(program().tiers().size(), 0);
  engine::event::OpenReferral open;
  open.id = "ref_1";
  open.referrer_id = "mem_old";
  open.referrer_merged_ids = {"mem_old2"};
  open.started_at = started;
  open.referrer_completed = completed;
  in.referral = open;
  return in;
}

Plan decided(const Request& r, const Inputs& in) {
  MapCounters counters;
  auto d = engine::event::decide(program(), r, in, counters);
  EXPECT_TRUE(std::holds_alternative<Plan>(d));
  return std::get<Plan>(std::move(d));
}

TEST(ReferralCodes, AreShortReadableAndNormalised) {
  const auto code = referrals::make_code(0x12'3456'789aULL);
  EXPECT_EQ(code.size(), 9u);
  EXPECT_EQ(code[4], '-');
  EXPECT_EQ(referrals::normalize_code(code), code);
  std::string typed = code.substr(0, 4) + " " + code.substr(5);
  for (auto& c : typed) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(referrals::normalize_code(typed), code);
  // Symbols people confuse are read as the digits they look like.
  EXPECT_EQ(referrals::normalize_code("OIL0-abcd"), "0110-ABCD");
  EXPECT_FALSE(referrals::normalize_code("ABCD-ABC"));    // too short
  EXPECT_FALSE(referrals::normalize_code("ABCD-ABCDE"));  // too long
  EXPECT_FALSE(referrals::normalize_code("ABCD-ABCU"));   // U is not a symbol
  EXPECT_FALSE(referrals::normalize_code("ABCD/ABCD"));
  // 40 random bits: different draws, different codes.
  std::set<std::string> codes;
  for (std::uint64_t i = 0; i < 1000; ++i) codes.insert(referrals::make_code(i * 0x9e37'79b9ULL));
  EXPECT_EQ(codes.size(), 1000u);
}

TEST(ReferralStart, RefusesTheReferrerAndExistingMembers) {
  EXPECT_EQ(referrals::refusal_at_start({"mem_a", "mem_b", true, {}}), std::nullopt);
  EXPECT_EQ(referrals::refusal_at_start({"mem_a", "mem_a", false, {}}), "self_referral");
  EXPECT_EQ(referrals::refusal_at_start({"mem_a", "mem_x", false, {"mem_x"}}), "self_referral");
  EXPECT_EQ(referrals::refusal_at_start({"mem_a", "mem_b", false, {}}), "already_member");
  // A new member with an identifier the referrer once had: the referrer again.
  EXPECT_EQ(referrals::refusal_at_start({"mem_a", "mem_b", true, {}, true}), "self_referral");
}

TEST(ReferralStart, MergesRefuseOpenReferrals) {
  EXPECT_EQ(referrals::refusal_on_merge("mem_ref", "mem_new", "mem_ref", {}), "self_referral");
  EXPECT_EQ(referrals::refusal_on_merge("mem_new", "mem_ref", "mem_ref", {}), "self_referral");
  EXPECT_EQ(referrals::refusal_on_merge("mem_new", "mem_x", "mem_ref", {"mem_x"}), "self_referral");
  EXPECT_EQ(referrals::refusal_on_merge("mem_old", "mem_new", "mem_ref", {}), "already_member");
}

TEST(ReferralDecision, TheFirstQualifyingPurchaseCompletesIt) {
  const auto plan = decided(purchase(2500), referee());
  ASSERT_TRUE(plan.referral);
  EXPECT_EQ(plan.referral->kind, ReferralStep::Kind::completed);
  EXPECT_EQ(plan.referral->id, "ref_1");
  EXPECT_EQ(plan.referral->referrer_id, "mem_old");
  EXPECT_EQ(plan.referral->referee_id, "mem_new");
  EXPECT_EQ(plan.referral->hold_until, program().after({14, rules::Unit::days, {}}, kNow));
  bool published = false;
  for (const auto& w : plan.writes)
    if (const auto* o = std::get_if<engine::event::Outgoing>(&w))
      published = published || o->type == "referral.completed";
  EXPECT_TRUE(published);
  // The member as the purchase left it: what the referee's side event starts from.
  EXPECT_EQ(plan.state_after.member.purchases, 1);
  EXPECT_EQ(plan.state_after.balances.available, 25);
}

TEST(ReferralDecision, WhatDoesNotQualifyLeavesItOpen) {
  EXPECT_FALSE(decided(purchase(1999), referee()).referral);  // too small
  auto second = referee();
  second.member.member.purchases = 1;  // not the first purchase: the condition says so
  EXPECT_FALSE(decided(purchase(5000), second).referral);
  auto visit = purchase(0);
  visit.event.type = "visit";
  visit.total_minor.reset();
  EXPECT_FALSE(decided(visit, referee()).referral);
  auto none = referee();
  none.referral.reset();
  EXPECT_FALSE(decided(purchase(5000), none).referral);
}

TEST(ReferralDecision, RefusalsAndExpiry) {
  // Too late: past `within` of its start, as of the purchase's own time.
  auto late = decided(purchase(2500), referee(kNow - 31 * kDay));
  ASSERT_TRUE(late.referral);
  EXPECT_EQ(late.referral->kind, ReferralStep::Kind::expired);
  EXPECT_EQ(late.referral->reason, "expired");
  // An offline purchase made inside the window still counts.
  auto offline = decided(purchase(2500, kNow - 2 * kDay), referee(kNow - 31 * kDay));
  EXPECT_EQ(offline.referral->kind, ReferralStep::Kind::completed);
  // The referrer's cap for the month is reached.
  auto capped = decided(purchase(2500), referee(kNow - kDay, 3));
  EXPECT_EQ(capped.referral->kind, ReferralStep::Kind::refused);
  EXPECT_EQ(capped.referral->reason, "referrer_cap");
  EXPECT_EQ(decided(purchase(2500), referee(kNow - kDay, 2)).referral->kind,
            ReferralStep::Kind::completed);
  // The referee is the referrer (merged since).
  auto self = referee();
  self.member.member.id = "mem_old2";
  auto own = decided(purchase(2500), self);
  EXPECT_EQ(own.referral->kind, ReferralStep::Kind::refused);
  EXPECT_EQ(own.referral->reason, "self_referral");
}

TEST(ReferralDecision, SideEventsRewardEachSideThroughTheRules) {
  const auto cause = purchase(2500);
  const auto plan = decided(cause, referee());
  ASSERT_TRUE(plan.referral);
  const auto side = engine::event::side_request(cause, *plan.referral, false, "ev_side");
  EXPECT_EQ(side.event.type, "referral_completed");
  EXPECT_EQ(std::get<std::string>(side.event.attributes.at("role")), "referee");
  EXPECT_EQ(side.record["referral_id"], "ref_1");
  EXPECT_EQ(side.record["cause_event_id"], "ev_1");
  Inputs in;
  in.member = plan.state_after;
  const auto referee_plan = decided(side, in);
  EXPECT_EQ(referee_plan.record.points_awarded, 200);
  EXPECT_EQ(referee_plan.balances.available, 25 + 200);
  EXPECT_FALSE(referee_plan.referral);

  const auto other = engine::event::side_request(cause, *plan.referral, true, "ev_other");
  EXPECT_EQ(std::get<std::string>(other.event.attributes.at("role")), "referrer");
  Inputs referrer;
  referrer.member.member.id = "mem_old";
  referrer.member.qualifying.assign(program().tiers().size(), 0);
  EXPECT_EQ(decided(other, referrer).record.points_awarded, 500);
}

// The referee's side of a completed referral, as db/ loads it for a refund of the purchase.
engine::event::RefundedPurchase qualifying_purchase(engine::TimePoint hold_until) {
  engine::event::RefundedPurchase p;
  p.event_id = "ev_p";
  p.member_id = "mem_new";
  p.recorded_at = kNow - 2 * kDay;
  p.purchase.total_minor = 2500;
  p.purchase.awarded = 25;
  engine::ledger::Lot lot;
  lot.id = 1;
  lot.points = lot.remaining = 25;
  lot.earned_at = p.recorded_at;
  lot.source_event_id = "ev_p";
  p.lots.push_back(lot);
  p.referral = engine::event::QualifiedReferral{"ref_1", "mem_old", "ev_rr", "ev_re", hold_until};
  return p;
}

Request refund(std::int64_t cents) {
  auto r = purchase(cents);
  r.event.type = "refund";
  r.original_event_id = "ev_p";
  return r;
}

TEST(ReferralDecision, AFullRefundWithinTheHoldReversesIt) {
  Inputs in;
  in.member.member.id = "mem_new";
  in.member.qualifying.assign(program().tiers().size(), 0);
  in.refund = qualifying_purchase(kNow + kDay);
  const auto plan = decided(refund(2500), in);
  ASSERT_TRUE(plan.referral);
  EXPECT_EQ(plan.referral->kind, ReferralStep::Kind::reversed);
  EXPECT_EQ(plan.referral->reason, "refunded");
  EXPECT_EQ(plan.referral->referee_event_id, "ev_re");
  EXPECT_EQ(plan.referral->referrer_event_id, "ev_rr");
  // In part, or after the hold: it stands.
  EXPECT_FALSE(decided(refund(1000), in).referral);
  in.refund = qualifying_purchase(kNow - std::chrono::seconds(1));
  EXPECT_FALSE(decided(refund(2500), in).referral);
}

// A referral reversed by a refund of its purchase, as the refund's plan says.
ReferralStep reversed_step() {
  ReferralStep step;
  step.kind = ReferralStep::Kind::reversed;
  step.id = "ref_1";
  step.referrer_id = "mem_old";
  step.referee_id = "mem_new";
  step.referrer_event_id = "ev_rr";
  step.referee_event_id = "ev_re";
  step.reason = "refunded";
  step.cause.channel = "store";
  step.cause.time = kNow;
  return step;
}

TEST(ReferralDecision, AReversalTakesBackTheSideEventsPoints) {
  const auto step = reversed_step();
  const auto r = engine::event::side_request(refund(2500), step, true, "ev_back");
  EXPECT_EQ(r.event.type, "referral_reversed");
  EXPECT_EQ(r.original_event_id, "ev_rr");
  Inputs in;
  in.member.member.id = "mem_old";
  in.member.qualifying.assign(program().tiers().size(), 0);
  engine::event::RefundedPurchase side;
  side.event_id = "ev_rr";
  side.member_id = "mem_old";
  side.recorded_at = kNow - kDay;
  side.purchase.awarded = 500;
  engine::ledger::Lot lot;
  lot.id = 7;
  lot.points = 500;
  lot.remaining = 300;  // 200 spent already
  lot.earned_at = side.recorded_at;
  lot.source_event_id = "ev_rr";
  side.lots.push_back(lot);
  in.refund = side;
  const auto plan = decided(r, in);
  ASSERT_TRUE(plan.refund);
  EXPECT_EQ(plan.refund->original_event_id, "ev_rr");
  EXPECT_EQ(plan.refund->points, 500);
  EXPECT_EQ(plan.refund->ledger.taken, 300);
  EXPECT_EQ(plan.refund->ledger.unrecovered, 200);
  EXPECT_EQ(plan.refund->amount_minor, 0);
  EXPECT_EQ(plan.member.lifetime_points_added, -500);
  EXPECT_EQ(plan.balances.available, 0);
}

TEST(ReferralDecision, AReversalTakesBackTheSideEventsChallengeProgress) {
  const auto step = reversed_step();
  Inputs in;
  in.member.member.id = "mem_old";
  in.member.qualifying.assign(program().tiers().size(), 0);
  engine::challenges::State progress;
  progress.challenge = "ambassador";
  progress.digest = program().challenge("ambassador")->digest;
  progress.contributions.push_back({kNow - kDay, 1, "", "ev_rr"});
  progress.contributions.push_back({kNow - 3 * kDay, 1, "", "ev_older"});
  in.member.challenges["ambassador"] = progress;
  engine::event::RefundedPurchase side;
  side.event_id = "ev_rr";
  side.member_id = "mem_old";
  side.purchase.awarded = 0;
  side.contributions.push_back({"ambassador", 0, "", false, 1});
  in.refund = side;
  const auto plan = decided(engine::event::side_request(refund(2500), step, true, "ev_back"), in);
  ASSERT_TRUE(plan.refund);
  EXPECT_TRUE(plan.refund->take_back_contributions);
  const auto& left = plan.state_after.challenges.at("ambassador").contributions;
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left.front().event_id, "ev_older");
}

TEST(LayeredCounters, ASideEventSeesWhatItsCauseMoved) {
  MapCounters stored({{"budget:a", 10}});
  engine::event::LayeredCounters layered(stored);
  Plan cause;
  cause.counter_increments = {{"budget:a", 5}, {"limit:b", 1}};
  layered.add(cause);
  const auto values = layered.read({"budget:a", "limit:b", "limit:c"});
  EXPECT_EQ(values.at("budget:a"), 15);
  EXPECT_EQ(values.at("limit:b"), 1);
  EXPECT_FALSE(values.count("limit:c"));
}

}  // namespace
