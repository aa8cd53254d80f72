// End-to-end: coupons and rewards against the real circolod: issue (rules, rewards, bulk),
// validate with every refusal, reserve, redeem exactly once under concurrency, roll back,
// redemption inside a purchase event, expiry announcements, member tokens and bad input.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "circolo/engine/coupons.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const char* kProgram = R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

coupon "WELCOME5" {
  name "5 euro off"
  discount 5.00
  min_total 25.00
  valid 60 days
}

coupon "SHOES10" {
  name "10% off shoes"
  discount 10%
  max_discount 20.00
  valid 30 days
  channels app, web
}

coupon "MULTI" {
  discount 1.00
  valid 30 days
  uses 3
}

coupon "FIVE" {
  discount 5.00
  valid 30 days
}

coupon "COFFEE" {
  discount 2.50
  valid 14 days
  channels store
}

reward "free-coffee" {
  name "Free coffee"
  cost 300 points
  coupon "COFFEE"
}

reward "mug" {
  name "Mug"
  cost 10 points
  coupon "COFFEE"
  stock 5
}

campaign "welcome" {
  rule "signup" {
    on signup
    then issue coupon "WELCOME5"
  }
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}
)";

class Coupons : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    HttpClient c(server_->port());
    keys_ = apply_program_with_touchpoints(*server_, kProgram, {"store", "app"});
    for (int i = 0; i < 50; ++i) {  // until this instance has loaded the program
      if (c.get("/v1/rewards", server_->admin_key()).status == 200) break;
      std::this_thread::sleep_for(100ms);
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }

  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }
  const std::string& key(const std::string& channel) { return keys_[channel]; }
  std::string unique(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + "-" + std::to_string(::getpid());
  }
  HttpResult post(const std::string& target, const json& body, const std::string& with_key,
                  const std::string& idempotency = "auto") {
    return client().post_json(target, body, with_key,
                              idempotency == "auto" ? unique("idem-") : idempotency);
  }

  // A member enrolled by a sign-up (which issues it a WELCOME5 code): {id, welcome code}.
  std::pair<std::string, std::string> signup() {
    auto r = post("/v1/events",
                  {{"type", "signup"},
                   {"member", {{"identifier", {{"type", "card"}, {"value", unique("4000")}}}}},
                   {"enroll", true}},
                  key("store"));
    EXPECT_EQ(r.status, 201) << r.body;
    const auto body = r.json();
    std::string code;
    for (const auto& e : body["effects"])
      if (e["type"] == "coupon_issued") code = e["code"];
    return {body["member_id"], code};
  }
  std::string member() { return signup().first; }

  void give_points(const std::string& id, long long points) {
    auto r = post("/v1/members/" + id + "/points/adjust", {{"points", points}, {"reason", "test"}},
                  admin());
    ASSERT_EQ(r.status, 201) << r.body;
  }

  // Codes of a template: for a member, or unassigned.
  json audit_items(const std::string& query) {
    return client().get("/v1/admin/audit?" + query, admin()).json()["items"];
  }

  std::vector<std::string> generate(const std::string& coupon, int count,
                                    const std::optional<std::string>& for_member = {}) {
    json body{{"count", count}};
    if (for_member) body["member"] = *for_member;
    auto r = post("/v1/admin/coupons/" + coupon + "/codes", body, admin());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["codes"].get<std::vector<std::string>>();
  }

  json validate(const std::string& code, const std::string& member_id, const std::string& total,
                const std::string& channel = "store") {
    auto r = post("/v1/coupons/validate", {{"code", code}, {"member", member_id}, {"total", total}},
                  key(channel), "");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  HttpResult redeem(const std::string& code, const std::string& member_id,
                    const std::string& total = "50.00", const std::string& channel = "store") {
    return post(
        "/v1/coupons/redeem",
        {{"code", code}, {"member", member_id}, {"total", total}, {"order_id", unique("o-")}},
        key(channel));
  }

  int uses_of(const std::string& code) {
    return client().get("/v1/admin/coupons/codes/" + code, admin()).json()["uses"];
  }

  long long scalar(const std::string& query) {
    soci::session sql(soci::postgresql, database_->conninfo());
    long long n = 0;
    sql << query, soci::into(n);
    return n;
  }
  void execute(const std::string& statement) {
    soci::session sql(soci::postgresql, database_->conninfo());
    sql << statement;
  }

  static TestDatabase* database_;
  static ServerProcess* server_;
  static std::map<std::string, std::string> keys_;
  static std::atomic<int> counter_;
};

TestDatabase* Coupons::database_ = nullptr;
ServerProcess* Coupons::server_ = nullptr;
std::map<std::string, std::string> Coupons::keys_;
std::atomic<int> Coupons::counter_{0};

// Runs `n` requests at once and returns their statuses.
template <class Request>
std::vector<int> at_once(int n, Request request) {
  std::vector<int> statuses(static_cast<std::size_t>(n));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      statuses[static_cast<std::size_t>(i)] = request(i);
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  return statuses;
}

}  // namespace

