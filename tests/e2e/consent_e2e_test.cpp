// End-to-end: consent per purpose and channel. Recorded with time and source by the member's app
// and by staff; notifications go out only through the channels the member agreed to; an opt-out
// of leaderboards keeps the member off them; export and erasure carry and clear it.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli_run.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kProgram = R"(program {
  currency "EUR"
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
         notify "Thanks for {event.total}"
  }
}
)";

HttpResult patch(HttpClient& c, const std::string& target, const json& body,
                 const std::string& key) {
  return c.request("PATCH", target, body.dump(),
                   {{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}});
}

json consent_of(const json& body, const std::string& purpose) {
  for (const auto& c : body["consents"])
    if (c["purpose"] == purpose) return c;
  return nullptr;
}

class Consent : public ::testing::Test {
 protected:
  Consent()
      : server_(database_.uri()),
        c_(server_.port()),
        admin_(server_.admin_key()),
        keys_(apply_program_with_touchpoints(server_, kProgram, {"store", "app"})) {}

  void TearDown() override {
    if (HasFailure()) std::cerr << "circolod's log:\n" << server_.log();
  }

  std::string enrol(const std::string& card, const std::string& name) {
    auto created = c_.post_json(
        "/v1/members",
        {{"identifiers", {{{"type", "card"}, {"value", card}}}}, {"profile", {{"name", name}}}},
        keys_["app"]);  // the app's backend mints their tokens
    EXPECT_EQ(created.status, 201) << created.body;
    return created.json()["id"];
  }
  void buy(const std::string& id, const std::string& order, const std::string& total) {
    auto bought = c_.post_json("/v1/events",
                               {{"type", "purchase"},
                                {"member", {{"id", id}}},
                                {"total", total},
                                {"currency", "EUR"},
                                {"order_id", order}},
                               keys_["store"], "consent-" + order);
    ASSERT_EQ(bought.status, 201) << bought.body;
    // The till gets the message either way: the customer is in front of it.
    bool told = false;
    const auto answer = bought.json();
    for (const auto& e : answer["effects"]) told = told || e["type"] == "notification";
    EXPECT_TRUE(told) << bought.body;
  }
  // The member's outgoing events of these types, once the one for `order`'s points is out (the
  // publisher runs just after the commit).
  json feed(const std::string& id, int earned) {
    json items;
    for (int i = 0; i < 100; ++i) {
      items = c_.get("/v1/feed?member=" + id + "&types=points.earned,notification", admin_)
                  .json()["items"];
      int seen = 0;
      for (const auto& e : items) seen += e["type"] == "points.earned";
      if (seen >= earned) break;
      std::this_thread::sleep_for(30ms);
    }
    return items;
  }

  TestDatabase database_;
  ServerProcess server_;
  HttpClient c_;
  std::string admin_;
  std::map<std::string, std::string> keys_;
};

