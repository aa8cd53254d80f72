// End-to-end: referrals from a member's code to both sides' rewards, the hold (refunds inside
// and after it), every abuse rule with its reason, concurrent enrolments on one code, merges,
// member creation, and the report.
#include <gtest/gtest.h>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <iostream>
#include <sstream>
#include <vector>

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

referral {
  name "Bring a friend"
  qualify on purchase when event.total >= 20.00
  within 30 days
  hold 14 days
  limit 2 per referrer per month
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}

campaign "referrals" {
  rule "referrer" {
    on referral_completed when event.attributes.role == "referrer"
    then award 500 points
  }

  rule "referee" {
    on referral_completed when event.attributes.role == "referee"
    then award 200 points
  }
}
)";

class Referrals : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    keys_ = apply_program_with_touchpoints(*server_, kProgram, {"store", "app", "web"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }

  // A failed test shows what the server logged as errors.
  void TearDown() override {
    if (!HasFailure()) return;
    std::istringstream log(server_->log());
    for (std::string line; std::getline(log, line);)
      if (line.find(" error ") != std::string::npos || line.find("critical") != std::string::npos)
        std::cerr << "circolod: " << line << "\n";
  }

  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }
  std::string unique(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + "-" + std::to_string(::getpid());
  }
  json email(const std::string& who) {
    return {{"type", "email"}, {"value", unique(who) + "@example.com"}};
  }
  HttpResult event(json body, const std::string& channel = "web") {
    return client().post_json("/v1/events", body, keys_[channel], unique("ev-"));
  }
  // A member enrolled by a signup (with a referral code when given); its id.
  std::string enrol(const json& identifier, const std::string& code = "") {
    json body{{"type", "signup"}, {"member", {{"identifier", identifier}}}, {"enroll", true}};
    if (!code.empty()) body["referral_code"] = code;
    auto r = event(body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("member_id", "");
  }
  HttpResult purchase(const std::string& member, const std::string& total,
                      const std::string& channel = "store") {
    return event({{"type", "purchase"},
                  {"member", {{"id", member}}},
                  {"total", total},
                  {"currency", "EUR"},
                  {"order_id", unique("o-")}},
                 channel);
  }
  HttpResult refund(const std::string& purchase_id, const std::string& total) {
    return event({{"type", "refund"},
                  {"original_event_id", purchase_id},
                  {"total", total},
                  {"currency", "EUR"}},
                 "store");
  }
  std::string code_of(const std::string& member) {
    auto r = client().get("/v1/members/" + member + "/referral", admin());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().value("code", "");
  }
  long long available(const std::string& member) {
    return client().get("/v1/members/" + member, admin()).json()["points"]["available"];
  }
  // The member's referrals as the API lists them.
  json referrals(const std::string& member) {
    auto r = client().get("/v1/members/" + member + "/referrals", admin());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["items"];
  }
  json referral_of_referee(const std::string& referee) {
    for (const auto& item : referrals(referee))
      if (item["role"] == "referee") return item;
    return nullptr;
  }
  std::vector<std::string> timeline_types(const std::string& member) {
    std::vector<std::string> types;
    const auto page = client().get("/v1/members/" + member + "/timeline", admin()).json();
    for (const auto& e : page["items"]) types.push_back(e.value("type", ""));
    return types;
  }
  void sql(const std::string& statement) {
    soci::session session(soci::postgresql, database_->conninfo());
    session << statement;
  }
  static void expect_problem(const HttpResult& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.json().value("code", ""), code) << r.body;
  }

  static inline TestDatabase* database_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::map<std::string, std::string> keys_;
  static inline std::atomic<int> counter_ = 0;  // unique() is called from several threads
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(Referrals, FromCodeToBothRewards) {
  const auto referrer = enrol(email("anna"));
  const auto code = code_of(referrer);
  ASSERT_EQ(code.size(), 9u) << code;  // K7M2-QX9P
  EXPECT_EQ(code_of(referrer), code) << "a member keeps its code";

  // Typed in lower case without the dash at the till: the same code.
  std::string typed;
  for (const char c : code)
    if (c != '-') typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto referee = enrol(email("bruno"), typed);
  auto started = referral_of_referee(referee);
  ASSERT_TRUE(started.is_object());
  EXPECT_EQ(started["state"], "started");
  EXPECT_EQ(started["referrer"], referrer);
  EXPECT_EQ(started["channel"], "web");
  EXPECT_TRUE(contains(timeline_types(referee), "referral.started"));
  EXPECT_TRUE(contains(timeline_types(referrer), "referral.started"));

  // Too small to qualify: nothing happens to the referral.
  ASSERT_EQ(purchase(referee, "10.00").status, 201);
  EXPECT_EQ(referral_of_referee(referee)["state"], "started");
  EXPECT_EQ(available(referrer), 0);

  // The first qualifying purchase: both sides rewarded by the rules, once.
  auto qualifying = purchase(referee, "25.00");
  ASSERT_EQ(qualifying.status, 201) << qualifying.body;
  bool completed = false, referee_award = false;
  const auto qualified = qualifying.json();
  for (const auto& e : qualified["effects"]) {
    if (e["type"] == "referral_completed") completed = true;
    if (e["type"] == "points_awarded" && e.value("points", 0) == 200) referee_award = true;
  }
  EXPECT_TRUE(completed) << qualifying.body;
  EXPECT_TRUE(referee_award) << qualifying.body;
  EXPECT_EQ(qualifying.json()["points"]["available"], 10 + 25 + 200);
  EXPECT_EQ(available(referee), 235);
  EXPECT_EQ(available(referrer), 500);
  auto done = referral_of_referee(referee);
  EXPECT_EQ(done["state"], "completed");
  EXPECT_EQ(done["qualifying_event_id"], qualifying.json()["event_id"]);
  EXPECT_TRUE(contains(timeline_types(referrer), "referral_completed"));
  EXPECT_TRUE(contains(timeline_types(referee), "referral_completed"));

  // Given once: a later qualifying purchase changes nothing for the referral.
  ASSERT_EQ(purchase(referee, "30.00").status, 201);
  EXPECT_EQ(available(referrer), 500);
  EXPECT_EQ(available(referee), 235 + 30);

  // The referrer's own view: its code and counts.
  auto view = client().get("/v1/members/" + referrer + "/referral", admin()).json();
  EXPECT_EQ(view["referrals"]["completed"], 1);

  // Outgoing events for CRMs and push providers.
  auto feed = client().get(
      "/v1/feed?types=referral.started,referral.completed&member_id=" + referee, admin());
  ASSERT_EQ(feed.status, 200) << feed.body;
  std::vector<std::string> types;
  const auto outgoing = feed.json();
  for (const auto& e : outgoing["items"]) types.push_back(e["type"]);
  EXPECT_TRUE(contains(types, "referral.started")) << feed.body;
  EXPECT_TRUE(contains(types, "referral.completed")) << feed.body;
}