TEST_F(Coupons, RulesIssueCodesThatLookRightAndSitInTheWallet) {
  std::string id, code;
  std::tie(id, code) = signup();
  ASSERT_FALSE(code.empty());
  EXPECT_EQ(code.rfind("WELCOME5-", 0), 0u) << code;
  EXPECT_EQ(code.size(), std::string("WELCOME5-").size() + 11);
  EXPECT_EQ(
      scalar("select count(*) from outbox where type = 'coupon.issued' and data->>'code' = '" +
             code + "'"),
      1);
  const auto wallet = client().get("/v1/members/" + id + "/wallet", admin()).json();
  ASSERT_EQ(wallet["coupons"].size(), 1u) << wallet.dump();
  EXPECT_EQ(wallet["coupons"][0]["code"], code);
  EXPECT_EQ(wallet["coupons"][0]["terms"]["discount"], "5.00");
  EXPECT_EQ(wallet["coupons"][0]["terms"]["min_total"], "25.00");
  const auto listed = client().get("/v1/members/" + id + "/coupons", admin()).json();
  EXPECT_EQ(listed["items"].size(), 1u);
}

TEST_F(Coupons, ValidateAnswersEveryRefusalAndChangesNothing) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  const auto other = member();
  auto ok = validate(welcome, id, "30.00");
  EXPECT_EQ(ok["valid"], true) << ok.dump();
  EXPECT_EQ(ok["discount"], "5.00");
  EXPECT_EQ(uses_of(welcome), 0);

  // Lower case and blanks are the same code.
  std::string typed;
  for (char c : welcome) typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(validate(" " + typed + " ", id, "30.00")["valid"], true);

  auto refusal = [&](const std::string& code, const std::string& who, const std::string& total,
                     const std::string& channel = "store") {
    const auto v = validate(code, who, total, channel);
    EXPECT_EQ(v["valid"], false) << v.dump();
    return v["code"].get<std::string>();
  };
  EXPECT_EQ(refusal(welcome, id, "24.99"), "min_total_not_met");
  EXPECT_EQ(refusal(welcome, other, "30.00"), "coupon_not_owned");
  // A mistyped symbol is caught by the check symbol; a well-formed stranger is not found.
  std::string typo = welcome;
  typo[10] = typo[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(refusal(typo, id, "30.00"), "unknown_coupon");
  EXPECT_EQ(refusal("NOPE", id, "30.00"), "unknown_coupon");

  const auto shoes = generate("SHOES10", 1, id).front();
  const auto issued = audit_items("action=coupon.codes_issued&target=" + id);
  ASSERT_EQ(issued.size(), 1u) << issued.dump();
  EXPECT_EQ(issued[0]["detail"]["coupon"], "SHOES10");
  EXPECT_EQ(issued[0]["detail"]["count"], 1);
  EXPECT_EQ(issued[0].dump().find(shoes), std::string::npos) << "codes are bearer secrets";
  EXPECT_EQ(refusal(shoes, id, "100.00", "store"), "channel_not_allowed");
  auto percent = validate(shoes, id, "84.59", "app");
  EXPECT_EQ(percent["discount"], "8.45");  // 10%, rounded down to the cent
  EXPECT_EQ(validate(shoes, id, "500.00", "app")["discount"], "20.00");  // the cap

  ASSERT_EQ(redeem(welcome, id, "30.00").status, 201);
  EXPECT_EQ(refusal(welcome, id, "30.00"), "coupon_already_redeemed");
  execute("update coupon_codes set expires_at = now() - interval '1 second' where code = '" +
          shoes + "'");
  EXPECT_EQ(refusal(shoes, id, "100.00", "app"), "coupon_expired");
  EXPECT_EQ(uses_of(shoes), 0);
}

TEST_F(Coupons, RedeemReplaysRollsBackOnceAndRefusesWithStableCodes) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  const json body{{"code", welcome}, {"member", id}, {"total", "40.00"}, {"order_id", "R-1"}};
  auto first = post("/v1/coupons/redeem", body, key("store"), "redeem-" + welcome);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.json()["discount"], "5.00");
  auto replay = post("/v1/coupons/redeem", body, key("store"), "redeem-" + welcome);
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.json()["redemption_id"], first.json()["redemption_id"]);
  EXPECT_EQ(uses_of(welcome), 1);
  expect_problem(redeem(welcome, id, "40.00"), 409, "coupon_already_redeemed");

  const std::string rid = first.json()["redemption_id"];
  // Another channel's touchpoint cannot undo the till's redemption.
  expect_problem(post("/v1/redemptions/" + rid + "/rollback", json::object(), key("app")), 403,
                 "forbidden");
  EXPECT_EQ(uses_of(welcome), 1);
  auto back = post("/v1/redemptions/" + rid + "/rollback", json::object(), key("store"));
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(back.json()["uses_left"], 1);
  EXPECT_EQ(uses_of(welcome), 0);
  expect_problem(post("/v1/redemptions/" + rid + "/rollback", json::object(), key("store")), 409,
                 "redemption_rolled_back");
  EXPECT_EQ(uses_of(welcome), 0);
  // Once in the audit trail, with the member and the redemption, without the code (a bearer
  // secret).
  const auto trail = audit_items("action=redemption.rolled_back&target=" + id);
  ASSERT_EQ(trail.size(), 1u) << trail.dump();
  EXPECT_EQ(trail[0]["detail"]["redemption"], rid);
  EXPECT_EQ(trail[0]["role"], "touchpoint");
  EXPECT_EQ(trail[0].dump().find(welcome), std::string::npos);
  expect_problem(post("/v1/redemptions/rdm_nothing/rollback", json::object(), key("store")), 404,
                 "unknown_redemption");
  EXPECT_EQ(redeem(welcome, id, "40.00").status, 201);
  EXPECT_EQ(scalar("select count(*) from outbox where type = 'coupon.redeemed' and data->>'code' "
                   "= '" +
                   welcome + "'"),
            2);

  expect_problem(redeem(welcome, id, "24.00"), 409, "coupon_already_redeemed");
  expect_problem(redeem("WELCOME5-22222222222", id), 404, "unknown_coupon");
  // A touchpoint of a channel the code is not for.
  const auto shoes = generate("SHOES10", 1, id).front();
  expect_problem(redeem(shoes, id, "40.00", "store"), 422, "channel_not_allowed");
  EXPECT_EQ(redeem(shoes, id, "40.00", "app").status, 201);
}

