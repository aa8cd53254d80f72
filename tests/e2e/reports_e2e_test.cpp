// End-to-end: the campaign report — what each campaign did (firings, members, points awarded and
// reversed, coupons issued and redeemed) by rule, day and channel, and its budget with the day it
// runs out at the recent rate.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstdio>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;

namespace {

const char* kProgram = R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

tier "member" {
  threshold 0
}

coupon "TEN" {
  name "10 off"
  discount 10.00
  valid 30 days
}

campaign "base" {
  name "Base"

  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}

campaign "promo" {
  name "Promo"
  budget 1000 points

  rule "big" {
    on purchase
    when event.total >= 50.00
    then award 100 points
         issue coupon "TEN"
  }
}
)";

class Reports : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    keys_ = apply_program_with_touchpoints(*server_, kProgram, {"store", "web"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }
  HttpClient client() { return HttpClient(server_->port()); }
  std::string unique(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + "-" + std::to_string(::getpid());
  }
  HttpResult purchase(const std::string& email, const std::string& total,
                      const std::string& channel, json coupons = json::array()) {
    return client().post_json("/v1/events",
                              {{"type", "purchase"},
                               {"member", {{"identifier", {{"type", "email"}, {"value", email}}}}},
                               {"enroll", true},
                               {"total", total},
                               {"currency", "EUR"},
                               {"coupons", coupons},
                               {"order_id", unique("o-")}},
                              keys_[channel], unique("ev-"));
  }
  static json find(const json& list, const std::string& key, const std::string& value) {
    for (const auto& item : list)
      if (item.value(key, "") == value) return item;
    return nullptr;
  }

  static inline TestDatabase* database_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::map<std::string, std::string> keys_;
  static inline int counter_ = 0;
};

TEST_F(Reports, CampaignsSayWhatTheyDidAndWhenTheirBudgetRunsOut) {
  const auto admin = server_->admin_key();
  auto first = purchase("rita@example.com", "60.00", "store");
  ASSERT_EQ(first.status, 201) << first.body;
  std::string code;
  const auto first_body = first.json();
  for (const auto& e : first_body["effects"])
    if (e["type"] == "coupon_issued") code = e["code"];
  ASSERT_FALSE(code.empty()) << first.body;
  auto second = purchase("sam@example.com", "70.00", "web");
  ASSERT_EQ(second.status, 201) << second.body;
  ASSERT_EQ(purchase("rita@example.com", "20.00", "store").status, 201);
  // Rita redeems her code: 30.00 less 10.00, 20 base points.
  ASSERT_EQ(purchase("rita@example.com", "30.00", "store", json::array({code})).status, 201);
  // Sam's purchase is refunded in full: its points come back.
  auto refund = client().post_json("/v1/events",
                                   {{"type", "refund"},
                                    {"original_event_id", second.json()["event_id"]},
                                    {"total", "70.00"},
                                    {"currency", "EUR"}},
                                   keys_["web"], unique("ev-"));
  ASSERT_EQ(refund.status, 201) << refund.body;

  auto report = client().get("/v1/admin/reports/campaigns?from=2026-01-01", admin);
  ASSERT_EQ(report.status, 200) << report.body;
  const auto all = report.json()["campaigns"];
  const auto promo = find(all, "id", "promo"), base = find(all, "id", "base");
  ASSERT_TRUE(promo.is_object()) << report.body;
  ASSERT_TRUE(base.is_object()) << report.body;
  EXPECT_EQ(promo["name"], "Promo");
  EXPECT_EQ(promo["state"], "active");
  EXPECT_EQ(promo["firings"], 2);
  EXPECT_EQ(promo["members"], 2);
  EXPECT_EQ(promo["points_awarded"], 200);
  EXPECT_EQ(promo["points_reversed"], 100);
  EXPECT_EQ(promo["coupons_issued"], 2);
  EXPECT_EQ(promo["coupons_redeemed"], 1);
  EXPECT_EQ(promo["budget"], 1000);
  EXPECT_EQ(promo["budget_used"], 200);
  EXPECT_EQ(promo["budget_left"], 800);
  EXPECT_EQ(promo["recent_points_per_day"], 200 / 7);
  // 800 points at 200 a week: 28 days from now.
  ASSERT_TRUE(promo["budget_runs_out_on"].is_string()) << report.body;
  EXPECT_EQ(find(promo["rules"], "id", "big")["firings"], 2);
  EXPECT_EQ(find(promo["channels"], "channel", "store")["points_awarded"], 100);
  EXPECT_EQ(find(promo["channels"], "channel", "web")["points_awarded"], 100);
  ASSERT_EQ(promo["days"].size(), 1u) << report.body;

  EXPECT_EQ(base["firings"], 4);
  EXPECT_EQ(base["members"], 2);
  EXPECT_EQ(base["points_awarded"], 60 + 70 + 20 + 20);
  EXPECT_EQ(base["points_reversed"], 70);
  EXPECT_TRUE(base["budget"].is_null());
  EXPECT_TRUE(base["budget_runs_out_on"].is_null());

  // One campaign; a period before anything happened; the refusals.
  auto one = client().get("/v1/admin/reports/campaigns/promo", admin);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json()["id"], "promo");
  EXPECT_EQ(one.json()["firings"], 2);
  auto before =
      client().get("/v1/admin/reports/campaigns/promo?from=2026-01-01&until=2026-01-02", admin);
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.json()["firings"], 0);
  EXPECT_EQ(before.json()["budget_used"], 200) << "the budget counts all time";
  EXPECT_EQ(client().get("/v1/admin/reports/campaigns/nope", admin).json().value("code", ""),
            "unknown_campaign");
  EXPECT_EQ(client().get("/v1/admin/reports/campaigns?until=soon", admin).status, 400);
  EXPECT_EQ(client().get("/v1/admin/reports/campaigns", keys_["store"]).status, 403);

  // The CLI prints the same.
  const std::string cli = "XDG_CONFIG_HOME=/nonexistent CIRCOLO_URL=http://127.0.0.1:" +
                          std::to_string(server_->port()) + " CIRCOLO_KEY='" + admin +
                          "' " CIRCOLO_CLI_PATH " report campaigns promo --from 2026-01-01 2>&1";
  std::string out;
  FILE* pipe = ::popen(cli.c_str(), "r");
  std::array<char, 4096> buffer{};
  for (std::size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;)
    out.append(buffer.data(), n);
  EXPECT_EQ(::pclose(pipe), 0) << out;
  EXPECT_NE(out.find("promo  Promo  [active]"), std::string::npos) << out;
  EXPECT_NE(out.find("2 firings, 2 members, 200 points awarded (100 reversed since), 2 coupons "
                     "issued (1 redeemed)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("budget 1000: 200 used, 800 left; at 28 points a day it runs out on"),
            std::string::npos)
      << out;
}

}  // namespace