TEST_F(Consent, MarketingWaitsForAYesAndGoesOnlyWhereTheMemberAgreed) {
  const auto id = enrol("4000000000000101", "Marta Rossi");
  const std::string token =
      c_.post_json("/v1/members/" + id + "/tokens", json::object(), keys_["app"]).json()["token"];

  // Nothing given yet: marketing and profiling off, leaderboards on, all by default.
  auto before = c_.get("/v1/members/" + id + "/consents", token);
  ASSERT_EQ(before.status, 200) << before.body;
  for (const char* p : {"marketing_email", "marketing_sms", "marketing_push", "profiling"}) {
    EXPECT_EQ(consent_of(before.json(), p)["granted"], false) << p;
    EXPECT_EQ(consent_of(before.json(), p)["default"], true) << p;
  }
  EXPECT_EQ(consent_of(before.json(), "leaderboards")["granted"], true);

  buy(id, "C-1", "12.00");
  for (const auto& e : feed(id, 1))
    EXPECT_NE(e["type"], "notification") << "sent without consent: " << e.dump();

  // The member says yes to push in its app.
  auto given = patch(c_, "/v1/members/" + id + "/consents", {{"marketing_push", true}}, token);
  ASSERT_EQ(given.status, 200) << given.body;
  const auto push = consent_of(given.json(), "marketing_push");
  EXPECT_EQ(push["granted"], true);
  EXPECT_EQ(push["default"], false);
  EXPECT_EQ(push["source"], "member:app");
  EXPECT_TRUE(push["recorded_at"].is_string());

  buy(id, "C-2", "20.00");
  json sent;
  for (const auto& e : feed(id, 2))
    if (e["type"] == "notification") sent = e;
  ASSERT_TRUE(sent.is_object()) << "the notification after the yes";
  EXPECT_EQ(sent["data"]["channels"], json({"push"}));
  EXPECT_EQ(sent["data"]["message"], "Thanks for 20.00");

  // Staff record the customer's yes to email at the till; the member's later no to push wins.
  auto staff =
      patch(c_, "/v1/members/" + id + "/consents", {{"marketing_email", true}}, keys_["store"]);
  ASSERT_EQ(staff.status, 200) << staff.body;
  EXPECT_EQ(consent_of(staff.json(), "marketing_email")["source"], "staff:store");
  auto no = patch(c_, "/v1/members/" + id + "/consents", {{"marketing_push", false}}, token);
  EXPECT_EQ(consent_of(no.json(), "marketing_push")["granted"], false);
  EXPECT_EQ(consent_of(no.json(), "marketing_email")["granted"], true);

  // Each change is in the audit trail, and the history in the member's export.
  const auto trail = c_.get("/v1/admin/audit?action=consent.changed&target=" + id, admin_).json();
  EXPECT_EQ(trail["items"].size(), 3u) << trail.dump();
  const auto exported = c_.get("/v1/members/" + id + "/export", token).json();
  EXPECT_EQ(exported["data"]["consent_history"].size(), 3u);
  EXPECT_EQ(exported["data"]["consents"]["marketing_email"], true);

  // Saying the same again records nothing.
  patch(c_, "/v1/members/" + id + "/consents", {{"marketing_email", true}}, keys_["store"]);
  EXPECT_EQ(
      c_.get("/v1/admin/audit?action=consent.changed&target=" + id, admin_).json()["items"].size(),
      3u);

  // Erasure clears it with the rest of the member's personal data.
  ASSERT_EQ(c_.post_json("/v1/members/" + id + "/erase", json::object(), admin_).status, 200);
  const auto after = c_.get("/v1/members/" + id + "/consents", admin_).json();
  EXPECT_EQ(consent_of(after, "marketing_email")["granted"], false);
  EXPECT_EQ(consent_of(after, "marketing_email")["source"], nullptr);
}

TEST_F(Consent, BadChangesAreRefusedAndOthersCannotTouchIt) {
  const auto id = enrol("4000000000000202", "Paolo Neri");
  const auto other = enrol("4000000000000303", "Sara Blu");
  const std::string token =
      c_.post_json("/v1/members/" + id + "/tokens", json::object(), keys_["app"]).json()["token"];
  const auto target = "/v1/members/" + id + "/consents";
  expect_problem(patch(c_, target, {{"marketing", true}}, token), 422, "validation_failed");
  expect_problem(patch(c_, target, {{"profiling", "yes"}}, token), 422, "validation_failed");
  expect_problem(patch(c_, target, json::object(), token), 422, "validation_failed");
  expect_problem(patch(c_, target, json::array(), token), 422, "validation_failed");
  // A refused request changed nothing.
  EXPECT_EQ(consent_of(c_.get(target, token).json(), "profiling")["default"], true);
  // A member token reaches its own member only.
  expect_problem(c_.get("/v1/members/" + other + "/consents", token), 403, "forbidden");
  expect_problem(patch(c_, "/v1/members/" + other + "/consents", {{"profiling", true}}, token), 403,
                 "forbidden");
  expect_problem(c_.get("/v1/members/mem_nobody/consents", admin_), 404, "unknown_member");
}