TEST_F(Coupons, HundredConcurrentRedeemsOfAOneUseCodeSucceedOnce) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  const auto statuses = at_once(100, [&](int) { return redeem(welcome, id, "30.00").status; });
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 1);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), 99);
  EXPECT_EQ(uses_of(welcome), 1);
  EXPECT_EQ(scalar("select count(*) from coupon_redemptions where code = '" + welcome + "'"), 1);
}

TEST_F(Coupons, UsesNAreTakenExactlyUnderConcurrency) {
  const auto id = member();
  const auto code = generate("MULTI", 1, id).front();
  const auto statuses = at_once(30, [&](int) { return redeem(code, id, "10.00").status; });
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 3);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), 27);
  EXPECT_EQ(uses_of(code), 3);
}

TEST_F(Coupons, ReservationsHoldAUseUntilRedeemedOrExpired) {
  const auto a = member(), b = member();
  const auto code = generate("COFFEE", 1).front();  // unassigned: anyone's until redeemed
  auto held = post("/v1/coupons/reserve", {{"code", code}, {"member", a}, {"ttl_seconds", 600}},
                   key("store"));
  ASSERT_EQ(held.status, 201) << held.body;
  EXPECT_EQ(validate(code, b, "5.00")["code"], "coupon_already_redeemed");
  expect_problem(redeem(code, b), 409, "coupon_already_redeemed");
  // Reserving again renews the same hold.
  auto again = post("/v1/coupons/reserve", {{"code", code}, {"member", a}}, key("store"));
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.json()["reservation_id"], held.json()["reservation_id"]);
  auto redeemed = redeem(code, a, "5.00");
  ASSERT_EQ(redeemed.status, 201) << redeemed.body;
  EXPECT_EQ(redeemed.json()["discount"], "2.50");
  const auto shown = client().get("/v1/admin/coupons/codes/" + code, admin()).json();
  EXPECT_EQ(shown["member_id"], a) << "bound to its first redeemer";
  EXPECT_TRUE(shown["reservations"].empty());
  EXPECT_EQ(shown["redemptions"].size(), 1u);

  // Bound: after a rollback only its member may use it.
  post("/v1/redemptions/" + redeemed.json()["redemption_id"].get<std::string>() + "/rollback",
       json::object(), key("store"));
  expect_problem(redeem(code, b), 422, "coupon_not_owned");

  // An expired hold releases its use by itself.
  const auto other = generate("COFFEE", 1).front();
  ASSERT_EQ(post("/v1/coupons/reserve", {{"code", other}, {"member", a}, {"ttl_seconds", 1}},
                 key("store"))
                .status,
            201);
  expect_problem(redeem(other, b), 409, "coupon_already_redeemed");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(redeem(other, b).status, 201);
}

TEST_F(Coupons, ReservationsAndRedemptionsRacingForOneUse) {
  const auto code = generate("COFFEE", 1).front();
  std::vector<std::string> members;
  for (int i = 0; i < 20; ++i) members.push_back(member());
  const auto statuses = at_once(40, [&](int i) {
    const auto& who = members[static_cast<std::size_t>(i % 20)];
    if (i % 2 == 0)
      return post("/v1/coupons/reserve", {{"code", code}, {"member", who}}, key("store")).status;
    return redeem(code, who, "5.00").status;
  });
  // One request wins the use (a hold or a redemption); its member may also win with its other
  // request (its own hold, then redeeming it). Nobody else does.
  EXPECT_GE(std::count(statuses.begin(), statuses.end(), 201), 1);
  EXPECT_LE(std::count(statuses.begin(), statuses.end(), 201), 2);
  EXPECT_LE(scalar("select count(*) from coupon_redemptions where code = '" + code + "'"), 1);
  EXPECT_LE(scalar("select count(distinct member_id) from (select member_id from coupon_holds "
                   "where code = '" +
                   code +
                   "' union all select member_id from "
                   "coupon_redemptions where code = '" +
                   code + "') x"),
            1);
}

