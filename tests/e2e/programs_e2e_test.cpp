// End-to-end: applying, reading and simulating programs over HTTP.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string demo_program() {
  std::ifstream in(CIRCOLO_EXAMPLES_DIR "/demo.rules");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const json kPurchase = json::parse(R"({
  "type": "purchase", "occurred_at": "2026-12-05T10:15:00+01:00", "store": "milano-01",
  "total": "84.50", "currency": "EUR",
  "items": [{"sku": "SHOE-RUN-42", "category": "shoes", "quantity": 1, "price": "59.90"},
            {"sku": "SOCK-3P", "category": "accessories", "quantity": 2, "price": 12.30}]})");

}  // namespace

TEST(Programs, ApplyDiffVersionsAndSimulate) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto& key = server.admin_key();

  expect_problem(c.get("/v1/admin/program", key), 404, "no_program");
  expect_problem(c.post_json("/v1/admin/simulate", {{"event", kPurchase}}, key), 409, "no_program");
  // A member enrolled before any program has no tier yet...
  auto early =
      c.post_json("/v1/members", {{"identifiers", {{{"type", "crm"}, {"value", "early"}}}}}, key);
  ASSERT_EQ(early.status, 201) << early.body;
  const std::string early_id = early.json()["id"];
  EXPECT_TRUE(early.json()["tier"].is_null()) << early.body;

  auto plan =
      c.post_json("/v1/admin/program", {{"source", demo_program()}, {"dry_run", true}}, key);
  ASSERT_EQ(plan.status, 200) << plan.body;
  EXPECT_TRUE(plan.json()["version"].is_null());
  // program, 3 tiers, 3 coupons, 1 reward, 2 challenges, the referral, 4 campaigns
  EXPECT_EQ(plan.json()["changes"].size(), 17u);
  expect_problem(c.get("/v1/admin/program", key), 404, "no_program");  // a dry run applies nothing

  auto applied = c.post_json("/v1/admin/program", {{"source", demo_program()}}, key, "apply-1");
  ASSERT_EQ(applied.status, 201) << applied.body;
  EXPECT_EQ(applied.json()["version"], 1);
  auto replay = c.post_json("/v1/admin/program", {{"source", demo_program()}}, key, "apply-1");
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.header("idempotent-replayed"), "true");

  // The same program again, reformatted: no changes.
  auto again =
      c.post_json("/v1/admin/program",
                  {{"source", demo_program() + "\n# a comment\n"}, {"dry_run", true}}, key);
  EXPECT_TRUE(again.json()["changes"].empty()) << again.body;

  auto active = c.get("/v1/admin/program", key).json();
  EXPECT_EQ(active["version"], 1);
  // ...and is shown in the program's entry tier once one applies, as its first event finds it.
  EXPECT_EQ(c.get("/v1/members/" + early_id, key).json()["tier"], "member");
  EXPECT_EQ(active["source"], demo_program());

  // Errors: 422 with line and column, and nothing applied.
  auto bad = c.post_json(
      "/v1/admin/program",
      {{"source", "campaign \"x\" {\n  rule \"r\" { on purchse then award 1 points }\n}"}}, key);
  expect_problem(bad, 422, "program_invalid");
  bool found = false;
  const auto bad_body = bad.json();
  for (const auto& e : bad_body["errors"]) {
    if (e["line"] == 2 && e["column"] == 17 && e["suggestion"] == "did you mean 'purchase'?")
      found = true;
  }
  EXPECT_TRUE(found) << bad.body;
  EXPECT_EQ(c.get("/v1/admin/program/versions", key).json()["items"].size(), 1u);
  auto first = c.get("/v1/admin/program/versions/1", key);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json()["source"], demo_program());
  expect_problem(c.get("/v1/admin/program/versions/2", key), 404, "unknown_version");
  expect_problem(c.post_json("/v1/admin/program", {{"sauce", "x"}}, key), 422, "validation_failed");

  // Simulate: a silver member's Saturday purchase in store.
  auto sim = c.post_json(
      "/v1/admin/simulate",
      {{"event", kPurchase}, {"member", {{"tier", "silver"}, {"multiplier", "1.25"}}}}, key);
  ASSERT_EQ(sim.status, 200) << sim.body;
  const auto effects = sim.json()["effects"];
  // Simulate runs the same decision as a real event: rule effects first, then
  // the challenge progress the purchase makes, then the balance it would leave.
  ASSERT_EQ(effects.size(), 7u) << sim.body;
  EXPECT_EQ(effects[0]["points"], 84);
  EXPECT_EQ(effects[3]["type"], "coupon_issued");
  EXPECT_TRUE(effects[3]["code"].is_null()) << "simulate issues no real code";
  EXPECT_EQ(effects[4]["campaign"], "base-earn");
  EXPECT_EQ(effects[4]["points"], 105);
  EXPECT_EQ(effects[5]["type"], "challenge_progress");
  EXPECT_EQ(effects[5]["challenge"], "explorer");
  EXPECT_EQ(effects[5]["progress"], 1);
  EXPECT_EQ(sim.json()["points"]["available"], 84 + 105);
  EXPECT_EQ(sim.json()["points"]["pending"], 100);
  EXPECT_EQ(sim.json()["tier"], "silver");
  bool signup_trace = false;
  const auto sim_body = sim.json();
  for (const auto& t : sim_body["trace"]) {
    if (t["campaign"] == "welcome" && t["reason"] == "trigger" && t["fired"] == false)
      signup_trace = true;
  }
  EXPECT_TRUE(signup_trace);

  // Pause the weekend campaign: only the base earn remains.
  expect_problem(c.post_json("/v1/admin/campaigns/nope/pause", json::object(), key), 404,
                 "unknown_campaign");
  ASSERT_EQ(c.post_json("/v1/admin/campaigns/weekend-double/pause", json::object(), key).status,
            200);
  auto paused = c.post_json("/v1/admin/simulate", {{"event", kPurchase}}, key).json();
  // Only the base earn remains, plus the challenge progress the purchase makes.
  ASSERT_EQ(paused["effects"].size(), 3u) << paused.dump();
  EXPECT_EQ(paused["effects"][0]["campaign"], "base-earn");
  EXPECT_EQ(paused["effects"][1]["type"], "challenge_progress");
  EXPECT_EQ(paused["points"]["available"], 84);
  ASSERT_EQ(c.post_json("/v1/admin/campaigns/weekend-double/resume", json::object(), key).status,
            200);
  EXPECT_EQ(c.post_json("/v1/admin/simulate", {{"event", kPurchase}}, key).json()["effects"].size(),
            7u);

  // A draft program, and bad events.
  auto draft =
      c.post_json("/v1/admin/simulate",
                  {{"source", "campaign \"d\" { rule \"r\" { on visit then award 7 points } }"},
                   {"event", {{"type", "visit"}}}},
                  key);
  ASSERT_EQ(draft.status, 200) << draft.body;
  EXPECT_EQ(draft.json()["effects"][0]["points"], 7);
  auto wrong = c.post_json("/v1/admin/simulate",
                           {{"event",
                             {{"type", "purchase"},
                              {"total", "84.505"},
                              {"currency", "USD"},
                              {"occurred_at", "yesterday"},
                              {"items", {{{"quantity", 0}}}}}}},
                           key);
  expect_problem(wrong, 422, "validation_failed");
  EXPECT_EQ(wrong.json()["errors"].size(), 4u) << wrong.body;
}

