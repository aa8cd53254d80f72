// engine::event::decide, table-driven: what one event does, exactly, without a database. Each
// case sets up a request, the loaded state and the counters, then lists the effects it expects
// (in order), the balances and the tier after it, or the refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "circolo/engine/backtest.hpp"
#include "circolo/engine/event/decide.hpp"
#include "circolo/engine/experiments.hpp"
#include "circolo/engine/money.hpp"
#include "circolo/engine/segments.hpp"

// Cases leave the fields they do not need at their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

using namespace circolo;
using engine::event::Inputs;
using engine::event::MapCounters;
using engine::event::Plan;
using engine::event::Request;
using nlohmann::json;

// Wednesday 2 December 2026, 11:00 in Rome.
const engine::TimePoint kNow = *engine::parse_rfc3339("2026-12-02T10:00:00Z");

const std::string kCampaigns = R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { name "Member" threshold 0 }
tier "silver" { name "Silver" threshold 100 window 365 days multiplier 1.5 }
coupon "TENOFF" { name "10 off" discount 10.00 valid 30 days }
coupon "HALF" { name "Half off" discount 50% valid 30 days }
campaign "base" { name "Base" rule "earn" { on purchase then award floor(event.total * member.multiplier) points } }
campaign "daily" { name "Daily" rule "visit" { on visit then award 5 points limit 1 per member per day } }
campaign "capped" { name "Capped" budget 10 points rule "visit" { on visit then award 7 points } }
campaign "vip" {
  name "VIP" priority 10 exclusive
  rule "big" { on purchase when event.total >= 500.00 then award 1000 points tag member "big-spender" }
}
campaign "reactions" { name "Reactions" rule "up" { on tier_changed then notify "Welcome to {event.attributes.to}" } }
campaign "welcome" { name "Welcome" rule "signup" { on signup then issue coupon "TENOFF" untag member "prospect" } }
campaign "flash" { name "Flash" rule "scan" { on event "scan" then award 3 points expiring in 1 days } }
)";

const std::string kChallenges = R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { name "Member" threshold 0 }
challenge "three" { name "Three purchases" on purchase goal count reaches 3 then award 50 points grant badge "trio" }
challenge "spend" { name "Spend 100" on purchase goal sum event.total reaches 100.00 then award 20 points }
challenge "channels" { name "Two channels" on purchase goal distinct event.channel reaches 2 then award 30 points }
challenge "weekly" { name "Weekly" on visit goal streak 2 weeks repeatable then award 10 points }
campaign "reactions" {
  name "Reactions"
  rule "done" { on challenge_completed when event.attributes.challenge == "three" then award 1 points }
}
)";

// What the rules see of a discounted basket: the paid total, the receipt total, the discount.
const std::string kPaid = R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { name "Member" threshold 0 }
coupon "FIVE" { name "5 off" discount 5.00 valid 30 days }
coupon "TENPC" { name "10% off" discount 10% valid 30 days }
challenge "spend" { name "Spend 100" on purchase goal sum event.total reaches 100.00 then award 20 points }
campaign "base" {
  name "Base"
  rule "earn" {
    on purchase
    then award floor(event.total) points
         notify "paid {event.total} of {event.subtotal} less {event.discount}"
  }
}
)";

std::shared_ptr<const rules::CompiledProgram> compiled(const std::string& source) {
  auto result = rules::compile({"test.rules", source});
  if (!result.program) {
    std::string errors;
    for (const auto& d : result.diagnostics)
      errors += std::to_string(d.range.begin.line) + ":" + d.message + "\n";
    throw std::runtime_error("test program does not compile:\n" + errors);
  }
  return result.program;
}

const rules::CompiledProgram& campaigns() {
  static const auto program = compiled(kCampaigns);
  return *program;
}
const rules::CompiledProgram& challenges() {
  static const auto program = compiled(kChallenges);
  return *program;
}
const rules::CompiledProgram& paid() {
  static const auto program = compiled(kPaid);
  return *program;
}

rules::Decimal euros(std::int64_t cents) {
  return {cents, 2};
}

// A code of a template with a fixed random stream (one per seed).
std::string code_of(const std::string& prefix, unsigned char seed) {
  return engine::coupons::make_code(prefix, [seed](unsigned char* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(seed * 31 + i * 7);
  });
}

// A basket code of template `coupon` (FIVE: 5.00 off, TENPC: 10 % off), valid, unowned.
engine::event::BasketCoupon basket_code(const std::string& coupon, unsigned char seed) {
  engine::event::BasketCoupon c;
  c.code = code_of(coupon, seed);
  c.found = true;
  c.coupon = coupon;
  c.state.expires_at = kNow + std::chrono::hours(24);
  if (coupon == "TENPC")
    c.state.terms.percent_e4 = 100000;
  else
    c.state.terms.amount_minor = 500;
  return c;
}

Request event(const std::string& type, std::int64_t total_cents = 0,
              const std::string& channel = "store") {
  Request r;
  r.event_id = "ev_1";
  r.api_key_id = "key_1";
  r.now = kNow;
  r.program_version = 3;
  r.event.type = type;
  r.event.channel = channel;
  r.event.time = kNow;
  if (type == "purchase" || type == "refund") {
    r.event.total = euros(total_cents);
    r.total_minor = total_cents;
  }
  r.record = {{"type", type}};
  auto next = std::make_shared<int>(0);
  r.new_id = [next](std::string_view prefix) {
    return std::string(prefix) + "_" + std::to_string(++*next);
  };
  return r;
}

Inputs member(const rules::CompiledProgram& program, const std::string& tier = "member") {
  Inputs in;
  in.member.member.id = "mem_1";
  in.member.member.tier = tier;
  in.member.member.joined = kNow - std::chrono::hours(24 * 100);
  in.member.qualifying.assign(program.tiers().size(), 0);
  return in;
}

// A purchase of `total` that earned `awarded` points, with one lot of it holding `remaining`.
engine::event::RefundedPurchase bought(std::int64_t total_cents, std::int64_t awarded,
                                       std::int64_t remaining) {
  engine::event::RefundedPurchase p;
  p.event_id = "ev_p";
  p.member_id = "mem_1";
  p.recorded_at = kNow - std::chrono::hours(48);
  p.purchase.total_minor = total_cents;
  p.purchase.awarded = awarded;
  engine::ledger::Lot lot;
  lot.id = 1;
  lot.points = awarded;
  lot.remaining = remaining;
  lot.earned_at = p.recorded_at;
  lot.source_event_id = "ev_p";
  p.lots.push_back(lot);
  return p;
}

// The setup of a purchase on the `paid` program with these basket codes, loaded as db/ loads
// them; `redeem` false: simulated (nothing redeemed).
std::function<void(Request&, Inputs&, MapCounters&)> paying(
    std::int64_t total_cents, std::vector<engine::event::BasketCoupon> codes, bool redeem = true) {
  return [=](Request& r, Inputs& in, MapCounters&) {
    r = event("purchase", total_cents);
    r.redeem_coupons = redeem;
    in = member(paid());
    in.coupons = codes;
    for (const auto& c : codes) r.event.coupons.push_back(c.code);
  };
}

// A purchase of 84.50 with a 5.00 coupon: paid 79.50, which earned 79 points, all in its lot.
engine::event::RefundedPurchase bought_with_coupon() {
  auto p = bought(8450, 79, 79);
  p.purchase.discount_minor = 500;
  return p;
}