TEST_F(Coupons, APurchaseRedeemsItsCouponsInItsOwnTransaction) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  auto purchase = [&](const std::vector<std::string>& codes, const std::string& total) {
    return post("/v1/events",
                {{"type", "purchase"},
                 {"member", {{"id", id}}},
                 {"total", total},
                 {"currency", "EUR"},
                 {"order_id", unique("order-")},
                 {"coupons", codes}},
                key("store"));
  };
  // Refused coupons fail the event: no points, no event, the code untouched.
  const auto events_before = scalar("select count(*) from events where member_id = '" + id + "'");
  auto low = purchase({welcome}, "20.00");
  expect_problem(low, 422, "min_total_not_met");
  EXPECT_EQ(low.json()["errors"][0]["field"], "coupons[0]");
  expect_problem(purchase({"WELCOME5-22222222222"}, "30.00"), 404, "unknown_coupon");
  EXPECT_EQ(scalar("select count(*) from events where member_id = '" + id + "'"), events_before);
  EXPECT_EQ(scalar("select points_balance from members where id = '" + id + "'"), 0);

  auto paid = purchase({welcome}, "30.00");
  ASSERT_EQ(paid.status, 201) << paid.body;
  bool redeemed = false;
  const auto paid_body = paid.json();
  for (const auto& e : paid_body["effects"]) {
    if (e["type"] == "coupon_redeemed") {
      redeemed = true;
      EXPECT_EQ(e["code"], welcome);
      EXPECT_EQ(e["discount"], "5.00");
    }
  }
  EXPECT_TRUE(redeemed) << paid.body;
  EXPECT_EQ(paid.json()["points"]["available"], 25);  // on what was paid: 30.00 less 5.00
  EXPECT_EQ(scalar("select count(*) from coupon_redemptions where event_id = '" +
                   paid.json()["event_id"].get<std::string>() + "'"),
            1);
  // The same code again: the whole purchase is refused.
  expect_problem(purchase({welcome}, "30.00"), 409, "coupon_already_redeemed");
  EXPECT_EQ(scalar("select points_balance from members where id = '" + id + "'"), 25);
  // Coupons come with purchases only, each once.
  auto visit =
      post("/v1/events", {{"type", "visit"}, {"member", {{"id", id}}}, {"coupons", {welcome}}},
           key("store"));
  expect_problem(visit, 422, "validation_failed");
  expect_problem(purchase({welcome, welcome}, "30.00"), 422, "validation_failed");
}

TEST_F(Coupons, RewardsSpendPointsIssueACodeAndKeepExactStock) {
  const auto id = member();
  const auto catalog = client().get("/v1/rewards", key("app")).json();
  ASSERT_EQ(catalog["items"].size(), 2u) << catalog.dump();
  EXPECT_EQ(catalog["items"][0]["id"], "free-coffee");
  EXPECT_EQ(catalog["items"][0]["cost"], 300);
  EXPECT_EQ(catalog["items"][1]["remaining"], 5);

  expect_problem(post("/v1/rewards/free-coffee/claim", {{"member", id}}, key("app")), 409,
                 "insufficient_points");
  give_points(id, 1000);
  auto claim = post("/v1/rewards/free-coffee/claim", {{"member", id}}, key("app"), "claim-" + id);
  ASSERT_EQ(claim.status, 201) << claim.body;
  EXPECT_EQ(claim.json()["points"]["available"], 700);
  const std::string code = claim.json()["coupon"]["code"];
  EXPECT_EQ(code.rfind("COFFEE-", 0), 0u);
  EXPECT_EQ(validate(code, id, "3.00")["discount"], "2.50");
  auto replay = post("/v1/rewards/free-coffee/claim", {{"member", id}}, key("app"), "claim-" + id);
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.json()["coupon"]["code"], code);
  EXPECT_EQ(scalar("select points_balance from members where id = '" + id + "'"), 700);
  const auto claims = audit_items("action=reward.claimed&target=" + id);
  ASSERT_EQ(claims.size(), 1u) << "the replay is not a second claim: " << claims.dump();
  EXPECT_EQ(claims[0]["detail"]["claim_id"], claim.json()["claim_id"]);
  EXPECT_EQ(claims[0]["detail"]["points"], 300);
  expect_problem(post("/v1/rewards/nothing/claim", {{"member", id}}, key("app")), 404,
                 "unknown_reward");

  // Stock 5, 20 members claiming at once: exactly 5 claims.
  std::vector<std::string> members;
  for (int i = 0; i < 20; ++i) {
    members.push_back(member());
    give_points(members.back(), 100);
  }
  const auto statuses = at_once(20, [&](int i) {
    return post("/v1/rewards/mug/claim", {{"member", members[static_cast<std::size_t>(i)]}},
                key("app"))
        .status;
  });
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 5);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), 15);
  EXPECT_EQ(scalar("select count(*) from reward_claims where reward = 'mug'"), 5);
  EXPECT_EQ(client().get("/v1/rewards", key("app")).json()["items"][1]["remaining"], 0);
  expect_problem(post("/v1/rewards/mug/claim", {{"member", id}}, key("app")), 409, "out_of_stock");
  // Out of stock took nothing.
  EXPECT_EQ(scalar("select points_balance from members where id = '" + id + "'"), 700);
}

