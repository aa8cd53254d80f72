// End-to-end: a campaign's experiment. Control members never receive the campaign's effects (and
// spend none of its budget), a variant's members get its actions, the trace says `control`, a
// merge keeps the survivor's arm, and the report's figures equal a computation from the events
// this test recorded.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "circolo/engine/experiments.hpp"
#include "cli_run.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;
namespace experiments = circolo::engine::experiments;

namespace {

const char* kProgram = R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

coupon "FIVE" {
  discount 5.00
  valid 30 days
}

campaign "base" {
  rule "earn" {
    on purchase
    then award 1 points
  }
}

campaign "double" {
  name "Double points"
  budget 1_000_000 points
  experiment {
    control 30%
    variant "coupon" 30% {
      name "A coupon instead"
      then issue coupon "FIVE"
    }
  }
  rule "double" {
    on purchase
    when event.total >= 20.00
    then award floor(event.total) points
  }
}
)";

// The arms as the program declares them (engine::experiments::arms).
const auto kArms = experiments::arms(3000, {{"coupon", 3000}});

std::string arm_of(const std::string& member_id) {
  return kArms[experiments::assign(kArms, experiments::bucket("double", member_id))].id;
}

class Experiments : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    keys_ = apply_program_with_touchpoints(*server_, kProgram, {"store"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }
  HttpClient client() { return HttpClient(server_->port()); }
  static std::string unique(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + "-" + std::to_string(::getpid());
  }
  HttpResult purchase(const json& member, const std::string& total, json coupons = json::array()) {
    return client().post_json("/v1/events",
                              {{"type", "purchase"},
                               {"member", member},
                               {"enroll", member.contains("identifier")},
                               {"total", total},
                               {"currency", "EUR"},
                               {"coupons", coupons},
                               {"order_id", unique("o-")}},
                              keys_["store"], unique("ev-"));
  }
  json report_now() {
    auto r = client().get("/v1/admin/reports/experiments/double", server_->admin_key());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  static json by_email(const std::string& email) {
    return {{"identifier", {{"type", "email"}, {"value", email}}}};
  }
  static json campaign_effects(const json& effects) {
    json out = json::array();
    for (const auto& e : effects)
      if (e.value("campaign", "") == "double") out.push_back(e);
    return out;
  }

  static inline TestDatabase* database_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::map<std::string, std::string> keys_;
  static inline int counter_ = 0;
};

struct Expected {
  std::set<std::string> members, buyers;
  long long purchases = 0, revenue_minor = 0, points = 0, coupons = 0, withheld = 0;
  long long redemptions = 0;
};

long long minor(const std::string& money) {
  return std::llround(std::stod(money) * 100);
}

TEST_F(Experiments, ControlGetsNothingAndTheReportEqualsTheRecordedEvents) {
  const auto admin = server_->admin_key();
  // The report counts every member of the database: what this test adds is measured against
  // the report before it (other tests of the suite share the server).
  const auto before = report_now();
  const auto budget_used = [&] {
    auto r = client().get("/v1/admin/reports/campaigns/double?from=2026-01-01", admin);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["budget_used"].get<long long>();
  };
  const auto budget_before = budget_used();
  std::map<std::string, Expected> expected;
  std::map<std::string, std::string> arm_by_member;
  std::map<std::string, std::string> code_of;   // member -> a FIVE code it was given
  std::map<std::string, std::string> email_of;  // member -> email
  const char* totals[] = {"25.00", "12.50", "40.10", "19.99", "60.00"};
  for (int i = 0; i < 60; ++i) {
    const auto email = unique("x") + "@example.com";
    for (int k = 0; k < 1 + i % 3; ++k) {
      const std::string total = totals[(i + k) % 5];
      auto r = purchase(by_email(email), total);
      ASSERT_EQ(r.status, 201) << r.body;
      const auto body = r.json();
      const std::string id = body["member_id"];
      const auto arm = arm_of(id);
      arm_by_member[id] = arm;
      email_of[id] = email;
      auto& x = expected[arm];
      x.members.insert(id);
      x.buyers.insert(id);
      ++x.purchases;
      x.revenue_minor += minor(total);
      const auto mine = campaign_effects(body["effects"]);
      const bool qualifies = minor(total) >= 2000;
      if (arm == "control") {
        EXPECT_TRUE(mine.empty()) << "a control member got the campaign's effects: " << r.body;
        if (qualifies) x.withheld += minor(total) / 100;
      } else if (arm == "coupon") {
        ASSERT_EQ(mine.size(), qualifies ? 1u : 0u) << r.body;
        if (qualifies) {
          EXPECT_EQ(mine[0]["type"], "coupon_issued");
          code_of[id] = mine[0]["code"];
          ++x.coupons;
        }
      } else {
        ASSERT_EQ(mine.size(), qualifies ? 1u : 0u) << r.body;
        if (qualifies) {
          EXPECT_EQ(mine[0]["type"], "points_awarded");
          EXPECT_EQ(mine[0]["points"], minor(total) / 100);
          x.points += minor(total) / 100;
        }
      }
    }
  }
  ASSERT_FALSE(expected["control"].members.empty());
  ASSERT_FALSE(expected["coupon"].members.empty());
  ASSERT_FALSE(expected["treatment"].members.empty());

  // Two coupon members redeem their code: a purchase of 30.00 pays 25.00 (the revenue counts
  // what was paid), and the campaign's rule fires again (another code).
  int redeemed = 0;
  for (const auto& [id, code] : code_of) {
    if (redeemed == 2) break;
    auto r = purchase(json{{"id", id}}, "30.00", json::array({code}));
    ASSERT_EQ(r.status, 201) << r.body;
    auto& x = expected["coupon"];
    ++x.purchases;
    x.revenue_minor += 2500;
    ++x.coupons;
    ++x.redemptions;
    ++redeemed;
  }
  // A treatment purchase refunded in full: its revenue goes (its points come back too).
  std::string refunded_member;
  for (const auto& [id, arm] : arm_by_member) {
    if (arm != "treatment") continue;
    auto r = purchase(json{{"id", id}}, "50.00");
    ASSERT_EQ(r.status, 201) << r.body;
    auto refund = client().post_json("/v1/events",
                                     {{"type", "refund"},
                                      {"original_event_id", r.json()["event_id"]},
                                      {"total", "50.00"},
                                      {"currency", "EUR"}},
                                     keys_["store"], unique("ev-"));
    ASSERT_EQ(refund.status, 201) << refund.body;
    auto& x = expected["treatment"];
    ++x.purchases;  // revenue: 50.00 paid, 50.00 given back
    x.points += 50;
    refunded_member = id;
    break;
  }
  ASSERT_FALSE(refunded_member.empty());

  // The budget counted only what was given (control held back, the variant gave no points).
  EXPECT_EQ(budget_used() - budget_before, expected["treatment"].points);

  // A member enrolled without any event: counted in its arm with zeros (every member counts,
  // so who counts does not depend on what the campaign caused), but not as exposed.
  auto enrolled = client().post_json(
      "/v1/members",
      {{"identifiers",
        json::array({{{"type", "email"}, {"value", unique("quiet") + "@example.com"}}})}},
      admin);
  ASSERT_EQ(enrolled.status, 201) << enrolled.body;
  const std::string quiet = enrolled.json()["id"];

  auto report = client().get("/v1/admin/reports/experiments/double", admin);
  ASSERT_EQ(report.status, 200) << report.body;
  const auto r = report.json();
  EXPECT_EQ(r["campaign"], "double");
  EXPECT_EQ(r["name"], "Double points");
  EXPECT_EQ(r["declared"], true);
  EXPECT_EQ(r["population"], "assigned");
  EXPECT_EQ(r["members_reassigned"], before["members_reassigned"]);
  ASSERT_EQ(r["arms"].size(), 3u) << report.body;
  const char* order[] = {"control", "coupon", "treatment"};
  const char* shares[] = {"30%", "30%", "40%"};
  for (int k = 0; k < 3; ++k) {
    const auto& a = r["arms"][k];
    const auto& b = before["arms"][k];
    const auto& x = expected[order[k]];
    SCOPED_TRACE(order[k]);
    const auto grew = [&](const char* key) {
      return a[key].get<long long>() - b[key].get<long long>();
    };
    EXPECT_EQ(a["arm"], order[k]);
    EXPECT_EQ(a["share"], shares[k]);
    EXPECT_EQ(grew("members"),
              static_cast<long long>(x.members.size()) + (arm_of(quiet) == order[k]));
    EXPECT_EQ(grew("exposed"), static_cast<long long>(x.members.size()));
    EXPECT_EQ(grew("buyers"), static_cast<long long>(x.buyers.size()));
    EXPECT_EQ(grew("purchases"), x.purchases);
    EXPECT_EQ(minor(a["revenue"]) - minor(b["revenue"]), x.revenue_minor);
    EXPECT_EQ(grew("points_given"), x.points);
    EXPECT_EQ(grew("coupons_given"), x.coupons);
    EXPECT_EQ(grew("redemptions"), x.redemptions);
    EXPECT_EQ(grew("points_withheld"), x.withheld);
    EXPECT_EQ(grew("coupons_withheld"), 0);
    EXPECT_EQ(minor(a["revenue_per_member"]),
              std::llround(static_cast<double>(minor(a["revenue"])) / a["members"].get<double>()));
  }
  ASSERT_EQ(r["uplift"].size(), 2u);
  EXPECT_EQ(r["uplift"][0]["arm"], "coupon");
  // 60 members: too few to say anything, and the report says so.
  EXPECT_EQ(r["uplift"][1]["revenue_per_member"]["measurable"], false);
  EXPECT_EQ(r["summary"].get<std::string>().rfind(
                "variant \"coupon\": too few members yet to measure revenue per member: ", 0),
            0u)
      << report.body;

  // The trace of a control member says why nothing was given.
  std::string control_member;
  for (const auto& [id, arm] : arm_by_member)
    if (arm == "control") control_member = id;
  auto sim = client().post_json("/v1/admin/simulate",
                                {{"member_id", control_member},
                                 {"channel", "store"},
                                 {"event", {{"type", "purchase"}, {"total", "80.00"}}}},
                                admin);
  ASSERT_EQ(sim.status, 200) << sim.body;
  bool traced = false;
  const auto simulated = sim.json();
  for (const auto& t : simulated["trace"]) {
    if (t["campaign"] == "double") {
      EXPECT_EQ(t["reason"], "control") << sim.body;
      EXPECT_EQ(t["fired"], false);
      traced = true;
    }
  }
  EXPECT_TRUE(traced) << sim.body;
}

TEST_F(Experiments, AfterAMergeTheSurvivorKeepsItsArm) {
  const auto admin = server_->admin_key();
  // A control member and a treatment member, each with a purchase.
  std::string control_id, treatment_id, control_email;
  for (int i = 0; i < 200 && (control_id.empty() || treatment_id.empty()); ++i) {
    const auto email = unique("m") + "@example.com";
    auto r = purchase(by_email(email), "10.00");
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = r.json()["member_id"];
    if (arm_of(id) == "control" && control_id.empty()) {
      control_id = id;
      control_email = email;
    }
    if (arm_of(id) == "treatment" && treatment_id.empty()) treatment_id = id;
  }
  ASSERT_FALSE(control_id.empty());
  ASSERT_FALSE(treatment_id.empty());
  const auto before = report_now();
  auto merged =
      client().post_json("/v1/members/" + treatment_id + "/merge", {{"from", control_id}}, admin);
  ASSERT_EQ(merged.status, 200) << merged.body;
  // The report counts the survivor in its own arm, with the events the merge brought (recorded
  // in control): one member less in control, and one member counted where it is now.
  const auto after = report_now();
  EXPECT_EQ(after["members_reassigned"].get<int>(), before["members_reassigned"].get<int>() + 1);
  EXPECT_EQ(after["arms"][0]["members"].get<int>(), before["arms"][0]["members"].get<int>() - 1);
  EXPECT_EQ(after["arms"][2]["members"], before["arms"][2]["members"]);
  EXPECT_EQ(after["arms"][2]["purchases"].get<int>(),
            before["arms"][2]["purchases"].get<int>() + 1);
  EXPECT_EQ(minor(after["arms"][2]["revenue"]), minor(before["arms"][2]["revenue"]) + 1000);
  // The control member's email now finds the survivor, who is in treatment: the points come.
  auto r = purchase(by_email(control_email), "30.00");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["member_id"], treatment_id);
  const auto mine = campaign_effects(r.json()["effects"]);
  ASSERT_EQ(mine.size(), 1u) << r.body;
  EXPECT_EQ(mine[0]["points"], 30);
}