// Checks the amounts a purchase's record keeps: its coupons' discount and what was paid.
std::function<void(const Plan&, const MapCounters&)> recorded(std::string discount,
                                                              std::string paid) {
  return [discount, paid](const Plan& plan, const MapCounters&) {
    EXPECT_EQ(plan.record.body["discount"], discount);
    EXPECT_EQ(plan.record.body["paid"], paid);
  };
}

Request refund(std::int64_t total_cents) {
  auto r = event("refund", total_cents);
  r.original_event_id = "ev_p";
  return r;
}

engine::challenges::State state_of(const rules::CompiledProgram& program, const std::string& id,
                                   std::vector<engine::challenges::Contribution> contributions) {
  engine::challenges::State s;
  s.challenge = id;
  s.digest = program.challenge(id)->digest;
  s.round = 0;
  s.contributions = std::move(contributions);
  return s;
}

engine::challenges::Contribution counted(std::int64_t amount, const std::string& event_id,
                                         std::string key = "", int days_ago = 1) {
  return {kNow - std::chrono::hours(24 * days_ago), amount, std::move(key), event_id};
}

// One line per effect, enough to tell them apart.
std::string summary(const json& e) {
  const std::string type = e["type"];
  if (type == "points_awarded") return type + " " + std::to_string(e["points"].get<long long>());
  if (type == "points_reversed")
    return type + " " + std::to_string(e["points"].get<long long>()) + " (" +
           std::to_string(e["unrecovered"].get<long long>()) + " unrecovered)";
  if (type == "tag_added" || type == "tag_removed") return type + " " + e["tag"].get<std::string>();
  if (type == "notification") return type + " " + e["message"].get<std::string>();
  if (type == "coupon_issued") return type + " " + e["coupon"].get<std::string>();
  if (type == "coupon_redeemed")
    return type + " " + e["coupon"].get<std::string>() + " " + e["discount"].get<std::string>();
  if (type == "badge_granted") return type + " " + e["badge"].get<std::string>();
  if (type == "tier_changed")
    return type + " " + e["from"].get<std::string>() + ">" + e["to"].get<std::string>();
  if (type == "challenge_progress")
    return type + " " + e["challenge"].get<std::string>() + " " + e["progress"].dump() + "/" +
           e["goal"].dump() + (e["completed"] == true ? " completed" : "");
  if (type == "challenge_completed") return type + " " + e["challenge"].get<std::string>();
  return e.dump();
}

struct Case {
  std::string name;
  const rules::CompiledProgram& (*program)();
  std::function<void(Request&, Inputs&, MapCounters&)> setup;
  std::vector<std::string> effects;  // expected, in order (ignored when refused)
  std::int64_t available = 0, pending = 0;
  std::string tier = "member";
  std::string refusal;  // the code, when the event is refused
  std::function<void(const Plan&, const MapCounters&)> check = {};
};