TEST_F(Consent, AMemberWhoOptsOutOfLeaderboardsIsNotOnThem) {
  const auto shy = enrol("4000000000000404", "Anna Verdi");
  const auto proud = enrol("4000000000000505", "Luca Gialli");
  buy(shy, "L-1", "90.00");
  buy(proud, "L-2", "30.00");
  auto names = [&] {
    std::vector<std::string> ids;
    const auto board = c_.get("/v1/leaderboards/points?period=all", keys_["store"]).json();
    for (const auto& e : board["entries"]) ids.push_back(e["member_id"]);
    return ids;
  };
  EXPECT_EQ(names(), (std::vector<std::string>{shy, proud}));
  const std::string token =
      c_.post_json("/v1/members/" + shy + "/tokens", json::object(), keys_["app"]).json()["token"];
  ASSERT_EQ(patch(c_, "/v1/members/" + shy + "/consents", {{"leaderboards", false}}, token).status,
            200);
  EXPECT_EQ(names(), std::vector<std::string>{proud});
  // It still sees its own score.
  const auto own = c_.get("/v1/leaderboards/points?period=all", token).json();
  EXPECT_EQ(own["member"]["points"], 90);
  // And can come back.
  patch(c_, "/v1/members/" + shy + "/consents", {{"leaderboards", true}}, token);
  EXPECT_EQ(names(), (std::vector<std::string>{shy, proud}));
}

// A merge keeps the most careful word per purpose: a "no" on either member stands.
TEST_F(Consent, AMergeKeepsEveryNo) {
  const auto keep = enrol("4000000000000911", "Rita Unica");
  const auto dup = enrol("4000000000000922", "Rita Doppia");
  const auto target = [](const std::string& id) { return "/v1/members/" + id + "/consents"; };
  ASSERT_EQ(
      patch(c_, target(dup), {{"leaderboards", false}, {"marketing_sms", true}}, keys_["store"])
          .status,
      200);
  ASSERT_EQ(
      patch(c_, target(keep), {{"marketing_sms", false}, {"marketing_push", true}}, keys_["store"])
          .status,
      200);
  ASSERT_EQ(c_.post_json("/v1/members/" + keep + "/merge", {{"from", dup}}, admin_).status, 200);
  const auto merged = c_.get(target(keep), admin_).json();
  EXPECT_EQ(consent_of(merged, "leaderboards")["granted"], false) << "the duplicate's opt-out";
  EXPECT_EQ(consent_of(merged, "marketing_sms")["granted"], false) << "a no on either stands";
  EXPECT_EQ(consent_of(merged, "marketing_push")["granted"], true);
  EXPECT_EQ(consent_of(merged, "profiling")["default"], true);
}

TEST_F(Consent, StaffRecordWhatTheCustomerSaidWithTheCli) {
  const auto id = enrol("4000000000000606", "Ugo Viola");
  auto given = run_cli("members consents " + id + " --give marketing_sms --withdraw leaderboards",
                       server_, keys_["store"]);
  ASSERT_EQ(given.code, 0) << given.output;
  EXPECT_TRUE(has(given, "marketing_sms  yes  staff:store")) << given.output;
  EXPECT_TRUE(has(given, "leaderboards  no  staff:store")) << given.output;
  EXPECT_TRUE(has(given, "marketing_email  no  (default)")) << given.output;
  auto shown = run_cli("members consents " + id, server_);
  EXPECT_EQ(shown.output, given.output);
  auto bad = run_cli("members consents " + id + " --give newsletter", server_);
  EXPECT_EQ(bad.code, 1) << bad.output;
  EXPECT_TRUE(has(bad, "newsletter")) << bad.output;
}

}  // namespace