TEST_F(Coupons, BulkGenerationStoresUniqueWellFormedCodes) {
  auto r = post("/v1/admin/coupons/COFFEE/codes", {{"count", 5000}, {"prefix", "xmas"}}, admin());
  ASSERT_EQ(r.status, 201) << r.body;
  const auto codes = r.json()["codes"].get<std::vector<std::string>>();
  ASSERT_EQ(codes.size(), 5000u);
  EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()).size(), 5000u);
  for (const auto& c : codes) ASSERT_EQ(c.rfind("XMAS-", 0), 0u) << c;
  EXPECT_EQ(scalar("select count(*) from coupon_codes where source_id = '" +
                   r.json()["generation_id"].get<std::string>() + "' and member_id is null"),
            5000);
  const auto someone = member();
  EXPECT_EQ(redeem(codes[1234], someone, "5.00").status, 201);

  auto csv = client().request("POST", "/v1/admin/coupons/MULTI/codes", R"({"count":3})",
                              {{"Authorization", "Bearer " + admin()},
                               {"Content-Type", "application/json"},
                               {"Accept", "text/csv"},
                               {"Idempotency-Key", unique("csv-")}});
  ASSERT_EQ(csv.status, 201) << csv.body;
  EXPECT_EQ(csv.headers["content-type"], "text/csv");
  std::istringstream lines(csv.body);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) EXPECT_EQ(line.rfind("MULTI-", 0), 0u);
  EXPECT_EQ(n, 3);

  expect_problem(post("/v1/admin/coupons/COFFEE/codes", {{"count", 0}}, admin()), 422,
                 "validation_failed");
  expect_problem(post("/v1/admin/coupons/COFFEE/codes", {{"count", 1000001}}, admin()), 422,
                 "validation_failed");
  expect_problem(post("/v1/admin/coupons/COFFEE/codes", {{"count", 1}, {"prefix", "a b"}}, admin()),
                 422, "validation_failed");
  expect_problem(post("/v1/admin/coupons/NOPE/codes", {{"count", 1}}, admin()), 404,
                 "unknown_coupon_template");
  expect_problem(post("/v1/admin/coupons/COFFEE/codes", {{"count", 1}}, key("store")), 403,
                 "forbidden");
}

TEST_F(Coupons, ExpiringCodesAreAnnouncedOnce) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  execute("update coupon_codes set expires_at = now() + interval '1 day' where code = '" + welcome +
          "'");
  auto first = post("/v1/admin/coupons/expiring", json::object(), admin());
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_GE(first.json()["announced"], 1);
  EXPECT_EQ(
      scalar("select count(*) from outbox where type = 'coupon.expiring' and data->>'code' = '" +
             welcome + "'"),
      1);
  post("/v1/admin/coupons/expiring", json::object(), admin());
  EXPECT_EQ(
      scalar("select count(*) from outbox where type = 'coupon.expiring' and data->>'code' = '" +
             welcome + "'"),
      1);
}

TEST_F(Coupons, MemberTokensActForTheirOwnMemberOnTheirTouchpointsChannel) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  std::string other, other_code;
  std::tie(other, other_code) = signup();
  auto minted = post("/v1/members/" + id + "/tokens", json::object(), key("store"));
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = minted.json()["token"];
  expect_problem(post("/v1/coupons/redeem",
                      {{"code", other_code}, {"member", other}, {"total", "30.00"}}, token),
                 403, "forbidden");
  // The channel is the minting touchpoint's (store): COFFEE codes are for the store.
  const auto coffee = generate("COFFEE", 1, id).front();
  auto mine =
      post("/v1/coupons/redeem", {{"code", coffee}, {"member", id}, {"total", "3.00"}}, token);
  ASSERT_EQ(mine.status, 201) << mine.body;
  EXPECT_EQ(client().get("/v1/members/" + id + "/coupons", token).status, 200);
  expect_problem(client().get("/v1/members/" + other + "/coupons", token), 403, "forbidden");
}

TEST_F(Coupons, BadInputIsAClearProblemAndChangesNothing) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  auto bad = [&](const json& body, const std::string& field) {
    auto r = post("/v1/coupons/redeem", body, key("store"));
    expect_problem(r, 422, "validation_failed");
    bool named = false;
    const auto problem = r.json();
    for (const auto& e : problem["errors"]) named = named || e["field"] == field;
    EXPECT_TRUE(named) << field << ": " << r.body;
  };
  bad({{"member", id}, {"total", "30.00"}}, "code");
  bad({{"code", welcome}, {"total", "30.00"}}, "member");
  bad({{"code", welcome}, {"member", id}}, "total");
  bad({{"code", welcome}, {"member", id}, {"total", "30.001"}}, "total");
  bad({{"code", welcome}, {"member", id}, {"total", "-1.00"}}, "total");
  bad({{"code", welcome}, {"member", id}, {"total", "30.00"}, {"colour", "red"}}, "colour");
  bad({{"code", welcome}, {"member", id}, {"total", "30.00"}, {"currency", "USD"}}, "currency");
  bad({{"code", welcome}, {"member", id}, {"total", "30.00"}, {"channel", "web"}}, "channel");
  expect_problem(
      post("/v1/coupons/redeem", {{"code", welcome}, {"member", id}, {"total", "30.00"}}, admin()),
      422, "validation_failed");  // an admin names the channel
  expect_problem(
      post("/v1/coupons/redeem", {{"code", welcome}, {"member", "mem_nobody"}, {"total", "30.00"}},
           key("store")),
      404, "unknown_member");
  expect_problem(post("/v1/coupons/redeem", {{"code", welcome}, {"member", id}, {"total", "30.00"}},
                      key("store"), ""),
                 400, "idempotency_key_required");
  expect_problem(post("/v1/coupons/reserve",
                      {{"code", welcome}, {"member", id}, {"ttl_seconds", 0}}, key("store")),
                 422, "validation_failed");
  EXPECT_EQ(uses_of(welcome), 0);
}