std::vector<Case> cases() {
  return {
      // ---- awards, tiers, limits, budgets, exclusivity ----
      {"purchase earns on the base rule",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 8450);
         in = member(campaigns());
       },
       {"points_awarded 84"},
       84,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         EXPECT_EQ(plan.record.points_awarded, 84);
         EXPECT_EQ(plan.member.purchases_added, 1);
         EXPECT_EQ(plan.member.lifetime_points_added, 84);
         EXPECT_EQ(plan.leaderboard_points, 84);
         EXPECT_EQ(plan.record.total_minor, 8450);
         EXPECT_TRUE(plan.counter_increments.empty());
       }},
      {"a tier brings its multiplier",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 8450);
         in = member(campaigns(), "silver");
         in.member.qualifying = {200, 200};
       },
       {"points_awarded 126"},
       126,
       0,
       "silver"},
      {"a member without a tier starts in the entry tier, not a change",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 1000);
         in = member(campaigns());
         in.member.member.tier.reset();
       },
       {"points_awarded 10"},
       10},
      {"qualifying points raise the tier, and tier_changed rules run",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 6000);
         in = member(campaigns());
         in.member.qualifying = {50, 50};
       },
       {"points_awarded 60", "tier_changed member>silver", "notification Welcome to silver"},
       60,
       0,
       "silver",
       "",
       [](const Plan& plan, const MapCounters&) {
         EXPECT_EQ(plan.member.tier, "silver");
         bool published = false;
         for (const auto& w : plan.writes) {
           if (const auto* o = std::get_if<engine::event::Outgoing>(&w))
             published = published || o->type == "tier.changed";
         }
         EXPECT_TRUE(published);
       }},
      {"a notification goes out only through the channels the member agreed to",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 6000);
         in = member(campaigns());
         in.member.qualifying = {50, 50};
         in.member.member.consents.given = {
             {"marketing_push", true}, {"marketing_email", true}, {"marketing_sms", false}};
       },
       {"points_awarded 60", "tier_changed member>silver", "notification Welcome to silver"},
       60,
       0,
       "silver",
       "",
       [](const Plan& plan, const MapCounters&) {
         std::vector<json> sent;
         for (const auto& w : plan.writes)
           if (const auto* o = std::get_if<engine::event::Outgoing>(&w))
             if (o->type == "notification") sent.push_back(o->data);
         ASSERT_EQ(sent.size(), 1u);
         EXPECT_EQ(sent[0]["channels"], json({"email", "push"}));
         EXPECT_EQ(sent[0]["message"], "Welcome to silver");
       }},
      {"without marketing consent a notification is answered but not sent",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 6000);
         in = member(campaigns());
         in.member.qualifying = {50, 50};
         in.member.member.consents.given = {{"marketing_push", false}, {"profiling", true}};
       },
       {"points_awarded 60", "tier_changed member>silver", "notification Welcome to silver"},
       60,
       0,
       "silver",
       "",
       [](const Plan& plan, const MapCounters&) {
         for (const auto& w : plan.writes)
           if (const auto* o = std::get_if<engine::event::Outgoing>(&w))
             EXPECT_NE(o->type, "notification");
       }},
      {"a purchase teaches the member's interests when it agreed to profiling",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 1000);
         r.event.items = {{"SH-1", "shoes", "acme", 1, {750, 2}, {}},
                          {"SO-1", "socks", "acme", 1, {250, 2}, {}}};
         in = member(campaigns());
         in.member.member.consents.given = {{"profiling", true}};
       },
       {"points_awarded 10"},
       10,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_TRUE(plan.member.interests);
         const auto& p = *plan.member.interests;
         EXPECT_DOUBLE_EQ(
             engine::interests::affinity(p, engine::interests::Kind::category, "shoes"), 0.75);
         EXPECT_EQ(p.last_purchase, kNow);
         EXPECT_EQ(engine::interests::spend_within(p, 1, kNow), 1000);
         EXPECT_EQ(plan.state_after.member.interests, p);
       }},
      {"without consent to profiling nothing is learnt",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 1000);
         r.event.items = {{"SH-1", "shoes", "acme", 1, {1000, 2}, {}}};
         in = member(campaigns());
         in.member.member.consents.given = {{"marketing_email", true}};
       },
       {"points_awarded 10"},
       10,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         EXPECT_FALSE(plan.member.interests);
         EXPECT_TRUE(plan.state_after.member.interests.empty());
       }},
      {"an exclusive campaign skips those below it",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 60000);
         in = member(campaigns());
       },
       {"points_awarded 1000", "tag_added big-spender", "tier_changed member>silver",
        "notification Welcome to silver"},
       1000,
       0,
       "silver",
       "",
       [](const Plan& plan, const MapCounters&) {
         EXPECT_EQ(plan.member.tags, std::vector<std::string>{"big-spender"});
       }},
      {"limits and budgets are counted and capped",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("visit");
         in = member(campaigns());
       },
       {"points_awarded 5", "points_awarded 7"},
       12,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters& counters) {
         // The budget is a counter of its own; the member's limit goes on its row.
         ASSERT_EQ(plan.counter_increments.size(), 1u);
         EXPECT_EQ(plan.counter_increments.at("budget:capped"), 7);
         EXPECT_EQ(plan.counter_caps.at("budget:capped"), 10);
         const std::string limit = "limit:daily/visit/member:mem_1/day:2026-12-02";
         ASSERT_TRUE(plan.member.limits);
         EXPECT_EQ(*plan.member.limits, (std::map<std::string, std::int64_t>{{limit, 1}}));
         EXPECT_EQ(plan.state_after.member.limits, *plan.member.limits);
         // Only the budget is read: the member's limits came with it.
         EXPECT_EQ(counters.asked, std::vector<std::string>{"budget:capped"});
       }},
      {"a used-up limit does not fire",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("visit");
         in = member(campaigns());
         in.member.member.limits["limit:daily/visit/member:mem_1/day:2026-12-02"] = 1;
       },
       {"points_awarded 7"},
       7},
      {"another day's count does not stop a daily limit",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("visit");
         in = member(campaigns());
         in.member.member.limits["limit:daily/visit/member:mem_1/day:2026-12-01"] = 1;
       },
       {"points_awarded 5", "points_awarded 7"},
       12,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         // Both days kept: no cut-off given (limits_from at the epoch).
         ASSERT_TRUE(plan.member.limits);
         EXPECT_EQ(plan.member.limits->size(), 2u);
       }},
      {"an event forgets the member's limits of periods before the offline window",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("visit");
         r.limits_from = r.now - std::chrono::hours(24);
         in = member(campaigns());
         in.member.member.limits["limit:daily/visit/member:mem_1/day:2026-11-30"] = 1;
         in.member.member.limits["limit:daily/visit/member:mem_1/day:2026-12-01"] = 1;
         in.member.member.limits["limit:first/visit/member:mem_1/ever"] = 1;
       },
       {"points_awarded 5", "points_awarded 7"},
       12,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_TRUE(plan.member.limits);
         EXPECT_EQ(*plan.member.limits, (std::map<std::string, std::int64_t>{
                                            {"limit:daily/visit/member:mem_1/day:2026-12-01", 1},
                                            {"limit:daily/visit/member:mem_1/day:2026-12-02", 1},
                                            {"limit:first/visit/member:mem_1/ever", 1}}));
       }},
      {"a budget that an award would exceed does not fire",
       campaigns,
       [](Request& r, Inputs& in, MapCounters& c) {
         r = event("visit");
         in = member(campaigns());
         c.values()["budget:capped"] = 5;
       },
       {"points_awarded 5"},
       5},
      {"a paused campaign is inactive",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 8450);
         r.paused = {"base"};
         in = member(campaigns());
       },
       {},
       0},
      {"a signup issues a coupon (drawn when applied) and untags",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("signup");
         in = member(campaigns());
         in.member.member.tags = {"prospect"};
       },
       {"coupon_issued TENOFF", "tag_removed prospect"},
       0,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_EQ(plan.issues.size(), 1u);
         EXPECT_EQ(plan.issues[0].coupon, "TENOFF");
         EXPECT_EQ(plan.issues[0].effect_index, 0u);
         EXPECT_EQ(plan.issues[0].terms.amount_minor, 1000);
         EXPECT_EQ(plan.effects[0]["expires_at"], "2027-01-01T10:00:00Z");
         EXPECT_TRUE(plan.member.tags.empty());
       }},
      {"an offline award that expired before it arrived is not booked",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("scan");
         r.event.time = kNow - std::chrono::hours(48);
         in = member(campaigns());
       },
       {},
       0},

      // ---- the basket's coupons ----
      {"a basket coupon is redeemed with the purchase",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 3000);
         r.event.coupons = {code_of("TENOFF", 1)};
         in = member(campaigns());
         engine::event::BasketCoupon c;
         c.code = r.event.coupons[0];
         c.found = true;
         c.coupon = "TENOFF";
         c.state.owner = "mem_1";
         c.state.expires_at = kNow + std::chrono::hours(24);
         c.state.terms.amount_minor = 1000;
         c.own_hold_id = "hld_1";
         in.coupons = {c};
       },
       {"coupon_redeemed TENOFF 10.00", "points_awarded 20"},  // 30.00 less 10.00
       20,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_EQ(plan.redemptions.size(), 1u);
         EXPECT_EQ(plan.redemptions[0].id, "rdm_1");
         EXPECT_EQ(plan.redemptions[0].hold_id, "hld_1");
         EXPECT_EQ(plan.effects[0]["redemption_id"], "rdm_1");
       }},
      {"codes of one basket never take more than its total",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 1200);
         r.event.coupons = {code_of("HALF", 2), code_of("TENOFF", 3)};
         in = member(campaigns());
         for (const auto& code : r.event.coupons) {
           engine::event::BasketCoupon c;
           c.code = code;
           c.found = true;
           c.coupon = code.substr(0, code.find('-'));
           c.state.expires_at = kNow + std::chrono::hours(24);
           if (c.coupon == "HALF")
             c.state.terms.percent_e4 = 500000;
           else
             c.state.terms.amount_minor = 1000;
           in.coupons.push_back(c);
         }
       },
       {},  // checked below: the order is the codes'
       0,   // nothing left to pay: nothing earned
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_EQ(plan.redemptions.size(), 2u);
         EXPECT_EQ(plan.redemptions[0].discount_minor + plan.redemptions[1].discount_minor, 1200);
         EXPECT_EQ(plan.effects.size(), 2u);  // the two codes; 0.00 paid awards nothing
         EXPECT_EQ(plan.record.body["paid"], "0.00");
       }},
      // ---- totals after discounts: rules see what was paid ----
      {"a coupon's discount comes off the total the rules see",
       paid,
       paying(8450, {basket_code("FIVE", 11)}),
       {"coupon_redeemed FIVE 5.00", "points_awarded 79",
        "notification paid 79.50 of 84.50 less 5.00",
        "challenge_progress spend \"79.50\"/\"100.00\""},
       79,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         EXPECT_EQ(plan.record.total_minor, 8450);  // as sent
         EXPECT_EQ(plan.record.body["discount"], "5.00");
         EXPECT_EQ(plan.record.body["paid"], "79.50");
         ASSERT_EQ(plan.redemptions.size(), 1u);
         EXPECT_EQ(plan.redemptions[0].total_minor, 8450);
         ASSERT_EQ(plan.contributions.size(), 1u);
         EXPECT_EQ(plan.contributions[0].amount, 7950);
       }},
      {"a percentage coupon comes off the total the rules see",
       paid,
       paying(8000, {basket_code("TENPC", 12)}),
       {"coupon_redeemed TENPC 8.00", "points_awarded 72",
        "notification paid 72.00 of 80.00 less 8.00",
        "challenge_progress spend \"72.00\"/\"100.00\""},
       72},
      {"two coupons: the rules see the sum of their discounts",
       paid,
       paying(8450, {basket_code("TENPC", 13), basket_code("FIVE", 14)}),
       {"coupon_redeemed TENPC 8.45", "coupon_redeemed FIVE 5.00", "points_awarded 71",
        "notification paid 71.05 of 84.50 less 13.45",
        "challenge_progress spend \"71.05\"/\"100.00\""},
       71,
       0,
       "member",
       "",
       recorded("13.45", "71.05")},
      {"without coupons the discount is 0.00 and the total what was sent",
       paid,
       paying(8450, {}),
       {"points_awarded 84", "notification paid 84.50 of 84.50 less 0.00",
        "challenge_progress spend \"84.50\"/\"100.00\""},
       84,
       0,
       "member",
       "",
       recorded("0.00", "84.50")},
      {"simulate: codes read as they stand take their discount off, nothing is redeemed",
       paid,
       paying(8450, {basket_code("FIVE", 15)}, /*redeem=*/false),
       {"coupon_redeemed FIVE 5.00", "points_awarded 79",
        "notification paid 79.50 of 84.50 less 5.00",
        "challenge_progress spend \"79.50\"/\"100.00\""},
       79,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) { EXPECT_TRUE(plan.redemptions.empty()); }},
      {"simulate: codes not read take nothing off",
       paid,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 8450);
         r.redeem_coupons = false;
         r.event.coupons = {code_of("FIVE", 16)};
         in = member(paid());
       },
       {"points_awarded 84", "notification paid 84.50 of 84.50 less 0.00",
        "challenge_progress spend \"84.50\"/\"100.00\""},
       84},
      {"an expired basket code refuses the purchase",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 3000);
         r.event.coupons = {code_of("TENOFF", 4)};
         in = member(campaigns());
         engine::event::BasketCoupon c;
         c.code = r.event.coupons[0];
         c.found = true;
         c.coupon = "TENOFF";
         c.state.expires_at = kNow - std::chrono::hours(1);
         in.coupons = {c};
       },
       {},
       0,
       0,
       "member",
       "coupon_expired"},
      {"another member's code refuses the purchase",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 3000);
         r.event.coupons = {code_of("TENOFF", 5)};
         in = member(campaigns());
         engine::event::BasketCoupon c;
         c.code = r.event.coupons[0];
         c.found = true;
         c.coupon = "TENOFF";
         c.state.owner = "mem_2";
         in.coupons = {c};
       },
       {},
       0,
       0,
       "member",
       "coupon_not_owned"},
      {"an unknown code refuses the purchase",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 3000);
         r.event.coupons = {"NOPE-123"};
         in = member(campaigns());
         engine::event::BasketCoupon c;
         c.code = "NOPE-123";
         in.coupons = {c};
       },
       {},
       0,
       0,
       "member",
       "unknown_coupon"},

      // ---- refunds ----
      {"a partial refund takes back its share of the points",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(4000);
         in = member(campaigns());
         in.member.balances.available = 100;
         in.refund = bought(10000, 100, 100);
       },
       {"points_reversed 40 (0 unrecovered)"},
       60,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_TRUE(plan.refund);
         EXPECT_EQ(plan.refund->amount_minor, 4000);
         EXPECT_EQ(plan.refund->points, 40);
         EXPECT_EQ(plan.refund->ledger.taken, 40);
         EXPECT_EQ(plan.record.total_minor, 4000);
         EXPECT_EQ(plan.record.body["total"], "40.00");
         EXPECT_EQ(plan.member.purchases_added, 0);
         EXPECT_EQ(plan.member.lifetime_points_added, -40);
         EXPECT_EQ(plan.leaderboard_reversed, 40);
       }},
      {"a refund of points already spent takes what is left and reports the rest",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(10000);
         in = member(campaigns());
         in.refund = bought(10000, 100, 30);
         engine::ledger::Lot other;
         other.id = 2;
         other.points = other.remaining = 50;
         other.earned_at = kNow - std::chrono::hours(1);
         in.refund->lots.push_back(other);
       },
       {"points_reversed 80 (20 unrecovered)"},
       0},
      {"refunds add up to the purchase at most",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(6000);
         in = member(campaigns());
         in.refund = bought(10000, 100, 60);
         in.refund->purchase.refunded_minor = 4000;
         in.refund->purchase.reversed = 40;
       },
       {"points_reversed 60 (0 unrecovered)"},
       0},
      {"a refund beyond the purchase is refused",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(12000);
         in = member(campaigns());
         in.refund = bought(10000, 100, 100);
       },
       {},
       0,
       0,
       "member",
       "refund_exceeds_purchase"},
      {"a refund of items is priced as bought",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(0);
         r.total_minor.reset();
         r.refund_items = {{"A", 1, 0}};
         in = member(campaigns());
         in.refund = bought(5000, 50, 50);
         in.refund->purchase.lines = {{"A", 2, 1000}, {"B", 1, 3000}};
       },
       {"points_reversed 10 (0 unrecovered)"},
       40,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         EXPECT_EQ(plan.record.body["items"], json::parse(R"([{"sku":"A","quantity":1}])"));
       }},
      // A purchase of 84.50 with a 5.00 coupon, paid 79.50, earned 79 points.
      {"a partial refund of a discounted purchase takes back its share of what was paid",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(3975);
         in = member(campaigns());
         in.refund = bought_with_coupon();
       },
       {"points_reversed 39 (0 unrecovered)"},  // 79 * 39.75 / 79.50 = 39.5
       40},
      {"refunding what was paid of a discounted purchase takes back everything",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(7950);
         in = member(campaigns());
         in.refund = bought_with_coupon();
       },
       {"points_reversed 79 (0 unrecovered)"},
       0},
      {"a refund above what was paid is refused",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(7951);
         in = member(campaigns());
         in.refund = bought_with_coupon();
       },
       {},
       0,
       0,
       "member",
       "refund_exceeds_purchase"},
      {"a refund of items of a discounted purchase is scaled to what was paid",
       paid,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(0);
         r.total_minor.reset();
         r.refund_items = {{"SHOE", 1, 0}};
         in = member(paid());
         in.refund = bought_with_coupon();
         in.refund->purchase.lines = {{"SHOE", 1, 5990}, {"SOCKS", 2, 1230}};
       },
       {"points_reversed 55 (0 unrecovered)"},  // 59.90 * 79.50 / 84.50 = 56.35; 79 * 56.35 / 79.50
       24,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_TRUE(plan.refund);
         EXPECT_EQ(plan.refund->amount_minor, 5635);
         EXPECT_EQ(plan.record.body["total"], "56.35");
       }},
      {"a refund of an item the purchase did not have is refused",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(0);
         r.refund_items = {{"Z", 1, 0}};
         in = member(campaigns());
         in.refund = bought(5000, 50, 50);
         in.refund->purchase.lines = {{"A", 2, 1000}};
       },
       {},
       0,
       0,
       "member",
       "unknown_item"},
      {"a refund naming another member is refused",
       campaigns,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(1000);
         r.named_member_id = "mem_2";
         in = member(campaigns());
         in.refund = bought(5000, 50, 50);
       },
       {},
       0,
       0,
       "member",
       "member_mismatch"},

      // ---- challenges ----
      {"a purchase counts toward every challenge it matches",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 3000);
         in = member(challenges());
       },
       {"challenge_progress three 1/3", "challenge_progress spend \"30.00\"/\"100.00\"",
        "challenge_progress channels 1/2"},
       0,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_EQ(plan.contributions.size(), 3u);
         EXPECT_EQ(plan.contributions[1].amount, 3000);
         EXPECT_EQ(plan.contributions[2].key, "store");
       }},
      {"the third purchase completes a count goal: rewards, badge, derived event",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 500);
         in = member(challenges());
         in.member.challenges["three"] =
             state_of(challenges(), "three", {counted(1, "ev_a"), counted(1, "ev_b")});
         in.member.challenges["channels"] =
             state_of(challenges(), "channels", {counted(1, "ev_a", "store")});
         in.member.challenges["spend"] =
             state_of(challenges(), "spend", {counted(1000, "ev_a"), counted(1000, "ev_b")});
       },
       {"challenge_progress three 3/3 completed", "challenge_completed three", "points_awarded 50",
        "badge_granted trio", "challenge_progress spend \"25.00\"/\"100.00\"", "points_awarded 1"},
       51,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         // The challenge's reward is not the purchase's (a refund leaves it); the rule reacting
         // to the completion awarded on behalf of the purchase.
         EXPECT_EQ(plan.record.points_awarded, 1);
         EXPECT_EQ(plan.leaderboard_points, 51);
       }},
      {"a late offline event lands in its window and completes a sum",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 2500, "web");
         r.event.time = kNow - std::chrono::hours(72);
         in = member(challenges());
         in.member.challenges["spend"] = state_of(challenges(), "spend", {counted(8000, "ev_a")});
         in.member.challenges["three"] = state_of(challenges(), "three", {counted(1, "ev_a")});
         in.member.challenges["channels"] =
             state_of(challenges(), "channels", {counted(1, "ev_a", "store")});
       },
       {"challenge_progress three 2/3", "challenge_progress spend \"100.00\"/\"100.00\" completed",
        "challenge_completed spend", "points_awarded 20",
        "challenge_progress channels 2/2 completed", "challenge_completed channels",
        "points_awarded 30"},
       50,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         EXPECT_EQ(plan.contributions[0].at, kNow - std::chrono::hours(72));
       }},
      {"a value already seen does not move a distinct goal",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("purchase", 100);
         in = member(challenges());
         in.member.challenges["three"] = state_of(challenges(), "three", {});
         in.member.challenges["three"].completions = 1;  // done for good
         in.member.challenges["spend"] = state_of(challenges(), "spend", {counted(100, "ev_a")});
         in.member.challenges["channels"] =
             state_of(challenges(), "channels", {counted(1, "ev_a", "store")});
       },
       {"challenge_progress spend \"2.00\"/\"100.00\""},
       0},
      {"a streak of two weeks completes and starts again",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("visit");
         in = member(challenges());
         in.member.challenges["weekly"] =
             state_of(challenges(), "weekly", {counted(1, "ev_a", "", 7)});
       },
       {"challenge_progress weekly 2/2 completed", "challenge_completed weekly",
        "points_awarded 10"},
       10,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         bool saved = false;
         for (const auto& w : plan.writes) {
           if (const auto* s = std::get_if<engine::event::SaveChallenge>(&w)) {
             saved = true;
             EXPECT_EQ(s->state.round, 1);
             EXPECT_EQ(s->state.completions, 1);
           }
         }
         EXPECT_TRUE(saved);
       }},
      {"a changed goal starts progress again in a new round",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = event("visit");
         in = member(challenges());
         in.member.challenges["weekly"] =
             state_of(challenges(), "weekly", {counted(1, "ev_a", "", 7)});
         in.member.challenges["weekly"].digest = "an older goal";
       },
       {"challenge_progress weekly 1/2"},
       0,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_EQ(plan.contributions.size(), 1u);
         EXPECT_EQ(plan.contributions[0].round, 1);
       }},
      {"a full refund takes its purchase back from open rounds",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(3000);
         in = member(challenges());
         in.refund = bought(3000, 0, 0);
         in.refund->contributions = {{"three", 0, "", false, 1}};
         in.member.challenges["three"] =
             state_of(challenges(), "three", {counted(1, "ev_p"), counted(1, "ev_b")});
       },
       {"points_reversed 0 (0 unrecovered)", "challenge_progress three 1/3"},
       0,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_TRUE(plan.refund);
         EXPECT_TRUE(plan.refund->take_back_contributions);
       }},
      {"a partial refund scales what its purchase added to sum goals",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(4000);
         in = member(challenges());
         in.refund = bought(8000, 0, 0);
         in.refund->contributions = {{"spend", 0, "", false, 8000}, {"three", 0, "", false, 1}};
         in.member.challenges["spend"] = state_of(challenges(), "spend", {counted(8000, "ev_p")});
         in.member.challenges["three"] = state_of(challenges(), "three", {counted(1, "ev_p")});
       },
       {"points_reversed 0 (0 unrecovered)", "challenge_progress spend \"40.00\"/\"100.00\""},
       0,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_TRUE(plan.refund);
         EXPECT_FALSE(plan.refund->take_back_contributions);
         ASSERT_EQ(plan.refund->rescaled.size(), 1u);
         EXPECT_EQ(plan.refund->rescaled[0].challenge, "spend");
         EXPECT_EQ(plan.refund->rescaled[0].amount, 4000);
       }},
      {"a refund of free items changes no challenge",
       challenges,
       [](Request& r, Inputs& in, MapCounters&) {
         r = refund(0);
         r.total_minor.reset();
         r.refund_items = {{"GIFT", 1, 0}};
         in = member(challenges());
         in.refund = bought(2000, 0, 0);
         in.refund->purchase.lines = {{"A", 1, 2000}, {"GIFT", 1, 0}};
         in.refund->contributions = {{"spend", 0, "", false, 2000}};
         in.member.challenges["spend"] = state_of(challenges(), "spend", {counted(2000, "ev_p")});
       },
       {"points_reversed 0 (0 unrecovered)"},
       0,
       0,
       "member",
       "",
       [](const Plan& plan, const MapCounters&) {
         ASSERT_TRUE(plan.refund);
         EXPECT_TRUE(plan.refund->rescaled.empty());
         EXPECT_FALSE(plan.refund->take_back_contributions);
       }},
  };
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class Decide : public ::testing::TestWithParam<Case> {};