TEST_F(Referrals, FullRefundInsideTheHoldTakesBothRewardsBack) {
  const auto referrer = enrol(email("carla"));
  const auto referee = enrol(email("dario"), code_of(referrer));
  auto qualifying = purchase(referee, "40.00");
  ASSERT_EQ(qualifying.status, 201) << qualifying.body;
  const std::string id = qualifying.json()["event_id"];
  EXPECT_EQ(available(referrer), 500);

  // A partial refund leaves the referral.
  ASSERT_EQ(refund(id, "10.00").status, 201);
  EXPECT_EQ(referral_of_referee(referee)["state"], "completed");
  EXPECT_EQ(available(referrer), 500);

  // Refunded in full within the hold: reversed on both sides.
  auto back = refund(id, "30.00");
  ASSERT_EQ(back.status, 201) << back.body;
  bool reversed = false;
  const auto answer = back.json();
  for (const auto& e : answer["effects"])
    if (e["type"] == "referral_reversed") reversed = true;
  EXPECT_TRUE(reversed) << back.body;
  auto state = referral_of_referee(referee);
  EXPECT_EQ(state["state"], "reversed");
  EXPECT_EQ(state["reason"], "refunded");
  EXPECT_EQ(available(referrer), 0);
  EXPECT_EQ(available(referee), 0) << "the purchase's 40 and the referral's 200 came back";
  EXPECT_TRUE(contains(timeline_types(referrer), "referral_reversed"));
}