TEST_F(Coupons, AMergeKeepsTheMergedMembersCoupons) {
  std::string survivor, a;
  std::tie(survivor, a) = signup();
  std::string merged, b;
  std::tie(merged, b) = signup();
  ASSERT_EQ(post("/v1/members/" + survivor + "/merge", {{"from", merged}}, admin()).status, 200);
  const auto listed = client().get("/v1/members/" + survivor + "/coupons", admin()).json();
  EXPECT_EQ(listed["items"].size(), 2u) << listed.dump();
  EXPECT_EQ(redeem(b, survivor, "30.00").status, 201);
}

TEST_F(Coupons, SeveralCouponsNeverTakeMoreThanTheTotal) {
  const auto id = member();
  const auto codes = generate("FIVE", 2, id);
  auto r = post("/v1/events",
                {{"type", "purchase"},
                 {"member", {{"id", id}}},
                 {"total", "6.00"},
                 {"currency", "EUR"},
                 {"coupons", codes}},
                key("store"));
  ASSERT_EQ(r.status, 201) << r.body;
  std::vector<std::string> discounts;
  const auto body = r.json();
  for (const auto& e : body["effects"])
    if (e["type"] == "coupon_redeemed") discounts.push_back(e["discount"]);
  std::sort(discounts.begin(), discounts.end());
  EXPECT_EQ(discounts, (std::vector<std::string>{"1.00", "5.00"})) << r.body;
  // Too many codes for one basket are refused before anything is looked up.
  const auto many = generate("FIVE", 11, id);
  expect_problem(post("/v1/events",
                      {{"type", "purchase"},
                       {"member", {{"id", id}}},
                       {"total", "60.00"},
                       {"currency", "EUR"},
                       {"coupons", many}},
                      key("store")),
                 422, "validation_failed");
}

TEST_F(Coupons, AnOfflineSaleRedeemsAsOfItsTime) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  // The code expired an hour ago; the sale it was used in happened two hours ago.
  execute(
      "update coupon_codes set issued_at = now() - interval '1 day', expires_at = now() - "
      "interval '1 hour' where code = '" +
      welcome + "'");
  auto utc = [](std::chrono::system_clock::time_point at) {
    const std::time_t t = std::chrono::system_clock::to_time_t(at);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(text);
  };
  auto purchase = [&](const std::string& at) {
    return post("/v1/events",
                {{"type", "purchase"},
                 {"member", {{"id", id}}},
                 {"occurred_at", at},
                 {"total", "30.00"},
                 {"currency", "EUR"},
                 {"coupons", {welcome}}},
                key("store"));
  };
  const auto now = std::chrono::system_clock::now();
  expect_problem(purchase(utc(now)), 422, "coupon_expired");
  auto offline = purchase(utc(now - std::chrono::hours(2)));
  EXPECT_EQ(offline.status, 201) << offline.body;
}

TEST_F(Coupons, HoldsCountInUsesLeftAndTokensMintedByAdminsHaveNoChannel) {
  const auto a = member(), b = member();
  const auto code = generate("MULTI", 1).front();  // 3 uses, unassigned
  ASSERT_EQ(post("/v1/coupons/reserve", {{"code", code}, {"member", a}}, key("store")).status, 201);
  // Another member may not take an unassigned code someone holds.
  EXPECT_EQ(validate(code, b, "5.00")["code"], "coupon_already_redeemed");
  const auto c = member();
  const auto mine = generate("MULTI", 1, c).front();
  EXPECT_EQ(validate(mine, c, "5.00")["uses_left"], 3);
  const auto wallet = client().get("/v1/members/" + c + "/wallet", admin()).json();
  EXPECT_EQ(wallet["coupons"][0]["uses_left"], 3);

  auto minted = post("/v1/members/" + c + "/tokens", json::object(), admin());
  ASSERT_EQ(minted.status, 201) << minted.body;
  auto refused = post("/v1/coupons/redeem",
                      {{"code", mine}, {"member", c}, {"total", "5.00"}, {"channel", "app"}},
                      minted.json()["token"].get<std::string>());
  expect_problem(refused, 422, "validation_failed");
}