TEST_P(Decide, Case) {
  const auto& c = GetParam();
  Request request;
  Inputs inputs;
  MapCounters counters;
  c.setup(request, inputs, counters);
  const auto decision = engine::event::decide(c.program(), request, inputs, counters);
  if (!c.refusal.empty()) {
    ASSERT_TRUE(std::holds_alternative<engine::event::Refusal>(decision)) << "expected a refusal";
    EXPECT_EQ(std::get<engine::event::Refusal>(decision).code, c.refusal);
    return;
  }
  if (const auto* refused = std::get_if<engine::event::Refusal>(&decision))
    FAIL() << "refused: " << refused->code << ": " << refused->detail;
  const auto& plan = std::get<Plan>(decision);
  std::vector<std::string> effects;
  for (const auto& e : plan.effects) effects.push_back(summary(e));
  if (!c.effects.empty() || plan.redemptions.empty()) {
    EXPECT_EQ(effects, c.effects);
  }
  EXPECT_EQ(plan.balances.available, c.available);
  EXPECT_EQ(plan.balances.pending, c.pending);
  EXPECT_EQ(plan.tier.value_or(""), c.tier);
  EXPECT_EQ(plan.member_id, "mem_1");
  EXPECT_EQ(plan.record.id, "ev_1");
  EXPECT_EQ(plan.record.program_version, 3);
  if (c.check) c.check(plan, counters);
}

