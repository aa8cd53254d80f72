// End-to-end: the next best offers of a member, as an admin, the store's till, the web shop and
// the member's own app see them: ranked, with readable reasons, each caller only what it may,
// recommendations from the model circolod rebuilds in the background.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cli_run.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;

namespace {

const char* kProgram = R"(program {
  currency "EUR"
}

coupon "WELCOME5" {
  name "5 euro off your next purchase"
  discount 5.00
  min_total 25.00
  valid 60 days
}

coupon "COFFEE" {
  name "A free coffee"
  discount 2.50
  valid 14 days
  channels store
}

coupon "SHOES10" {
  name "10% off shoes"
  discount 10%
  valid 30 days
  channels web
}

reward "free-coffee" {
  name "Free coffee"
  cost 300 points
  coupon "COFFEE"
}

reward "tote" {
  name "Tote bag"
  cost 100 points
  coupon "WELCOME5"
}

challenge "explorer" {
  name "Omnichannel explorer"
  on purchase
  goal distinct event.channel reaches 3
  within 30 days
  then award 500 points
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}

campaign "welcome" {
  rule "signup" {
    on signup
    then issue coupon "WELCOME5"
         issue coupon "COFFEE"
         issue coupon "SHOES10"
  }
}

campaign "shoe-days" {
  name "Shoe days"
  channels app, web

  rule "shoes" {
    on purchase
    when any(event.items, category == "shoes")
    then award 50 points
  }
}
)";

ServerProcess::Options options(const std::string& uri) {
  ServerProcess::Options o;
  o.database_url = uri;
  // The model is rebuilt every second here (600 s by default).
  o.extra_env = {{"CIRCOLO_RECOMMEND_INTERVAL_SECONDS", "1"}};
  return o;
}

class Offers : public ::testing::Test {
 protected:
  Offers()
      : server_(options(database_.uri())),
        c_(server_.port()),
        admin_(server_.admin_key()),
        keys_(apply_program_with_touchpoints(server_, kProgram, {"store", "web", "app"})) {}