TEST_F(Experiments, UnknownCampaignsAndCampaignsWithoutAnExperimentAre404) {
  const auto admin = server_->admin_key();
  expect_problem(client().get("/v1/admin/reports/experiments/nope", admin), 404,
                 "unknown_campaign");
  expect_problem(client().get("/v1/admin/reports/experiments/base", admin), 404, "no_experiment");
  EXPECT_EQ(client().get("/v1/admin/reports/experiments/double", keys_["store"]).status, 403);
}

// `circolo report experiment` prints the arms and the uplift, and its page draws both charts in
// a browser without a script error.
TEST_F(Experiments, TheCliPrintsTheReportAndDrawsItsPage) {
  std::set<std::string> arms;
  for (int i = 0; i < 200 && arms.size() < 3; ++i) {
    auto r = purchase(by_email(unique("cli") + "@example.com"), "30.00");
    ASSERT_EQ(r.status, 201) << r.body;
    arms.insert(arm_of(r.json()["member_id"]));
  }
  ASSERT_EQ(arms.size(), 3u);

  const std::string dir =
      ::testing::TempDir() + "/circolo-experiment-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto text = run_cli("report experiment double --html " + dir + "/double.html", *server_);
  ASSERT_EQ(text.code, 0) << text.output;
  EXPECT_TRUE(has(text, "Experiment of double (Double points) as of ")) << text.output;
  EXPECT_TRUE(has(text, "ARM")) << text.output;
  for (const char* row : {"\ncontrol ", "\ncoupon ", "\ntreatment "})
    EXPECT_TRUE(has(text, row)) << row << " in " << text.output;
  EXPECT_TRUE(has(text,
                  "Uplift against control:\n  coupon: too few members yet to measure revenue "
                  "per member: "))
      << text.output;
  EXPECT_TRUE(has(text, "\n  treatment: too few members yet to measure purchases per member: "))
      << text.output;
  EXPECT_TRUE(has(text, "Wrote " + dir + "/double.html")) << text.output;

  // A plan that changes the shares warns that members move between arms.
  std::string smaller = kProgram;
  smaller.replace(smaller.find("control 30%"), 11, "control 20%");
  auto plan = run_cli("program plan " + write_temp("experiment-shares.rules", smaller), *server_);
  EXPECT_EQ(plan.code, 0) << plan.output;
  EXPECT_TRUE(has(plan, "campaign \"double\" experiment changes: the members in the buckets"))
      << plan.output;

  auto json_run = run_cli("--json report experiment double", *server_);
  ASSERT_EQ(json_run.code, 0) << json_run.output;
  EXPECT_EQ(json::parse(json_run.output)["arms"].size(), 3u);
  auto missing = run_cli("report experiment base", *server_);
  EXPECT_EQ(missing.code, 1) << missing.output;
  EXPECT_TRUE(has(missing, "no_experiment")) << missing.output;

  ASSERT_EQ(std::system("command -v chromium >/dev/null 2>&1"), 0)
      << "chromium is not installed: the pages of --html are checked in it";
  std::string error;
  const auto dom = browser_dom(dir + "/double.html", dir + "/profile", error);
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(body_attribute(dom, "data-plots"), "ok") << dom;
  EXPECT_EQ(body_attribute(dom, "data-charts"), "2") << dom;
  EXPECT_EQ(body_attribute(dom, "data-errors"), "") << dom;
  EXPECT_NE(dom.find("Uplift against control"), std::string::npos) << dom;
  std::filesystem::remove_all(dir);
}

}  // namespace