// What a member state holds, as text (refusals must hand it back as it came).
std::string describe(const engine::event::MemberState& s) {
  std::string out = s.member.id + " " + s.member.tier.value_or("-") + " tags";
  for (const auto& t : s.member.tags) out += " " + t;
  out += " badges";
  for (const auto& b : s.badges) out += " " + b;
  out +=
      " points " + std::to_string(s.balances.available) + "/" + std::to_string(s.balances.pending);
  for (const auto& [id, c] : s.challenges) {
    out += " " + id + ":" + std::to_string(c.round) + ":" + std::to_string(c.completions);
    for (const auto& contribution : c.contributions)
      out += "," + contribution.event_id + "=" + std::to_string(contribution.amount);
  }
  return out;
}

std::vector<engine::backtest::CountedEffect> of_campaigns(
    std::vector<engine::backtest::CountedEffect> effects) {
  std::erase_if(effects, [](const auto& e) { return e.campaign.empty(); });
  return effects;
}

// Backtests decide every case again on a state moved in, without rendering: the same decision
// (balances, tier, the campaigns' effects, limits and budgets), and a refusal hands the state
// back untouched.
TEST_P(Decide, TheSameOnAMovedStateWithoutRendering) {
  const auto& c = GetParam();
  Request request;
  Inputs inputs;
  MapCounters counters;
  c.setup(request, inputs, counters);
  MapCounters counters_again = counters;
  const auto rendered = engine::event::decide(c.program(), request, inputs, counters);
  const auto before = describe(inputs.member);
  request.render = false;
  const auto decision =
      engine::event::decide(c.program(), request, std::move(inputs), counters_again);
  if (const auto* refusal = std::get_if<engine::event::Refusal>(&decision)) {
    ASSERT_TRUE(std::holds_alternative<engine::event::Refusal>(rendered));
    EXPECT_EQ(refusal->code, std::get<engine::event::Refusal>(rendered).code);
    EXPECT_EQ(describe(inputs.member), before);
    return;
  }
  ASSERT_TRUE(std::holds_alternative<Plan>(rendered));
  const auto& plan = std::get<Plan>(decision);
  const auto& expected = std::get<Plan>(rendered);
  EXPECT_TRUE(of_campaigns(engine::backtest::counted_effects(plan.effects)).empty());
  EXPECT_EQ(of_campaigns(engine::backtest::counted_effects(plan.rule_effects)),
            of_campaigns(engine::backtest::counted_effects(expected.effects)));
  EXPECT_EQ(plan.balances.available, expected.balances.available);
  EXPECT_EQ(plan.balances.pending, expected.balances.pending);
  EXPECT_EQ(plan.tier, expected.tier);
  EXPECT_EQ(plan.counter_increments, expected.counter_increments);
  EXPECT_EQ(plan.stopped.size(), expected.stopped.size());
  EXPECT_EQ(describe(plan.state_after), describe(expected.state_after));
}