// Totals after discounts: points are earned on what the customer paid (the receipt total less the
// basket's coupons), the purchase records both, and its refunds give back at most what was paid,
// taking the points back in proportion to it.
TEST_F(Coupons, PointsAreEarnedOnWhatWasPaidAndRefundsGiveItBack) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  const json items = {
      {{"sku", "SHOE"}, {"category", "shoes"}, {"quantity", 1}, {"price", "59.90"}},
      {{"sku", "SOCKS"}, {"category", "socks"}, {"quantity", 2}, {"price", "12.30"}}};
  auto purchase = [&](const std::string& code) {
    return post("/v1/events",
                {{"type", "purchase"},
                 {"member", {{"id", id}}},
                 {"total", "84.50"},
                 {"currency", "EUR"},
                 {"order_id", unique("order-")},
                 {"coupons", {code}},
                 {"items", items}},
                key("store"));
  };
  auto refund = [&](const std::string& original, json what) {
    what["type"] = "refund";
    what["original_event_id"] = original;
    return post("/v1/events", what, key("store"));
  };
  auto effect = [](const HttpResult& r, const std::string& type) {
    const auto body = r.json();
    for (const auto& e : body["effects"])
      if (e["type"] == type) return e;
    return json();
  };

  // 84.50 less the 5.00 of WELCOME5: 79.50 paid, 79 points.
  auto bought = purchase(welcome);
  ASSERT_EQ(bought.status, 201) << bought.body;
  EXPECT_EQ(effect(bought, "coupon_redeemed")["discount"], "5.00");
  EXPECT_EQ(effect(bought, "points_awarded")["points"], 79) << bought.body;
  EXPECT_EQ(bought.json()["points"]["available"], 79);
  const std::string original = bought.json()["event_id"];
  soci::session sql(soci::postgresql, database_->conninfo());
  long long total_minor = 0;
  std::string discount, paid;
  sql << "select total_minor, body->>'discount', body->>'paid' from events where id = :id",
      soci::use(original), soci::into(total_minor), soci::into(discount), soci::into(paid);
  EXPECT_EQ(total_minor, 8450) << "the total as sent";
  EXPECT_EQ(discount, "5.00");
  EXPECT_EQ(paid, "79.50");

  // More than was paid is refused, even within the receipt total.
  expect_problem(refund(original, {{"total", "79.51"}, {"currency", "EUR"}}), 409,
                 "refund_exceeds_purchase");
  // Half of what was paid takes back half the points (rounded down), the rest all of them.
  auto half = refund(original, {{"total", "39.75"}, {"currency", "EUR"}});
  ASSERT_EQ(half.status, 201) << half.body;
  EXPECT_EQ(effect(half, "points_reversed")["points"], 39);
  auto rest = refund(original, {{"total", "39.75"}, {"currency", "EUR"}});
  ASSERT_EQ(rest.status, 201) << rest.body;
  EXPECT_EQ(effect(rest, "points_reversed")["points"], 40);
  EXPECT_EQ(rest.json()["points"]["available"], 0);
  expect_problem(refund(original, {{"total", "0.01"}, {"currency", "EUR"}}), 409,
                 "refund_exceeds_purchase");

  // Items are priced as bought and scaled to what was paid: the shoe gives back
  // 59.90 * 79.50 / 84.50 = 56.35, and 55 of the 79 points; the socks the rest.
  const auto five = generate("FIVE", 1, id).front();
  auto again = purchase(five);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.json()["points"]["available"], 79);
  const std::string second = again.json()["event_id"];
  auto shoe = refund(second, {{"items", {{{"sku", "SHOE"}, {"quantity", 1}}}}});
  ASSERT_EQ(shoe.status, 201) << shoe.body;
  EXPECT_EQ(effect(shoe, "points_reversed")["points"], 55);
  const std::string shoe_id = shoe.json()["event_id"];
  std::string given_back;
  sql << "select body->>'total' from events where id = :id", soci::use(shoe_id),
      soci::into(given_back);
  EXPECT_EQ(given_back, "56.35");
  auto socks = refund(second, {{"items", {{{"sku", "SOCKS"}, {"quantity", 2}}}}});
  ASSERT_EQ(socks.status, 201) << socks.body;
  EXPECT_EQ(effect(socks, "points_reversed")["points"], 24);
  EXPECT_EQ(socks.json()["points"]["available"], 0);
}

// Simulate reads a basket's codes as they stand: their discount comes off the total the rules
// see, and nothing is redeemed; a code the event would refuse refuses the simulation.
TEST_F(Coupons, SimulateTakesTheBasketsDiscountsOffWithoutRedeeming) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  auto simulate = [&](const std::string& code) {
    return client().post_json(
        "/v1/admin/simulate",
        {{"member_id", id},
         {"event",
          {{"type", "purchase"}, {"total", "84.50"}, {"currency", "EUR"}, {"coupons", {code}}}}},
        admin());
  };
  auto r = simulate(welcome);
  ASSERT_EQ(r.status, 200) << r.body;
  long long awarded = 0;
  std::string discount;
  const auto body = r.json();
  for (const auto& e : body["effects"]) {
    if (e["type"] == "points_awarded") awarded += e["points"].get<long long>();
    if (e["type"] == "coupon_redeemed") discount = e["discount"];
  }
  EXPECT_EQ(awarded, 79) << r.body;
  EXPECT_EQ(discount, "5.00") << r.body;
  EXPECT_EQ(uses_of(welcome), 0) << "simulate redeems nothing";
  expect_problem(simulate("WELCOME5-22222222222"), 404, "unknown_coupon");
}

