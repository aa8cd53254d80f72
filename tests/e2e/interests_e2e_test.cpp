// End-to-end: the member's interest profile, learnt in the event's own transaction for members
// who agreed to profiling, shown to the store and to the member's app, dropped when the member
// withdraws its consent.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

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

event "product_viewed" {
  name "Product viewed"
  interest 0.25
}

event "review_written" {
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}
)";

class Interests : public ::testing::Test {
 protected:
  Interests()
      : server_(database_.uri()),
        c_(server_.port()),
        admin_(server_.admin_key()),
        keys_(apply_program_with_touchpoints(server_, kProgram, {"store", "web", "app"})) {}

  std::string enrol(const std::string& card) {
    auto created = c_.post_json(
        "/v1/members", {{"identifiers", {{{"type", "card"}, {"value", card}}}}}, keys_["app"]);
    EXPECT_EQ(created.status, 201) << created.body;
    return created.json()["id"];
  }
  std::string token(const std::string& id) {
    return c_.post_json("/v1/members/" + id + "/tokens", json::object(), keys_["app"])
        .json()["token"];
  }
  void consent(const std::string& id, bool profiling) {
    auto r = c_.request(
        "PATCH", "/v1/members/" + id + "/consents", json{{"profiling", profiling}}.dump(),
        {{"Authorization", "Bearer " + token(id)}, {"Content-Type", "application/json"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void send(const std::string& key, json body, const std::string& idempotency) {
    auto r = c_.post_json("/v1/events", body, keys_[key], idempotency);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  void shop(const std::string& id) {
    send("store",
         {{"type", "purchase"},
          {"member", {{"id", id}}},
          {"store", "milano-01"},
          {"total", "100.00"},
          {"currency", "EUR"},
          {"items",
           {{{"sku", "SH-1"},
             {"category", "shoes"},
             {"brand", "acme"},
             {"quantity", 1},
             {"price", "75.00"}},
            {{"sku", "SO-1"},
             {"category", "socks"},
             {"brand", "acme"},
             {"quantity", 5},
             {"price", "5.00"}}}}},
         "buy-" + id);
    send("web",
         {{"type", "product_viewed"},
          {"member", {{"id", id}}},
          {"currency", "EUR"},
          {"items",
           {{{"sku", "BG-1"},
             {"category", "bags"},
             {"brand", "zeta"},
             {"quantity", 1},
             {"price", "120.00"}}}}},
         "view-" + id);
  }
  json interests(const std::string& id, const std::string& key) {
    auto r = c_.get("/v1/members/" + id + "/interests", key);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  TestDatabase database_;
  ServerProcess server_;
  HttpClient c_;
  std::string admin_;
  std::map<std::string, std::string> keys_;
};

TEST_F(Interests, TheStoreSeesWhatTheCustomerLikes) {
  const auto id = enrol("4000000000000811");
  consent(id, true);
  shop(id);
  // A custom event the program gives no interest weight teaches nothing, items or not.
  send("web",
       {{"type", "review_written"},
        {"member", {{"id", id}}},
        {"currency", "EUR"},
        {"items", {{{"sku", "BK-1"}, {"category", "books"}, {"quantity", 1}, {"price", "9.00"}}}}},
       "review-" + id);
  const auto seen = interests(id, keys_["store"]);
  EXPECT_EQ(seen["profiling"], true);
  // A purchase is one unit of interest shared by value (shoes 0.75, socks 0.25), a view a
  // quarter of one (bags): 0.75, 0.25, 0.25 of 1.25.
  ASSERT_EQ(seen["categories"].size(), 3u) << seen.dump();
  EXPECT_EQ(seen["categories"][0], (json{{"key", "shoes"}, {"affinity", 0.6}}));
  EXPECT_EQ(seen["categories"][1]["affinity"], 0.2);
  EXPECT_EQ(seen["brands"][0]["key"], "acme");
  EXPECT_EQ(seen["preferred_channel"], "store");
  EXPECT_EQ(seen["preferred_store"], "milano-01");
  EXPECT_EQ(seen["days_since_purchase"], 0);
  EXPECT_EQ(seen["spend"]["days_30"], "100.00");
  EXPECT_TRUE(seen["last_purchase_at"].is_string());
  // The CLI shows it as the till would (equal shares by name).
  const auto cli = run_cli("members interests " + id, server_, keys_["store"]);
  ASSERT_EQ(cli.code, 0) << cli.output;
  EXPECT_TRUE(has(cli, "categories: shoes 60% bags 20% socks 20%")) << cli.output;
  EXPECT_TRUE(has(cli, "preferred: store, store milano-01")) << cli.output;
  EXPECT_TRUE(has(cli, "last purchase: 0 days ago")) << cli.output;
  EXPECT_TRUE(has(cli, "spend: 100.00 (30 days)")) << cli.output;
  // The member's app shows the same; another member's token sees nothing.
  const auto own = token(id);
  EXPECT_EQ(interests(id, own)["categories"], seen["categories"]);
  const auto other = enrol("4000000000000822");
  expect_problem(c_.get("/v1/members/" + id + "/interests", token(other)), 403, "forbidden");
}

TEST_F(Interests, NothingIsLearntWithoutConsentAndAWithdrawalForgets) {
  const auto quiet = enrol("4000000000000833");
  shop(quiet);
  const auto none = interests(quiet, admin_);
  EXPECT_EQ(none["profiling"], false);
  EXPECT_TRUE(none["categories"].empty());
  EXPECT_TRUE(none["as_of"].is_null());
  EXPECT_TRUE(none["days_since_purchase"].is_null());

  const auto id = enrol("4000000000000844");
  consent(id, true);
  shop(id);
  ASSERT_FALSE(interests(id, admin_)["categories"].empty());
  consent(id, false);
  const auto forgotten = interests(id, admin_);
  EXPECT_TRUE(forgotten["categories"].empty()) << forgotten.dump();
  EXPECT_TRUE(forgotten["preferred_channel"].is_null());
  EXPECT_EQ(forgotten["spend"]["days_365"], "0.00");
}

// Migration 033 moved the profile to interest_profile (json); profiles written by the release
// before (in interests, jsonb) are read, and moved by the member's next event.
TEST_F(Interests, AProfileOfTheReleaseBeforeIsReadThenMoved) {
  const auto id = enrol("4000000000000855");
  consent(id, true);
  soci::session sql(soci::postgresql, database_.conninfo());
  sql << "update members set interests = jsonb_build_object('as_of', (extract(epoch from now()) "
         "* 1000000)::bigint, 'categories', jsonb_build_object('hats', 2.0), 'brands', "
         "'{}'::jsonb, "
         "'products', '{}'::jsonb, 'channels', jsonb_build_object('store', 1.0), 'stores', "
         "'{}'::jsonb, 'last_purchase', null, 'spend', '{}'::jsonb) where id = :id",
      soci::use(id);
  const auto before = interests(id, admin_);
  ASSERT_EQ(before["categories"].size(), 1u) << before.dump();
  EXPECT_EQ(before["categories"][0]["key"], "hats");

  shop(id);
  const auto after = interests(id, admin_);
  bool hats = false, shoes = false;
  for (const auto& c : after["categories"]) {
    hats = hats || c["key"] == "hats";
    shoes = shoes || c["key"] == "shoes";
  }
  EXPECT_TRUE(hats && shoes) << "learnt on top of the old profile: " << after.dump();
  int moved = 0;
  sql << "select count(*) from members where id = :id and interests is null and "
         "interest_profile is not null",
      soci::use(id), soci::into(moved);
  EXPECT_EQ(moved, 1);

  // The release before withdraws the consent as it knew how (its column only): the moved
  // profile goes too.
  sql << "update members set consents = consents || '{\"profiling\": false}', interests = null "
         "where id = :id",
      soci::use(id);
  int kept = 1;
  sql << "select count(*) from members where id = :id and interest_profile is not null",
      soci::use(id), soci::into(kept);
  EXPECT_EQ(kept, 0);
  EXPECT_TRUE(interests(id, admin_)["categories"].empty());
}

}  // namespace