INSTANTIATE_TEST_SUITE_P(Events, Decide, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name;
                           for (char ch : info.param.name)
                             name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

// Simulate and the event path describe members the same way: the tier's multiplier, badges,
// available points, profile.
TEST(DecideSnapshot, DescribesTheMemberAsEventsSeeIt) {
  auto in = member(campaigns(), "silver");
  in.member.badges = {"trio"};
  in.member.balances.available = 42;
  in.member.member.tags = {"vip"};
  namespace interests = engine::interests;
  in.member.member.interests =
      interests::observe({},
                         {kNow - std::chrono::days(10),
                          "web",
                          "milano-01",
                          {{"shoes", "acme", "SH-1", 1, 300}, {"bags", "zeta", "BG-1", 1, 100}},
                          1.0,
                          4000},
                         kNow);
  const auto s = engine::event::snapshot(campaigns(), in.member, kNow);
  // The interest profile, as rules see it.
  EXPECT_EQ(s.days_since_purchase, 10);
  EXPECT_EQ(s.preferred_channel, "web");
  EXPECT_EQ(s.preferred_store, "milano-01");
  EXPECT_EQ(s.spend_30d, (rules::Decimal{4000, 2}));
  EXPECT_EQ(s.affinity("category", "shoes"), (rules::Decimal{7500, 4}));
  EXPECT_EQ(s.affinity("brand", "zeta"), (rules::Decimal{2500, 4}));
  EXPECT_EQ(s.affinity("product", "nothing"), (rules::Decimal{0, 4}));
  EXPECT_EQ(s.tier, "silver");
  EXPECT_EQ(s.multiplier, (rules::Decimal{15, 1}));
  EXPECT_EQ(s.badges, std::vector<std::string>{"trio"});
  EXPECT_EQ(s.points, 42);
  EXPECT_EQ(s.tags, std::vector<std::string>{"vip"});
}

// The review lowers, events raise: both from the same standing.
TEST(DecideTiers, EventsRaiseAndTheReviewLowers) {
  const auto& p = campaigns();
  const std::vector<engine::ledger::Points> low{10, 10}, high{150, 150};
  EXPECT_EQ(engine::event::raised_tier(p, "member", high), "silver");
  EXPECT_EQ(engine::event::raised_tier(p, "silver", low), std::nullopt);
  EXPECT_EQ(engine::event::lowered_tier(p, "silver", low), std::optional<std::string>("member"));
  EXPECT_EQ(engine::event::lowered_tier(p, "member", high), std::nullopt);
  EXPECT_EQ(engine::event::lowered_tier(p, "platinum", low),
            std::optional<std::string>("member"));  // a tier the program no longer has
  EXPECT_EQ(engine::event::entry_tier(p), "member");
}

// Derived events stop after kMaxDerivedEvents, the tier still right.
TEST(DecideDerived, ARuleReactingToItsOwnEffectsStops) {
  const auto program = compiled(R"(
program { currency "EUR" }
tier "member" { name "Member" threshold 0 }
challenge "loop" { name "Loop" on challenge_completed goal count reaches 1 repeatable then award 1 points }
campaign "start" { name "Start" rule "go" { on visit then progress challenge "loop" } }
)");
  auto r = event("visit");
  auto in = member(*program);
  MapCounters counters;
  const auto decision = engine::event::decide(*program, r, in, counters);
  ASSERT_TRUE(std::holds_alternative<Plan>(decision));
  const auto& plan = std::get<Plan>(decision);
  int completed = 0;
  for (const auto& e : plan.effects) completed += e["type"] == "challenge_completed" ? 1 : 0;
  EXPECT_EQ(completed, 1 + engine::event::kMaxDerivedEvents);
}

// An experiment: the plan records the member's arm and what the campaign gave or held back; a
// control member's budget counter does not move, and the stored record says the same.
TEST(DecideExperiments, ControlIsRecordedWithWhatWasWithheld) {
  const auto program = compiled(R"(
program { currency "EUR" }
tier "member" { name "Member" threshold 0 }
coupon "FIVE" { name "5 off" discount 5.00 valid 30 days }
campaign "promo" {
  name "Promo" budget 1000 points
  experiment { control 50% }
  rule "earn" { on purchase then award floor(event.total) points issue coupon "FIVE" }
}
)");
  const auto arms = engine::experiments::arms(5000, {});
  std::map<std::string, std::string> member_of_arm;
  for (int i = 0; member_of_arm.size() < 2; ++i) {
    const auto id = "mem_" + std::to_string(i);
    const auto bucket = engine::experiments::bucket("promo", id);
    member_of_arm.emplace(arms[engine::experiments::assign(arms, bucket)].id, id);
  }
  for (const auto& [arm, id] : member_of_arm) {
    SCOPED_TRACE(arm);
    auto in = member(*program);
    in.member.member.id = id;
    MapCounters counters;
    const auto decision = engine::event::decide(*program, event("purchase", 4250), in, counters);
    ASSERT_TRUE(std::holds_alternative<Plan>(decision));
    const auto& plan = std::get<Plan>(decision);
    ASSERT_EQ(plan.experiments.size(), 1u);
    const auto& x = plan.experiments.at("promo");
    EXPECT_EQ(x.arm, arm);
    const bool control = arm == "control";
    EXPECT_EQ(x.points, control ? 0 : 42);
    EXPECT_EQ(x.withheld_points, control ? 42 : 0);
    EXPECT_EQ(x.coupons, control ? 0 : 1);
    EXPECT_EQ(x.withheld_coupons, control ? 1 : 0);
    EXPECT_EQ(plan.balances.available, control ? 0 : 42);
    EXPECT_EQ(plan.issues.size(), control ? 0u : 1u);
    const auto budget = plan.counter_increments.find(engine::event::budget_counter("promo"));
    if (control)
      EXPECT_EQ(budget, plan.counter_increments.end());
    else
      EXPECT_EQ(budget->second, 42);
    EXPECT_EQ(plan.record.experiments["promo"]["arm"], arm);
    EXPECT_EQ(plan.record.experiments["promo"]["withheld_points"], control ? 42 : 0);
  }
}

// Control's limits count what it held back, apart from what was given; a spent budget
// withholds nothing more (control reads it, never spends it).
TEST(DecideExperiments, ControlHeldBackRespectsLimitsAndBudgets) {
  const auto program = compiled(R"(
program { currency "EUR" }
tier "member" { name "Member" threshold 0 }
campaign "promo" {
  name "Promo" budget 100 points
  experiment { control 50% }
  rule "earn" { on purchase then award 10 points limit 1 per member per day }
}
)");
  const auto arms = engine::experiments::arms(5000, {});
  std::string control_member;
  for (int i = 0; control_member.empty(); ++i) {
    const auto id = "mem_" + std::to_string(i);
    if (engine::experiments::assign(arms, engine::experiments::bucket("promo", id)) == 0)
      control_member = id;
  }
  auto in = member(*program);
  in.member.member.id = control_member;
  const auto withheld = [&](MapCounters& counters) {
    const auto decision = engine::event::decide(*program, event("purchase", 2000), in, counters);
    EXPECT_TRUE(std::holds_alternative<Plan>(decision));
    const auto& plan = std::get<Plan>(decision);
    EXPECT_FALSE(plan.counter_increments.count(engine::event::budget_counter("promo")));
    EXPECT_TRUE(plan.counter_increments.empty());
    return std::pair{plan.experiments.at("promo").withheld_points,
                     plan.member.limits.value_or(std::map<std::string, std::int64_t>{})};
  };
  MapCounters fresh;
  const auto [first, limits] = withheld(fresh);
  EXPECT_EQ(first, 10);
  ASSERT_EQ(limits.size(), 1u);
  const auto held_key = limits.begin()->first;
  EXPECT_EQ(held_key.rfind("limit:held:promo", 0), 0u) << held_key;
  EXPECT_NE(
      std::find(fresh.asked.begin(), fresh.asked.end(), engine::event::budget_counter("promo")),
      fresh.asked.end())
      << "control reads the budget";

  MapCounters limited;
  in.member.member.limits[held_key] = 1;
  EXPECT_EQ(withheld(limited).first, 0) << "the day's limit of what is held back is reached";
  in.member.member.limits.clear();

  MapCounters spent({{engine::event::budget_counter("promo"), 95}});
  EXPECT_EQ(withheld(spent).first, 0) << "10 more points would exceed the budget";
}

}  // namespace