TEST_F(Referrals, RefundAfterTheHoldKeepsTheRewards) {
  const auto referrer = enrol(email("elena"));
  const auto referee = enrol(email("fabio"), code_of(referrer));
  auto qualifying = purchase(referee, "50.00");
  ASSERT_EQ(qualifying.status, 201) << qualifying.body;
  // Fourteen days later.
  sql("update referrals set hold_until = now() - interval '1 second' where referee_id = '" +
      referee + "'");
  ASSERT_EQ(refund(qualifying.json()["event_id"], "50.00").status, 201);
  EXPECT_EQ(referral_of_referee(referee)["state"], "completed");
  EXPECT_EQ(available(referrer), 500);
  EXPECT_EQ(available(referee), 200);
}

TEST_F(Referrals, AbuseIsRefusedWithAReason) {
  const auto referrer = enrol(email("gino"));
  const auto code = code_of(referrer);

  // The referrer itself, naming one of its own identifiers: self_referral.
  const auto own = client().get("/v1/members/" + referrer, admin()).json()["identifiers"][0];
  auto self = event({{"type", "signup"},
                     {"member", {{"identifier", own}}},
                     {"enroll", true},
                     {"referral_code", code}});
  ASSERT_EQ(self.status, 201) << self.body;
  bool refused_self = false;
  for (const auto& item : referrals(referrer))
    if (item["state"] == "refused" && item["reason"] == "self_referral") refused_self = true;
  EXPECT_TRUE(refused_self);

  // Someone already a member: already_member; the event itself goes through.
  const auto existing_email = email("hana");
  const auto existing = enrol(existing_email);
  auto again = event({{"type", "signup"},
                      {"member", {{"identifier", existing_email}}},
                      {"enroll", true},
                      {"referral_code", code}});
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(referrals(existing)[0]["state"], "refused");
  EXPECT_EQ(referrals(existing)[0]["reason"], "already_member");
  ASSERT_EQ(purchase(existing, "99.00").status, 201);
  EXPECT_EQ(available(referrer), 0);

  // A code nobody has: refused as a whole, nobody enrolled.
  const auto nobody = email("ivo");
  expect_problem(event({{"type", "signup"},
                        {"member", {{"identifier", nobody}}},
                        {"enroll", true},
                        {"referral_code", "ZZZZ-ZZZZ"}}),
                 422, "unknown_referral_code");
  EXPECT_EQ(
      client()
          .get("/v1/members/lookup?type=email&value=" + nobody["value"].get<std::string>(), admin())
          .status,
      404);
  // Not shaped like a code, or without enroll: a validation error.
  expect_problem(event({{"type", "signup"},
                        {"member", {{"identifier", email("jo")}}},
                        {"enroll", true},
                        {"referral_code", "not a code!"}}),
                 422, "validation_failed");
  expect_problem(
      event({{"type", "visit"}, {"member", {{"id", referrer}}}, {"referral_code", code}}), 422,
      "validation_failed");
}

TEST_F(Referrals, ExpiredReferralsDoNotComplete) {
  const auto referrer = enrol(email("lia"));
  const auto referee = enrol(email("max"), code_of(referrer));
  sql("update referrals set started_at = now() - interval '31 days' where referee_id = '" +
      referee + "'");
  ASSERT_EQ(purchase(referee, "60.00").status, 201);
  auto state = referral_of_referee(referee);
  EXPECT_EQ(state["state"], "expired");
  EXPECT_EQ(available(referrer), 0);
}

TEST_F(Referrals, TheCapHoldsUnderConcurrentEnrolmentsWithOneCode) {
  const auto referrer = enrol(email("nora"));
  const auto code = code_of(referrer);
  constexpr int kReferees = 6;
  std::vector<std::future<std::string>> enrolments;
  for (int i = 0; i < kReferees; ++i)
    enrolments.push_back(std::async(std::launch::async, [&, i] {
      return enrol(email("friend" + std::to_string(i) + "-"), code);
    }));
  std::vector<std::string> referees;
  for (auto& f : enrolments) referees.push_back(f.get());
  for (const auto& r : referees) ASSERT_FALSE(r.empty());
  std::vector<std::future<int>> purchases;
  for (const auto& r : referees)
    purchases.push_back(
        std::async(std::launch::async, [&, r] { return purchase(r, "20.00").status; }));
  for (auto& f : purchases) EXPECT_EQ(f.get(), 201);
  int completed = 0, capped = 0;
  for (const auto& r : referees) {
    const auto state = referral_of_referee(r);
    if (state["state"] == "completed") ++completed;
    if (state["state"] == "refused" && state["reason"] == "referrer_cap") ++capped;
  }
  EXPECT_EQ(completed, 2);
  EXPECT_EQ(capped, kReferees - 2);
  EXPECT_EQ(available(referrer), 1000);
}