TEST_F(Coupons, AMemberTokenNeedNotNameItsOwnMember) {
  std::string id, welcome;
  std::tie(id, welcome) = signup();
  std::string other, other_code;
  std::tie(other, other_code) = signup();
  give_points(id, 300);
  auto minted = post("/v1/members/" + id + "/tokens", json::object(), key("store"));
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = minted.json()["token"];

  auto valid = post("/v1/coupons/validate", {{"code", welcome}, {"total", "30.00"}}, token);
  ASSERT_EQ(valid.status, 200) << valid.body;
  EXPECT_EQ(valid.json()["valid"], true);
  auto hold = post("/v1/coupons/reserve", {{"code", welcome}}, token);
  ASSERT_EQ(hold.status, 201) << hold.body;
  EXPECT_EQ(hold.json()["member_id"], id);
  auto claim = post("/v1/rewards/free-coffee/claim", json::object(), token);
  ASSERT_EQ(claim.status, 201) << claim.body;
  EXPECT_EQ(claim.json()["member_id"], id);
  auto redeemed = post("/v1/coupons/redeem",
                       {{"code", claim.json()["coupon"]["code"]}, {"total", "3.00"}}, token);
  ASSERT_EQ(redeemed.status, 201) << redeemed.body;
  EXPECT_EQ(redeemed.json()["member_id"], id);

  // Naming another member is still refused; a key that is not a member's must name one.
  expect_problem(post("/v1/rewards/free-coffee/claim", {{"member", other}}, token), 403,
                 "forbidden");
  expect_problem(post("/v1/coupons/reserve", {{"code", other_code}, {"member", other}}, token), 403,
                 "forbidden");
  // Another member's code is answered as a code nobody has: guessing tells nothing about who
  // holds which. Staff still hear the truth.
  // A well-formed code (its check symbol right) that nobody holds.
  const auto other_prefix = other_code.substr(0, other_code.find('-'));
  const auto unknown =
      circolo::engine::coupons::make_code(other_prefix, [](unsigned char* out, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(7 * i + 1);
      });
  for (const auto& target : {"/v1/coupons/validate", "/v1/coupons/redeem", "/v1/coupons/reserve"}) {
    SCOPED_TRACE(target);
    const auto theirs = post(target, {{"code", other_code}, {"total", "30.00"}}, token);
    const auto none = post(target, {{"code", unknown}, {"total", "30.00"}}, token);
    EXPECT_EQ(theirs.status, none.status) << theirs.body << " against " << none.body;
    const auto code_of = [](const HttpResult& r) {
      const auto j = r.json();
      return j.value("code", "") + "|" + j.value("detail", "");
    };
    EXPECT_EQ(code_of(theirs), code_of(none));
    EXPECT_EQ(theirs.body.find("another member"), std::string::npos) << theirs.body;
  }
  // Nor who is enrolled: an identifier of another member and one of nobody get the same answer.
  const auto known_email = unique("known-") + "@example.com";
  ASSERT_EQ(
      post("/v1/members", {{"identifiers", {{{"type", "email"}, {"value", known_email}}}}}, admin())
          .status,
      201);
  for (const auto& email : {known_email, unique("nobody-") + "@example.com"}) {
    SCOPED_TRACE(email);
    expect_problem(post("/v1/coupons/validate",
                        {{"code", other_code},
                         {"member", {{"identifier", {{"type", "email"}, {"value", email}}}}},
                         {"total", "30.00"}},
                        token),
                   403, "forbidden");
  }
  expect_problem(post("/v1/coupons/redeem",
                      {{"code", other_code}, {"member", id}, {"total", "30.00"}}, key("store")),
                 422, "coupon_not_owned");
  expect_problem(post("/v1/coupons/reserve", {{"code", other_code}}, key("store")), 422,
                 "validation_failed");
  expect_problem(post("/v1/rewards/free-coffee/claim", json::object(), key("store")), 422,
                 "validation_failed");
}

// Other members see a name the member chose, or initials: never its full name.
TEST_F(Coupons, LeaderboardsShowTheDisplayNameElseInitialsElseADash) {
  const auto named = member(), initials = member(), anonymous = member();
  const auto only_name =
      client().request("PATCH", "/v1/members/" + initials, R"({"name":"  Émile   Zola-Dupont "})",
                       {{"Content-Type", "application/merge-patch+json"},
                        {"Authorization", "Bearer " + key("app")}});
  ASSERT_EQ(only_name.status, 200) << only_name.body;
  const auto patched = client().request("PATCH", "/v1/members/" + named,
                                        R"({"name":"Anna Rossi","display_name":"Anna R."})",
                                        {{"Content-Type", "application/merge-patch+json"},
                                         {"Authorization", "Bearer " + key("app")}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  for (const auto& [who, total] : {std::pair{named, "90000.00"}, std::pair{initials, "85000.00"},
                                   std::pair{anonymous, "80000.00"}}) {
    auto r = post("/v1/events",
                  {{"type", "purchase"},
                   {"member", {{"id", who}}},
                   {"order_id", unique("big-")},
                   {"total", total},
                   {"currency", "EUR"}},
                  key("store"));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  auto board = client().get("/v1/leaderboards/points?period=all&limit=100", admin());
  ASSERT_EQ(board.status, 200) << board.body;
  std::map<std::string, std::string> names;
  const auto entries = board.json()["entries"];
  for (const auto& e : entries)
    names[e["member_id"].get<std::string>()] = e["name"].get<std::string>();
  EXPECT_EQ(names[named], "Anna R.");
  EXPECT_EQ(names[initials], "É. Z.");
  EXPECT_EQ(names[anonymous], "-");
}