namespace {

// The outgoing events of a plan of one type, as "segment:cause" pairs.
std::vector<std::string> segment_events(const Plan& plan, const std::string& type) {
  std::vector<std::string> out;
  for (const auto& w : plan.writes) {
    if (const auto* o = std::get_if<engine::event::Outgoing>(&w); o && o->type == type)
      out.push_back(o->data["segment"].get<std::string>() + ":" +
                    o->data["cause"].get<std::string>());
  }
  return out;
}

}  // namespace

// Segments follow the member as each event leaves it; audiences see them as they stood before.
TEST(DecideSegments, EventsMoveMembersInAndOutAndAudiencesFollow) {
  const auto program = compiled(R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { name "Member" threshold 0 }
tier "silver" { name "Silver" threshold 100 window 365 days }
segment "silver" { name "Silver members" when member.tier == "silver" }
segment "rich" { name "Rich" when member.points >= 50 }
segment "press" { name "Press" static }
campaign "base" { name "Base" rule "earn" { on purchase then award floor(event.total) points } }
campaign "silver-only" {
  name "Silver only" audience "silver"
  rule "bonus" { on purchase then award 7 points }
}
)");
  auto in = member(*program);
  in.member.member.segments = {"press", "retired"};  // an upload, and one the program dropped
  in.member.member.consents.given["marketing_push"] = true;
  MapCounters counters;
  auto decision = engine::event::decide(*program, event("purchase", 12000), in, counters);
  ASSERT_TRUE(std::holds_alternative<Plan>(decision));
  auto plan = std::get<Plan>(decision);
  // Silver only after this purchase: its bonus waits for the next event.
  EXPECT_EQ(plan.balances.available, 120);
  ASSERT_TRUE(plan.member.segments);
  EXPECT_EQ(*plan.member.segments,
            (std::vector<std::string>{"press", "retired", "rich", "silver"}));
  EXPECT_EQ(plan.state_after.member.segments, *plan.member.segments);
  EXPECT_EQ(segment_events(plan, "segment.entered"),
            (std::vector<std::string>{"rich:event", "silver:event"}));
  for (const auto& w : plan.writes) {
    if (const auto* o = std::get_if<engine::event::Outgoing>(&w);
        o && o->type == "segment.entered") {
      EXPECT_EQ(o->data["event_id"], plan.record.id);
      EXPECT_EQ(o->data["marketing_channels"], json::array({"push"}));
      EXPECT_EQ(o->data["name"], o->data["segment"] == "rich" ? "Rich" : "Silver members");
    }
  }

  // The next purchase: the audience lets the bonus in; nothing changes, nothing is written.
  in.member = plan.state_after;
  decision = engine::event::decide(*program, event("purchase", 1000), in, counters);
  plan = std::get<Plan>(decision);
  EXPECT_EQ(plan.balances.available, 120 + 10 + 7);
  EXPECT_FALSE(plan.member.segments);
  EXPECT_TRUE(segment_events(plan, "segment.entered").empty());

  // Spending the points takes the member out of "rich" (a refund of the first purchase).
  in.member = plan.state_after;
  in.member.balances.available = 40;
  Request visit = event("visit", 0);
  decision = engine::event::decide(*program, visit, in, counters);
  plan = std::get<Plan>(decision);
  ASSERT_TRUE(plan.member.segments);
  EXPECT_EQ(*plan.member.segments, (std::vector<std::string>{"press", "retired", "silver"}));
  EXPECT_EQ(segment_events(plan, "segment.left"), std::vector<std::string>{"rich:event"});

  // Backtests (render false) keep membership in the state but publish nothing.
  in.member.balances.available = 60;
  visit.render = false;
  decision = engine::event::decide(*program, visit, in, counters);
  plan = std::get<Plan>(decision);
  EXPECT_EQ(plan.state_after.member.segments,
            (std::vector<std::string>{"press", "retired", "rich", "silver"}));
  EXPECT_TRUE(segment_events(plan, "segment.entered").empty());
}