TEST_F(Referrals, MergesEndOpenReferrals) {
  const auto referrer = enrol(email("olga"));
  const auto referee = enrol(email("piero"), code_of(referrer));
  // The referee turns out to be the referrer: merged into it.
  auto merged = client().post_json("/v1/members/" + referrer + "/merge", {{"from", referee}},
                                   admin(), unique("merge-"));
  ASSERT_EQ(merged.status, 200) << merged.body;
  bool refused = false;
  for (const auto& item : referrals(referrer))
    if (item["state"] == "refused" && item["reason"] == "self_referral") refused = true;
  EXPECT_TRUE(refused);
  ASSERT_EQ(purchase(referrer, "80.00").status, 201);
  EXPECT_EQ(available(referrer), 80);

  // A referee merged with someone else who was a member before: already_member.
  const auto other = enrol(email("quinto"));
  const auto late = enrol(email("rita"), code_of(other));
  const auto old = enrol(email("sara"));
  ASSERT_EQ(
      client()
          .post_json("/v1/members/" + old + "/merge", {{"from", late}}, admin(), unique("merge-"))
          .status,
      200);
  EXPECT_EQ(referrals(other)[0]["reason"], "already_member");
}

TEST_F(Referrals, MemberCreationCarriesACodeAndMembersSeeTheirOwn) {
  const auto referrer = enrol(email("teo"));
  const auto code = code_of(referrer);
  auto created =
      client().post_json("/v1/members", {{"identifiers", {email("ugo")}}, {"referral_code", code}},
                         keys_["app"], unique("m-"));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string referee = created.json()["id"];
  EXPECT_EQ(referral_of_referee(referee)["state"], "started");
  EXPECT_EQ(referral_of_referee(referee)["channel"], "app");

  auto minted = client().post_json("/v1/members/" + referee + "/tokens", {{"ttl_seconds", 600}},
                                   keys_["app"], unique("t-"));
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = minted.json()["token"];
  EXPECT_EQ(client().get("/v1/members/" + referee + "/referral", token).status, 200);
  EXPECT_EQ(client().get("/v1/members/" + referee + "/referrals", token).status, 200);
  expect_problem(client().get("/v1/members/" + referrer + "/referral", token), 403, "forbidden");
}

TEST_F(Referrals, TheReportCountsByStateAndReason) {
  const auto referrer = enrol(email("vera"));
  const auto code = code_of(referrer);
  const auto one = enrol(email("walter"), code);
  ASSERT_EQ(purchase(one, "21.00").status, 201);
  enrol(email("xenia"), code);
  auto report = client().get("/v1/admin/reports/referrals", admin());
  ASSERT_EQ(report.status, 200) << report.body;
  const auto r = report.json();
  EXPECT_GE(r["completed"].get<long long>(), 1);
  EXPECT_GE(r["open"].get<long long>(), 1);
  EXPECT_GE(r["points_given"].get<long long>(), 700);
  EXPECT_TRUE(r["refused_by_reason"].is_object());
  EXPECT_FALSE(r["days"].empty());
  bool found = false;
  for (const auto& top : r["top_referrers"])
    if (top["member_id"] == referrer) {
      found = true;
      EXPECT_EQ(top["completed"], 1);
      EXPECT_EQ(top["open"], 1);
    }
  EXPECT_TRUE(found) << report.body;
  expect_problem(client().get("/v1/admin/reports/referrals?from=yesterday", admin()), 400,
                 "invalid_query");
  expect_problem(client().get("/v1/admin/reports/referrals", keys_["store"]), 403, "forbidden");
}