  std::string signup(const std::string& email) {
    auto r = c_.post_json("/v1/events",
                          {{"type", "signup"},
                           {"member", {{"identifier", {{"type", "email"}, {"value", email}}}}},
                           {"enroll", true}},
                          keys_["web"], "signup-" + email);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("member_id", "");
  }
  std::string token(const std::string& id) {
    auto r = c_.post_json("/v1/members/" + id + "/tokens", json::object(), admin_);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("token", "");
  }
  void profiling(const std::string& id) {
    auto r = c_.request(
        "PATCH", "/v1/members/" + id + "/consents", json{{"profiling", true}}.dump(),
        {{"Authorization", "Bearer " + token(id)}, {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void buy(const std::string& channel, const std::string& id, const std::string& order,
           const std::string& total, const std::vector<std::string>& categories) {
    json items = json::array();
    for (const auto& c : categories)
      items.push_back({{"sku", c + "-1"}, {"category", c}, {"quantity", 1}, {"price", "10.00"}});
    json body{{"type", "purchase"},
              {"member", {{"id", id}}},
              {"order_id", order},
              {"total", total},
              {"currency", "EUR"}};
    if (!items.empty()) body["items"] = items;
    auto r = c_.post_json("/v1/events", body, keys_[channel], order);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  json offers(const std::string& id, const std::string& key, const std::string& query = "") {
    auto r = c_.get("/v1/members/" + id + "/offers" + query, key);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  // The item of that kind and id, or null.
  static json find(const json& body, const std::string& kind, const std::string& id) {
    const json& items = body.at("items");
    for (const auto& item : items)
      if (item.at("kind") == kind && item.at("id") == id) return item;
    return nullptr;
  }
  static bool any_of_kind(const json& body, const std::string& kind) {
    const json& items = body.at("items");
    for (const auto& item : items)
      if (item.at("kind") == kind) return true;
    return false;
  }
  static std::string code_of(const json& body, const std::string& title) {
    const json& items = body.at("items");
    for (const auto& item : items)
      if (item.at("kind") == "coupon" && item.at("title") == title) return item.at("id");
    return "";
  }

  TestDatabase database_;
  ServerProcess server_;
  HttpClient c_;
  std::string admin_;
  std::map<std::string, std::string> keys_;
};

TEST_F(Offers, EachCallerSeesWhatItMayRankedWithReasons) {
  // Members who buy shoes buy bags too: what the model learns in the background.
  for (int i = 0; i < 3; ++i) {
    const auto other = signup("other" + std::to_string(i) + "@example.com");
    profiling(other);
    buy("store", other, "O-" + std::to_string(i), "20.00", {"shoes", "bags"});
  }
  const auto anna = signup("anna@example.com");
  profiling(anna);
  buy("store", anna, "S-1", "200.00", {"shoes", "socks"});  // 200 points
  buy("web", anna, "W-1", "10.00", {});                     // 10 points, 2 of 3 channels

  // The model is rebuilt every second: the recommendation comes within a few.
  json all;
  for (int i = 0; i < 100; ++i) {
    all = offers(anna, admin_, "?limit=20");
    if (any_of_kind(all, "recommendation")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(all["member_id"], anna);
  EXPECT_EQ(all["profiling"], true);
  EXPECT_EQ(all["channel"], nullptr);
  // 210 points: the tote now, the coffee 90 points away.
  EXPECT_EQ(all["items"][0], (json{{"kind", "reward"},
                                   {"id", "tote"},
                                   {"title", "Tote bag"},
                                   {"reason", "You can claim Tote bag now"},
                                   {"score", 0.9}}))
      << all.dump(2);
  EXPECT_EQ(find(all, "reward", "free-coffee")["reason"], "90 points from Free coffee");
  EXPECT_EQ(find(all, "challenge", "explorer")["reason"], "2 of 3 done");
  EXPECT_EQ(find(all, "campaign", "shoe-days")["reason"], "Rewards shoes, which you like");
  const auto shoes10 = code_of(all, "10% off shoes");
  ASSERT_FALSE(shoes10.empty()) << all.dump(2);
  EXPECT_EQ(find(all, "coupon", shoes10)["reason"], "10% off shoes, which you like");
  EXPECT_EQ(find(all, "recommendation", "bags")["reason"], "Bought by members who buy shoes")
      << all.dump(2);
  EXPECT_EQ(all["items"].size(), 8u) << all.dump(2);
  double last = 1;
  for (std::size_t i = 0; i < all["items"].size(); ++i) {
    EXPECT_LE(all["items"][i]["score"].get<double>(), last);
    last = all["items"][i]["score"].get<double>();
  }
  // The default is five.
  EXPECT_EQ(offers(anna, admin_)["items"].size(), 5u);

  // The store's till: only what is valid in store (no web-only code, no app/web campaign).
  const auto store = offers(anna, keys_["store"], "?limit=20");
  EXPECT_EQ(store["channel"], "store");
  EXPECT_TRUE(code_of(store, "10% off shoes").empty());
  EXPECT_EQ(find(store, "campaign", "shoe-days"), nullptr);
  EXPECT_FALSE(code_of(store, "A free coffee").empty());
  EXPECT_NE(find(store, "reward", "free-coffee"), nullptr);
  // With the basket in front of it: what fits it, what is missing, what the campaign rewards.
  const auto basket = offers(anna, keys_["store"], "?limit=20&total=20.00&categories=shoes,socks");
  EXPECT_EQ(find(basket, "coupon", code_of(store, "A free coffee"))["reason"],
            "Fits this basket: 2.50 off");
  EXPECT_EQ(find(basket, "coupon", code_of(store, "5 euro off your next purchase"))["reason"],
            "Spend 5.00 more to use it");
  // The web shop: no store-only coffee (neither the code nor the reward giving one).
  const auto web = offers(anna, keys_["web"], "?limit=20");
  EXPECT_TRUE(code_of(web, "A free coffee").empty());
  EXPECT_EQ(find(web, "reward", "free-coffee"), nullptr);
  EXPECT_NE(find(web, "campaign", "shoe-days"), nullptr);
  EXPECT_FALSE(code_of(web, "10% off shoes").empty());

  // Her app sees everything of hers; another member's token nothing of hers.
  const auto own = offers(anna, token(anna), "?limit=20");
  EXPECT_EQ(own["items"].size(), all["items"].size());
  const auto marco = signup("marco@example.com");
  expect_problem(c_.get("/v1/members/" + anna + "/offers", token(marco)), 403, "forbidden");

  // The CLI, as marketing reads it.
  const auto cli = run_cli("members offers " + anna + " --limit 3", server_, admin_);
  ASSERT_EQ(cli.code, 0) << cli.output;
  EXPECT_TRUE(has(cli, "reward         Tote bag: You can claim Tote bag now")) << cli.output;
}

TEST_F(Offers, WithoutProfilingOnlyWhatTheMemberHoldsOrCanClaim) {
  for (int i = 0; i < 2; ++i) {
    const auto other = signup("buyer" + std::to_string(i) + "@example.com");
    profiling(other);
    buy("store", other, "B-" + std::to_string(i), "20.00", {"shoes", "bags"});
  }
  const auto quiet = signup("quiet@example.com");
  buy("store", quiet, "Q-1", "150.00", {"shoes"});
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // two model rebuilds
  const auto body = offers(quiet, admin_, "?limit=20");
  EXPECT_EQ(body["profiling"], false);
  EXPECT_FALSE(any_of_kind(body, "recommendation")) << body.dump(2);
  EXPECT_FALSE(any_of_kind(body, "campaign")) << body.dump(2);
  EXPECT_EQ(find(body, "reward", "tote")["reason"], "You can claim Tote bag now");
  // Her codes are hers whatever the consent; none is matched to interests.
  EXPECT_EQ(find(body, "coupon", code_of(body, "10% off shoes"))["reason"].get<std::string>().find(
                "which you like"),
            std::string::npos);
  // A basket's categories are not profiling: the campaign matching it still shows on the web.
  const auto basket = offers(quiet, keys_["web"], "?categories=shoes");
  EXPECT_EQ(find(basket, "campaign", "shoe-days")["reason"], "Rewards shoes in this basket");

  const auto cli = run_cli("members offers " + quiet, server_, admin_);
  ASSERT_EQ(cli.code, 0) << cli.output;
  EXPECT_TRUE(has(cli, "(no consent to profiling")) << cli.output;
}

TEST_F(Offers, BadQueriesAndUnknownMembers) {
  const auto id = signup("x@example.com");
  expect_problem(c_.get("/v1/members/" + id + "/offers?limit=0", admin_), 400, "invalid_query");
  expect_problem(c_.get("/v1/members/" + id + "/offers?limit=21", admin_), 400, "invalid_query");
  expect_problem(c_.get("/v1/members/" + id + "/offers?total=abc", admin_), 400, "invalid_query");
  expect_problem(c_.get("/v1/members/" + id + "/offers?categories=shoes,,bags", admin_), 400,
                 "invalid_query");
  expect_problem(c_.get("/v1/members/mem_nobody/offers", admin_), 404, "unknown_member");
  expect_problem(c_.get("/v1/members/" + id + "/offers", ""), 401, "unauthenticated");
}

}  // namespace