TEST(Segments, UpdateKeepsWhatWasNotEvaluated) {
  using engine::segments::update;
  const auto u = update({"a", "b", "static"}, {"a", "b", "c"}, {"b", "c"});
  EXPECT_EQ(u.after, (std::vector<std::string>{"b", "c", "static"}));
  EXPECT_EQ(u.entered, std::vector<std::string>{"c"});
  EXPECT_EQ(u.left, std::vector<std::string>{"a"});
  EXPECT_FALSE(update({"a"}, {"a"}, {"a"}).changed());
  EXPECT_FALSE(update({"x"}, {}, {}).changed());
}

// The job's decision for one member: time alone moves it in and out; only the segments asked
// about are evaluated, and a segment the program no longer declares is left.
TEST(DecideSegments, TimeAloneAndProgramChangesMoveMembers) {
  const auto program = compiled(R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { name "Member" threshold 0 }
segment "lapsed" { name "Lapsed" when member.days_since_purchase > 60 }
segment "new" { name "New" when days_since(member.joined) < 30 }
segment "press" { name "Press" static }
)");
  auto in = member(*program);
  auto& state = in.member;
  state.member.joined = kNow - std::chrono::hours(24 * 10);
  state.member.interests.last_purchase = kNow - std::chrono::hours(24 * 50);
  state.member.segments = {"dropped", "press"};
  const auto all = engine::event::dynamic_segments(*program);
  EXPECT_EQ(all, (std::vector<std::string>{"lapsed", "new"}));
  auto u = engine::event::segment_update(*program, state, all, kNow);
  EXPECT_EQ(u.entered, std::vector<std::string>{"new"});
  EXPECT_EQ(u.after, (std::vector<std::string>{"dropped", "new", "press"}));
  state.member.segments = u.after;
  // 25 days on: lapsed now (75 days without a purchase), no longer new (35 days a member).
  u = engine::event::segment_update(*program, state, all, kNow + std::chrono::hours(24 * 25));
  EXPECT_EQ(u.entered, std::vector<std::string>{"lapsed"});
  EXPECT_EQ(u.left, std::vector<std::string>{"new"});
  // A program run for one changed segment touches only it; "dropped" is evaluated and left.
  u = engine::event::segment_update(*program, state, {"dropped", "lapsed"}, kNow);
  EXPECT_TRUE(u.entered.empty());
  EXPECT_EQ(u.left, std::vector<std::string>{"dropped"});
  EXPECT_EQ(u.after, (std::vector<std::string>{"new", "press"}));
}

namespace {

TEST(MemberCounters, AreTheLimitsPerMemberOfThatMember) {
  using engine::event::member_counter;
  EXPECT_TRUE(member_counter("limit:promo/earn/member:mem_1/day:2026-12-02", "mem_1"));
  EXPECT_TRUE(member_counter("limit:held:promo/earn/member:mem_1/ever", "mem_1"));
  EXPECT_TRUE(member_counter("limit:promo/earn/member:shop/42/week:2026-11-30", "shop/42"));
  EXPECT_FALSE(member_counter("limit:promo/earn/member:mem_1/day:2026-12-02", "mem_11"));
  EXPECT_FALSE(member_counter("limit:promo/earn/member:mem_11/day:2026-12-02", "mem_1"));
  EXPECT_FALSE(member_counter("limit:promo/earn/member:xmem_1/day:2026-12-02", "mem_1"));
  EXPECT_FALSE(member_counter("limit:promo/earn/campaign/day:2026-12-02", "mem_1"));
  EXPECT_FALSE(member_counter("budget:promo", "mem_1"));
  EXPECT_FALSE(member_counter("stock:member:mem_1/x", "mem_1"));
}

TEST(MemberCounters, PeriodsBeforeTheCutOffAreForgotten) {
  const auto program = compiled(R"(
program { currency "EUR" timezone "Europe/Rome" }
tier "member" { name "Member" threshold 0 }
)");
  const std::map<std::string, std::int64_t> limits = {{"limit:a/r/member:m/day:2026-11-30", 1},
                                                      {"limit:a/r/member:m/day:2026-12-01", 2},
                                                      {"limit:a/r/member:m/week:2026-11-23", 1},
                                                      {"limit:a/r/member:m/week:2026-11-30", 1},
                                                      {"limit:a/r/member:m/month:2026-11", 4},
                                                      {"limit:a/r/member:m/month:2026-10", 4},
                                                      {"limit:a/r/member:m/ever", 9}};
  // 23:30 UTC on 30 November is 00:30 on 1 December in Rome: periods are the program's.
  const auto from = *engine::parse_rfc3339("2026-11-30T23:30:00Z");
  EXPECT_EQ(program->period(rules::LimitPeriod::day, from), "day:2026-12-01");
  std::vector<std::string> keys;
  for (const auto& [key, value] : engine::event::current_limits(*program, limits, from))
    keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"limit:a/r/member:m/day:2026-12-01",
                                            "limit:a/r/member:m/ever",
                                            "limit:a/r/member:m/week:2026-11-30"}));
  // One period earlier (22:30 UTC: still 30 November there), those of November stay.
  keys.clear();
  for (const auto& [key, value] :
       engine::event::current_limits(*program, limits, from - std::chrono::hours(1)))
    keys.push_back(key);
  EXPECT_EQ(keys.size(), 5u);
  EXPECT_EQ(engine::event::current_limits(*program, limits, engine::TimePoint{}), limits);
}

}  // namespace

namespace {

// Counters read before the rules run, as the event path reads the program's budgets with the
// member; `asked` records what the decision still had to read.
class PrimedCounters final : public engine::event::CounterSource {
 public:
  explicit PrimedCounters(std::map<std::string, std::int64_t> primed)
      : primed_(std::move(primed)) {}
  std::map<std::string, std::int64_t> read(const std::vector<std::string>& keys) override {
    asked.insert(asked.end(), keys.begin(), keys.end());
    return {};
  }
  std::map<std::string, std::int64_t> primed() const override { return primed_; }
  std::vector<std::string> asked;

 private:
  std::map<std::string, std::int64_t> primed_;
};

TEST(PrimedCounters, AreKnownBeforeTheRulesRunAndNotReadAgain) {
  const auto in = member(campaigns());
  PrimedCounters fresh({{"budget:capped", 0}});
  auto decision = engine::event::decide(campaigns(), event("visit"), in, fresh);
  ASSERT_TRUE(std::holds_alternative<Plan>(decision));
  EXPECT_EQ(std::get<Plan>(decision).counter_increments.at("budget:capped"), 7);
  EXPECT_TRUE(fresh.asked.empty()) << fresh.asked.front();

  // As primed, a budget that 7 more points would pass stops its rule.
  PrimedCounters spent({{"budget:capped", 5}});
  decision = engine::event::decide(campaigns(), event("visit"), in, spent);
  ASSERT_TRUE(std::holds_alternative<Plan>(decision));
  const auto& plan = std::get<Plan>(decision);
  EXPECT_FALSE(plan.counter_increments.count("budget:capped"));
  ASSERT_EQ(plan.effects.size(), 1u);
  EXPECT_EQ(summary(plan.effects[0]), "points_awarded 5");
  EXPECT_TRUE(spent.asked.empty());
}

}  // namespace