TEST_F(Referrals, ConcurrentQualifyingEnrolmentsOnOneCodeKeepTheCap) {
  // Friends who enrol with a purchase at the till, all at once: each purchase completes its own
  // referral in the transaction that starts it.
  const auto referrer = enrol(email("yara"));
  const auto code = code_of(referrer);
  constexpr int kFriends = 6;
  std::vector<std::future<HttpResult>> sent;
  for (int i = 0; i < kFriends; ++i)
    sent.push_back(std::async(std::launch::async, [&, i] {
      return event({{"type", "purchase"},
                    {"member", {{"identifier", email("till" + std::to_string(i) + "-")}}},
                    {"enroll", true},
                    {"referral_code", code},
                    {"total", "25.00"},
                    {"currency", "EUR"}},
                   "store");
    }));
  int completed = 0, capped = 0;
  for (auto& f : sent) {
    const auto r = f.get();
    ASSERT_EQ(r.status, 201) << r.body;
    const auto state = referral_of_referee(r.json()["member_id"]);
    if (state["state"] == "completed") ++completed;
    if (state["reason"] == "referrer_cap") ++capped;
  }
  EXPECT_EQ(completed, 2);
  EXPECT_EQ(capped, kFriends - 2);
  EXPECT_EQ(available(referrer), 1000);
}

TEST_F(Referrals, ARetriedQualifyingPurchaseRewardsOnce) {
  const auto referrer = enrol(email("zeno"));
  const auto referee = enrol(email("ada"), code_of(referrer));
  const json body{{"type", "purchase"},
                  {"member", {{"id", referee}}},
                  {"total", "22.00"},
                  {"currency", "EUR"},
                  {"order_id", unique("o-")}};
  const auto key = unique("retry-");
  auto first = client().post_json("/v1/events", body, keys_["store"], key);
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = client().post_json("/v1/events", body, keys_["store"], key);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["effects"], first.json()["effects"]);
  EXPECT_EQ(available(referrer), 500);
  EXPECT_EQ(available(referee), 22 + 200);
}

TEST_F(Referrals, AnIdentifierTheReferrerOnceHadIsSelfReferral) {
  const auto referrer = enrol(email("bice"));
  const std::string card = "4" + std::to_string(900000 + counter_++) + std::to_string(::getpid());
  ASSERT_EQ(client()
                .post_json("/v1/members/" + referrer + "/identifiers",
                           {{"type", "card"}, {"value", card}}, keys_["store"])
                .status,
            201);
  ASSERT_EQ(client()
                .request("DELETE", "/v1/members/" + referrer + "/identifiers/card/" + card, "",
                         {{"Authorization", "Bearer " + admin()}})
                .status,
            204);
  // The same card comes back as a "new" member with the referrer's own code.
  const auto again = enrol({{"type", "card"}, {"value", card}}, code_of(referrer));
  const auto refused = referral_of_referee(again);
  EXPECT_EQ(refused["state"], "refused");
  EXPECT_EQ(refused["reason"], "self_referral");
}

TEST_F(Referrals, AMergedReferrersCodeAndReferralsFollowTheSurvivor) {
  const auto old_account = enrol(email("carlo"));
  const auto code = code_of(old_account);
  const auto first = enrol(email("dora"), code);
  const auto survivor = enrol(email("carlo-new"));
  ASSERT_EQ(client()
                .post_json("/v1/members/" + survivor + "/merge", {{"from", old_account}}, admin(),
                           unique("merge-"))
                .status,
            200);
  // The old code brings a friend to the survivor.
  const auto second = enrol(email("elio"), code);
  EXPECT_EQ(referral_of_referee(second)["referrer"], survivor);
  ASSERT_EQ(purchase(second, "30.00").status, 201);
  EXPECT_EQ(available(survivor), 500);
  // The survivor lists both, and counts them.
  const auto listed = referrals(survivor);
  EXPECT_EQ(listed.size(), 2u);
  auto view = client().get("/v1/members/" + survivor + "/referral", admin()).json();
  EXPECT_EQ(view["referrals"]["completed"], 1);
  EXPECT_EQ(view["referrals"]["started"], 1);
  (void)first;
}

TEST_F(Referrals, AMemberCreationSentTwiceRecordsTheReferralOnce) {
  const auto referrer = enrol(email("fede"));
  const auto code = code_of(referrer);
  const json friend_email = email("gaia");
  auto once =
      client().post_json("/v1/members", {{"identifiers", {friend_email}}, {"referral_code", code}},
                         keys_["web"], unique("m-"));
  ASSERT_EQ(once.status, 201) << once.body;
  auto twice = client().post_json(
      "/v1/members", {{"identifiers", {friend_email}}, {"referral_code", code}, {"link", true}},
      keys_["app"], unique("m-"));
  ASSERT_EQ(twice.status, 200) << twice.body;
  const auto listed = referrals(once.json()["id"]);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["state"], "started");
}

}  // namespace