// Simulate meets limits and budgets as they stand: what an event would do now, not what it
// would do on an empty database.
TEST(Programs, SimulateCountsLimitsAndBudgetsAsTheyStand) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto& key = server.admin_key();
  const std::string program = R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

campaign "limited" {
  rule "visit" {
    on visit
    then award 3 points
    limit 1 per member per day
  }
}

campaign "budgeted" {
  budget 10 points

  rule "promo" {
    on visit
    then award 10 points
  }
}
)";
  auto keys = apply_program_with_touchpoints(server, program, {"store"});
  auto enrolled = c.post_json("/v1/members",
                              {{"identifiers", {{{"type", "crm"}, {"value", "enrolled"}}}}}, key);
  ASSERT_EQ(enrolled.status, 201) << enrolled.body;
  const std::string id = enrolled.json()["id"];
  const json visit{{"type", "visit"}};
  auto simulate = [&](json body) {
    body["event"] = visit;
    auto r = c.post_json("/v1/admin/simulate", body, key);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  };
  auto points = [](const json& result) {
    long long sum = 0;
    for (const auto& e : result["effects"]) sum += e.value("points", 0LL);
    return sum;
  };
  auto reason = [](const json& result, const std::string& campaign) {
    for (const auto& t : result["trace"]) {
      if (t["campaign"] == campaign)
        return t["fired"] == true ? std::string("fired") : t["reason"].get<std::string>();
    }
    return std::string("missing");
  };

  auto before = simulate({{"member_id", id}});
  EXPECT_EQ(points(before), 13) << before.dump();
  // The event the simulation described: its award takes the member's limit and the budget.
  for (int i = 0; i < 50; ++i) {
    auto sent = c.post_json("/v1/events", {{"type", "visit"}, {"member", {{"id", id}}}},
                            keys["store"], "visit-1");
    if (sent.status != 409) {
      ASSERT_EQ(sent.status, 201) << sent.body;
      EXPECT_EQ(sent.json()["points"]["available"], 13) << sent.body;
      break;
    }
    std::this_thread::sleep_for(100ms);  // until this instance uses the program
  }
  auto after = simulate({{"member_id", id}});
  EXPECT_EQ(points(after), 0) << after.dump();
  EXPECT_EQ(reason(after, "limited"), "limit") << after.dump();
  EXPECT_EQ(reason(after, "budgeted"), "budget") << after.dump();
  // A new member has its own limit, not a budget of its own.
  auto fresh = simulate(json::object());
  EXPECT_EQ(reason(fresh, "limited"), "fired") << fresh.dump();
  EXPECT_EQ(reason(fresh, "budgeted"), "budget") << fresh.dump();
  EXPECT_EQ(points(fresh), 3);
  // A draft with a larger budget: the 10 points used still count against it.
  std::string larger = program;
  larger.replace(larger.find("budget 10 points"), 16, "budget 20 points");
  auto draft = simulate({{"source", larger}});
  EXPECT_EQ(reason(draft, "budgeted"), "fired") << draft.dump();
  EXPECT_EQ(points(draft), 13);
}

TEST(Programs, AnotherInstanceUsesAnApplyWithinASecond) {
  TestDatabase database;
  ServerProcess a(database.uri());
  ServerProcess b(database.uri());
  HttpClient ca(a.port()), cb(b.port());
  const auto program = [](int points) {
    return "campaign \"v\" { rule \"r\" { on visit then award " + std::to_string(points) +
           " points } }";
  };
  ASSERT_EQ(ca.post_json("/v1/admin/program", {{"source", program(1)}}, a.admin_key()).status, 201);
  std::this_thread::sleep_for(1200ms);
  EXPECT_EQ(cb.post_json("/v1/admin/simulate", {{"event", {{"type", "visit"}}}}, b.admin_key())
                .json()["effects"][0]["points"],
            1);
  ASSERT_EQ(ca.post_json("/v1/admin/program", {{"source", program(2)}}, a.admin_key()).status, 201);
  const auto applied = std::chrono::steady_clock::now();
  int seen = 0;
  while (std::chrono::steady_clock::now() - applied < 3s) {
    seen = cb.post_json("/v1/admin/simulate", {{"event", {{"type", "visit"}}}}, b.admin_key())
               .json()["effects"][0]["points"];
    if (seen == 2) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(seen, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - applied, 1s + 200ms);
}
