// End-to-end: members, identity and points over HTTP against the real circolod.
#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <future>
#include <set>
#include <thread>

#include "http_client.hpp"
#include "sealed_secrets.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Members : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    HttpClient c(server_->port());
    auto pos = c.post_json("/v1/admin/keys",
                           {{"role", "touchpoint"}, {"channel", "store"}, {"name", "POS"}},
                           server_->admin_key());
    pos_key_ = new std::string(pos.json()["key"]);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
    delete pos_key_;
  }

  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }
  const std::string& pos() { return *pos_key_; }

  HttpResult post(const std::string& target, const json& body, const std::string& key,
                  const std::string& idempotency = "") {
    return client().post_json(target, body, key, idempotency);
  }

  // A member needs an identifier: without one given, a CRM number of its own.
  std::string new_member(const json& identifiers = json::array(),
                         const json& profile = json::object()) {
    const json named = identifiers.empty()
                           ? json::array({{{"type", "crm"}, {"value", unique("crm-")}}})
                           : identifiers;
    auto r = post("/v1/members", {{"identifiers", named}, {"profile", profile}}, pos());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"];
  }

  void adjust(const std::string& id, long long points, const json& extra = json::object()) {
    json body{{"points", points}, {"reason", "test"}};
    body.update(extra);
    auto r = post("/v1/members/" + id + "/points/adjust", body, admin());
    ASSERT_EQ(r.status, 201) << r.body;
  }

  long long available(const std::string& id) {
    return client().get("/v1/members/" + id + "/wallet", admin()).json()["points"]["available"];
  }

  std::string unique(const std::string& prefix) { return prefix + std::to_string(counter_++); }

  static TestDatabase* database_;
  static ServerProcess* server_;
  static std::string* pos_key_;
  static int counter_;
};

TestDatabase* Members::database_ = nullptr;
ServerProcess* Members::server_ = nullptr;
std::string* Members::pos_key_ = nullptr;
int Members::counter_ = 0;

}  // namespace

TEST_F(Members, EnrolAndFindByAnyIdentifier) {
  const auto card = unique("0400-77-");
  auto r = post(
      "/v1/members",
      {{"identifiers",
        {{{"type", "card"}, {"value", card}}, {{"type", "email"}, {"value", " Ada@Example.COM"}}}},
       {"profile",
        {{"name", "Ada"}, {"birthday", "1990-04-01"}, {"attributes", {{"store", "milano-01"}}}}}},
      pos());
  ASSERT_EQ(r.status, 201) << r.body;
  const auto member = r.json();
  const std::string id = member["id"];
  EXPECT_EQ(r.header("location"), "/v1/members/" + id);
  EXPECT_EQ(member["points"], (json{{"available", 0}, {"pending", 0}}));
  EXPECT_TRUE(member["tier"].is_null());
  EXPECT_EQ(member["tags"], json::array());
  EXPECT_EQ(member["profile"]["attributes"]["store"], "milano-01");
  EXPECT_EQ(member["identifiers"][1]["value"], "ada@example.com");

  // The app and the web shop find the same member however they type it.
  auto by_email = client().get("/v1/members/lookup?type=email&value=ADA%40example.com", pos());
  ASSERT_EQ(by_email.status, 200) << by_email.body;
  EXPECT_EQ(by_email.json()["id"], id);
  std::string compact = card;
  compact.erase(std::remove(compact.begin(), compact.end(), '-'), compact.end());
  EXPECT_EQ(client().get("/v1/members/lookup?type=card&value=" + compact, pos()).json()["id"], id);
  EXPECT_EQ(client().get("/v1/members/" + id, pos()).json()["id"], id);

  expect_problem(client().get("/v1/members/lookup?type=card&value=49999999", pos()), 404,
                 "unknown_member");
  expect_problem(client().get("/v1/members/lookup?type=card", pos()), 400, "invalid_query");
  expect_problem(client().get("/v1/members/lookup?type=card&type=email&value=x", pos()), 400,
                 "invalid_query");
  expect_problem(client().get("/v1/members/lookup?type=email&value=not-an-email", pos()), 400,
                 "invalid_query");
  expect_problem(client().get("/v1/members/mem_missing", pos()), 404, "unknown_member");
}

TEST_F(Members, IdentifiersBelongToOneMember) {
  const auto card = unique("4100-");
  const auto first = new_member({{{"type", "card"}, {"value", card}}});
  auto again = post("/v1/members", {{"identifiers", {{{"type", "card"}, {"value", card}}}}}, pos());
  expect_problem(again, 409, "identifier_taken");
  EXPECT_EQ(again.json()["identifier"]["type"], "card");

  const auto second = new_member();
  const std::string app_login = unique("user-");
  auto link = post("/v1/members/" + second + "/identifiers",
                   {{"type", "app"}, {"value", app_login}}, pos());
  EXPECT_EQ(link.status, 201) << link.body;
  auto relink = post("/v1/members/" + second + "/identifiers",
                     {{"type", "app"}, {"value", app_login}}, pos());
  EXPECT_EQ(relink.status, 200) << "linking what is already linked is harmless";
  expect_problem(
      post("/v1/members/" + second + "/identifiers", {{"type", "card"}, {"value", card}}, pos()),
      409, "identifier_taken");
  expect_problem(
      post("/v1/members/mem_missing/identifiers", {{"type", "app"}, {"value", "x1"}}, pos()), 404,
      "unknown_member");

  // A failed enrolment leaves nothing behind.
  soci::session sql(soci::postgresql, database_->conninfo());
  int members = 0;
  sql << "select count(*) from member_identifiers where value = '40003333'", soci::into(members);
  auto failed =
      post("/v1/members",
           {{"identifiers",
             {{{"type", "card"}, {"value", "4000 3333"}}, {{"type", "card"}, {"value", card}}}}},
           pos());
  expect_problem(failed, 409, "identifier_taken");
  sql << "select count(*) from member_identifiers where value = '40003333'", soci::into(members);
  EXPECT_EQ(members, 0);
}

TEST_F(Members, BadInputIsRefusedWithEveryField) {
  auto r = post(
      "/v1/members",
      {{"identifiers",
        {{{"type", "card"}, {"value", "  "}}, {{"type", "email"}, {"value", "nope"}}}},
       {"profile",
        {{"birthday", "2099-01-01"}, {"nickname", "x"}, {"attributes", {{"nested", {{"a", 1}}}}}}}},
      pos());
  expect_problem(r, 422, "validation_failed");
  std::set<std::string> fields;
  const auto body = r.json();
  for (const auto& e : body["errors"]) fields.insert(e["field"]);
  EXPECT_EQ(fields, (std::set<std::string>{"identifiers[0].value", "identifiers[1].value",
                                           "profile.birthday", "profile.nickname",
                                           "profile.attributes.nested"}));
  // A member nobody could find again (no identifier) is refused, and nothing is created.
  soci::session sql(soci::postgresql, database_->conninfo());
  long long before = 0, after = 0;
  sql << "select count(*) from members", soci::into(before);
  for (const json& body : {json::object(), json{{"identifiers", json::array()}},
                           json{{"profile", {{"name", "Nobody"}}}}}) {
    auto none = post("/v1/members", body, pos());
    expect_problem(none, 422, "validation_failed");
    ASSERT_EQ(none.json()["errors"].size(), 1u) << none.body;
    EXPECT_EQ(none.json()["errors"][0]["field"], "identifiers") << none.body;
    EXPECT_NE(none.json()["errors"][0]["message"].get<std::string>().find("at least one"),
              std::string::npos);
  }
  sql << "select count(*) from members", soci::into(after);
  EXPECT_EQ(after, before);
  const auto id = new_member();
  expect_problem(post("/v1/members/" + id + "/points/spend", {{"points", "10"}}, pos(), "k-bad-1"),
                 422, "validation_failed");
  expect_problem(post("/v1/members/" + id + "/points/spend", {{"points", 0}}, pos(), "k-bad-2"),
                 422, "validation_failed");
  expect_problem(post("/v1/members/" + id + "/points/spend", {{"points", 1.5}}, pos(), "k-bad-3"),
                 422, "validation_failed");
  expect_problem(post("/v1/members/" + id + "/points/adjust", {{"points", 10}}, admin()), 422,
                 "validation_failed");
  expect_problem(client().get("/v1/members/" + id + "/ledger?limit=0", pos()), 400,
                 "invalid_query");
  expect_problem(client().get("/v1/members/" + id + "/ledger?cursor=abc", pos()), 400,
                 "invalid_cursor");
  for (const char* days : {"0", "367", "7x", "99999999999999999999"}) {
    expect_problem(
        client().get("/v1/members/" + id + "/wallet?expiring_within_days=" + days, pos()), 400,
        "invalid_query");
  }
  expect_problem(client().get("/v1/members/" + id + "/timeline?cursor=1", pos()), 400,
                 "invalid_cursor");
}

TEST_F(Members, SpendNeedsAKeyAndNeverAppliesTwice) {
  const auto id = new_member();
  adjust(id, 100);
  expect_problem(post("/v1/members/" + id + "/points/spend", {{"points", 10}}, pos()), 400,
                 "idempotency_key_required");
  const auto key = unique("spend-");
  auto first =
      post("/v1/members/" + id + "/points/spend", {{"points", 30}, {"reason", "gift"}}, pos(), key);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.json()["kind"], "spend");
  EXPECT_EQ(first.json()["points"], -30);
  EXPECT_EQ(first.json()["balance_after"], 70);
  auto retry =
      post("/v1/members/" + id + "/points/spend", {{"points", 30}, {"reason", "gift"}}, pos(), key);
  EXPECT_EQ(retry.status, 200);
  EXPECT_EQ(retry.header("idempotent-replayed"), "true");
  EXPECT_EQ(retry.json()["id"], first.json()["id"]);
  EXPECT_EQ(available(id), 70);
  auto too_much =
      post("/v1/members/" + id + "/points/spend", {{"points", 71}}, pos(), unique("spend-"));
  expect_problem(too_much, 409, "insufficient_points");
  EXPECT_EQ(too_much.json()["available"], 70);
  EXPECT_EQ(available(id), 70);
}

TEST_F(Members, FiftyConcurrentSpendsOfTenOnTwoHundred) {
  const auto id = new_member();
  adjust(id, 200);
  std::vector<std::future<int>> spends;
  for (int i = 0; i < 50; ++i) {
    spends.push_back(std::async(std::launch::async, [&, i] {
      return HttpClient(server_->port())
          .post_json("/v1/members/" + id + "/points/spend", {{"points", 10}}, pos(),
                     "race-" + id + std::to_string(i))
          .status;
    }));
  }
  int ok = 0, refused = 0;
  for (auto& f : spends) {
    const int status = f.get();
    if (status == 201) ++ok;
    if (status == 409) ++refused;
  }
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(refused, 30);
  EXPECT_EQ(available(id), 0);
  auto ledger = client().get("/v1/members/" + id + "/ledger?limit=200", admin()).json();
  EXPECT_EQ(ledger["items"].size(), 21u);
  EXPECT_EQ(ledger["items"][0]["balance_after"], 0);
}

TEST_F(Members, TransferAndAdjustRules) {
  const auto a = new_member(), b = new_member();
  adjust(a, 100, {{"expires_at", "2099-01-01T00:00:00Z"}});
  // A touchpoint key cannot move a member's points; the member's own token can (an admin too).
  expect_problem(post("/v1/members/" + a + "/points/transfer", {{"to", b}, {"points", 40}}, pos()),
                 403, "forbidden");
  const std::string token_a =
      post("/v1/members/" + a + "/tokens", json::object(), pos()).json()["token"];
  expect_problem(post("/v1/members/" + b + "/points/transfer", {{"to", a}, {"points", 1}}, token_a),
                 403, "forbidden");
  auto moved = post("/v1/members/" + a + "/points/transfer", {{"to", b}, {"points", 40}}, token_a);
  ASSERT_EQ(moved.status, 201) << moved.body;
  EXPECT_EQ(moved.json()["from"]["balance_after"], 60);
  EXPECT_EQ(moved.json()["to"]["balance_after"], 40);
  EXPECT_EQ(moved.json()["to"]["counterparty"], a);
  EXPECT_EQ(available(a), 60);
  EXPECT_EQ(available(b), 40);
  expect_problem(
      post("/v1/members/" + a + "/points/transfer", {{"to", b}, {"points", 61}}, admin()), 409,
      "insufficient_points");
  expect_problem(post("/v1/members/" + a + "/points/transfer", {{"to", a}, {"points", 1}}, token_a),
                 422, "validation_failed");
  expect_problem(
      post("/v1/members/" + a + "/points/transfer", {{"to", "mem_nobody"}, {"points", 1}}, admin()),
      404, "unknown_member");
  // Adjustments are for admins; negative ones never go below zero.
  expect_problem(
      post("/v1/members/" + a + "/points/adjust", {{"points", 5}, {"reason", "x"}}, pos()), 403,
      "forbidden");
  expect_problem(
      post("/v1/members/" + a + "/points/adjust", {{"points", -61}, {"reason", "fix"}}, admin()),
      409, "insufficient_points");
  auto down =
      post("/v1/members/" + a + "/points/adjust", {{"points", -60}, {"reason", "fix"}}, admin());
  EXPECT_EQ(down.status, 201) << down.body;
  EXPECT_EQ(down.json()["kind"], "adjust");
  EXPECT_EQ(available(a), 0);
}

TEST_F(Members, MergeMovesIdentifiersAndPoints) {
  const auto card = unique("4200-");
  const auto into = new_member({{{"type", "email"}, {"value", unique("keep") + "@x.it"}}});
  const auto from = new_member({{{"type", "card"}, {"value", card}}});
  adjust(into, 100);
  adjust(from, 45);
  expect_problem(post("/v1/members/" + into + "/merge", {{"from", from}}, pos()), 403, "forbidden");
  expect_problem(post("/v1/members/" + into + "/merge", {{"from", into}}, admin()), 422,
                 "validation_failed");
  auto merged = post("/v1/members/" + into + "/merge", {{"from", from}}, admin());
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(merged.json()["points"]["available"], 145);
  EXPECT_EQ(merged.json()["identifiers"].size(), 2u);

  auto gone = client().get("/v1/members/" + from, pos());
  expect_problem(gone, 410, "member_merged");
  EXPECT_EQ(gone.json()["merged_into"], into);
  expect_problem(client().get("/v1/members/" + from + "/wallet", pos()), 410, "member_merged");
  expect_problem(post("/v1/members/" + from + "/points/spend", {{"points", 1}}, pos(), unique("k")),
                 410, "member_merged");
  std::string compact = card;
  compact.erase(std::remove(compact.begin(), compact.end(), '-'), compact.end());
  EXPECT_EQ(client().get("/v1/members/lookup?type=card&value=" + compact, pos()).json()["id"],
            into);
  auto timeline = client().get("/v1/members/" + into + "/timeline", pos()).json();
  EXPECT_EQ(timeline["items"][0]["type"], "member.merged");
  // Merging again is harmless.
  EXPECT_EQ(post("/v1/members/" + into + "/merge", {{"from", from}}, admin()).status, 200);
  EXPECT_EQ(available(into), 145);
}

TEST_F(Members, MemberTokensSeeOnlyTheirMember) {
  const auto mine = new_member(), other = new_member();
  adjust(mine, 10);
  auto minted = post("/v1/members/" + mine + "/tokens", {{"ttl_seconds", 600}}, pos());
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = minted.json()["token"];
  EXPECT_EQ(client().get("/v1/members/" + mine + "/wallet", token).status, 200);
  // The note staff wrote with the adjustment is theirs: the member sees the entry, not the note.
  const auto own_ledger = client().get("/v1/members/" + mine + "/ledger", token);
  ASSERT_EQ(own_ledger.status, 200);
  EXPECT_EQ(own_ledger.json()["items"][0]["kind"], "adjust");
  EXPECT_TRUE(own_ledger.json()["items"][0]["reason"].is_null()) << own_ledger.body;
  EXPECT_EQ(client().get("/v1/members/" + mine + "/ledger", admin()).json()["items"][0]["reason"],
            "test");
  adjust(mine, -3);  // points taken back carry the staff's note in the outgoing event
  const auto own_feed = client().get("/v1/feed?after=0", token);
  ASSERT_EQ(own_feed.status, 200) << own_feed.body;
  EXPECT_EQ(own_feed.json()["items"].size(), 2u) << own_feed.body;
  EXPECT_EQ(own_feed.body.find("\"reason\""), std::string::npos) << own_feed.body;
  const auto own_timeline = client().get("/v1/members/" + mine + "/timeline", token).json();
  for (const auto& e : own_timeline["items"])
    EXPECT_EQ(e.dump().find("\"test\""), std::string::npos) << e.dump();
  expect_problem(client().get("/v1/members/" + other + "/wallet", token), 403, "forbidden");
  expect_problem(client().get("/v1/members/" + other + "/ledger", token), 403, "forbidden");
  EXPECT_EQ(client().get("/v1/members/" + mine, token).status, 200);
  EXPECT_EQ(client().get("/v1/members/" + mine + "/timeline", token).status, 200);
  expect_problem(client().get("/v1/members/" + other, token), 403, "forbidden");
  expect_problem(client().get("/v1/members/" + other + "/timeline", token), 403, "forbidden");
  // Checked before any lookup: a token learns nothing of members that do not exist either.
  expect_problem(client().get("/v1/members/mem_none", token), 403, "forbidden");
  expect_problem(post("/v1/members/" + mine + "/points/spend", {{"points", 1}}, token, "t1"), 403,
                 "forbidden");
  expect_problem(post("/v1/members/" + other + "/tokens", json::object(), token), 403, "forbidden");
  expect_problem(client().get("/v1/admin/keys", token), 403, "forbidden");
  // A tampered token, or one for another member with this signature, is not a token.
  std::string forged = token;
  forged.replace(forged.find(mine), mine.size(), other);
  expect_problem(client().get("/v1/members/" + other + "/wallet", forged), 401, "unauthenticated");
  forged = token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  expect_problem(client().get("/v1/members/" + mine + "/wallet", forged), 401, "unauthenticated");
  expect_problem(post("/v1/members/" + mine + "/tokens", {{"ttl_seconds", 5}}, pos()), 422,
                 "validation_failed");
  expect_problem(post("/v1/members/mem_none/tokens", json::object(), pos()), 404, "unknown_member");
}

TEST_F(Members, LedgerAndTimelinePageNewestFirst) {
  const auto id = new_member();
  for (int i = 1; i <= 5; ++i) adjust(id, i);
  std::vector<long long> seen;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    auto r = client().get(
        "/v1/members/" + id + "/ledger?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor),
        pos());
    ASSERT_EQ(r.status, 200) << r.body;
    const auto body = r.json();
    for (const auto& e : body["items"]) seen.push_back(e["points"]);
    if (body["next_cursor"].is_null()) break;
    cursor = body["next_cursor"];
  }
  EXPECT_EQ(seen, (std::vector<long long>{5, 4, 3, 2, 1}));

  std::vector<std::string> types;
  cursor.clear();
  for (int page = 0; page < 10; ++page) {
    auto r = client().get(
        "/v1/members/" + id + "/timeline?limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor),
        pos());
    ASSERT_EQ(r.status, 200) << r.body;
    const auto body = r.json();
    for (const auto& e : body["items"]) types.push_back(e["type"]);
    if (body["next_cursor"].is_null()) break;
    cursor = body["next_cursor"];
  }
  ASSERT_EQ(types.size(), 6u);
  EXPECT_EQ(types.back(), "member.enrolled");
  EXPECT_EQ(types.front(), "points.adjusted");
}

TEST_F(Members, WalletShowsExpiringAndAdminExpiryWritesOff) {
  const auto id = new_member();
  const auto soon = std::chrono::system_clock::now() + 1500ms;
  const auto soon_text = [&] {
    const auto t = std::chrono::system_clock::to_time_t(soon);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return std::string(buf);
  }();
  adjust(id, 25, {{"expires_at", soon_text}});
  adjust(id, 10);
  auto wallet = client().get("/v1/members/" + id + "/wallet", pos()).json();
  EXPECT_EQ(wallet["points"]["available"], 35);
  ASSERT_EQ(wallet["points"]["expiring"].size(), 1u);
  EXPECT_EQ(wallet["points"]["expiring"][0]["points"], 25);
  EXPECT_EQ(wallet["points"]["expiring"][0]["at"], soon_text);
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(available(id), 10) << "expired points are not available even before the job runs";
  expect_problem(post("/v1/admin/points/expire", json::object(), pos()), 403, "forbidden");
  auto run = post("/v1/admin/points/expire", json::object(), admin());
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_GE(run.json()["lots"].get<long long>(), 1);
  auto ledger = client().get("/v1/members/" + id + "/ledger", pos()).json();
  EXPECT_EQ(ledger["items"][0]["kind"], "expire");
  EXPECT_EQ(ledger["items"][0]["points"], -25);
  EXPECT_EQ(ledger["items"][0]["balance_after"], 10);
  soci::session sql(soci::postgresql, database_->conninfo());
  int events = 0;
  sql << "select count(*) from outbox where type = 'points.expired' and member_id = :m",
      soci::use(id), soci::into(events);
  EXPECT_EQ(events, 1);
}

TEST(MembersLifecycle, TheExpiryJobRunsByItself) {
  TestDatabase database;
  ServerProcess server({database.uri(), "", {{"CIRCOLO_EXPIRY_INTERVAL_SECONDS", "1"}}, {}});
  HttpClient c(server.port());
  auto member =
      c.post_json("/v1/members", {{"identifiers", {{{"type", "crm"}, {"value", "expiry-1"}}}}},
                  server.admin_key());
  const std::string id = member.json()["id"];
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + 2s);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  ASSERT_EQ(c.post_json("/v1/members/" + id + "/points/adjust",
                        {{"points", 7}, {"reason", "x"}, {"expires_at", buf}}, server.admin_key())
                .status,
            201);
  EXPECT_TRUE(server.wait_for_log("job=points_expiry members=1 lots=1 points=7", 10s))
      << server.log();
  auto ledger = c.get("/v1/members/" + id + "/ledger", server.admin_key()).json();
  EXPECT_EQ(ledger["items"][0]["kind"], "expire");
}

namespace {

HttpResult patch(HttpClient c, const std::string& target, const json& body, const std::string& key,
                 const std::string& idempotency = "",
                 const std::string& content_type = "application/merge-patch+json") {
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", content_type},
                                                           {"Authorization", "Bearer " + key}};
  if (!idempotency.empty()) headers.emplace_back("Idempotency-Key", idempotency);
  return c.request("PATCH", target, body.dump(), headers);
}

std::set<std::string> error_fields(const HttpResult& r) {
  std::set<std::string> fields;
  const auto errors = r.json()["errors"];
  for (const auto& e : errors) fields.insert(e["field"]);
  return fields;
}

}  // namespace

TEST_F(Members, ProfilePatchMergesValidatesAndIsRecorded) {
  const auto email = unique("ada") + "@example.com";
  const auto id = new_member(
      {{{"type", "email"}, {"value", email}}},
      {{"name", "Ada"}, {"email", email}, {"attributes", {{"store", "milano-01"}, {"size", 38}}}});
  const json change{{"display_name", "Ada L."},
                    {"phone", "+39 333 1234567"},
                    {"email", nullptr},
                    {"attributes", {{"size", nullptr}, {"newsletter", true}}}};
  auto r = patch(client(), "/v1/members/" + id, change, pos(), "profile-" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto profile = r.json()["profile"];
  EXPECT_EQ(profile["name"], "Ada") << "a field left out is kept";
  EXPECT_EQ(profile["display_name"], "Ada L.");
  EXPECT_TRUE(profile["email"].is_null()) << "null clears it";
  EXPECT_EQ(profile["phone"], "+393331234567");
  EXPECT_EQ(profile["attributes"], (json{{"store", "milano-01"}, {"newsletter", true}}));
  EXPECT_EQ(r.json()["identifiers"][0]["value"], email) << "identifiers are not the profile";

  // A retry replays the answer and changes nothing more.
  auto replay = patch(client(), "/v1/members/" + id, change, pos(), "profile-" + id);
  EXPECT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(replay.header("idempotent-replayed"), "true");
  EXPECT_EQ(replay.json()["profile"], profile);
  EXPECT_EQ(client().get("/v1/members/" + id, pos()).json()["profile"], profile);
  expect_problem(patch(client(), "/v1/members/" + id, {{"name", "Other"}}, pos(), "profile-" + id),
                 409, "idempotency_conflict");

  // Plain application/json is a merge patch too; a patch that changes nothing records nothing.
  EXPECT_EQ(patch(client(), "/v1/members/" + id, {{"display_name", "Ada L."}}, pos(), "",
                  "application/json")
                .status,
            200);
  auto timeline = client().get("/v1/members/" + id + "/timeline", pos()).json()["items"];
  ASSERT_GE(timeline.size(), 2u);
  EXPECT_EQ(timeline[0]["type"], "profile.updated");
  EXPECT_EQ(timeline[0]["channel"], "store");
  EXPECT_EQ(timeline[0]["data"]["fields"], (json{"display_name", "email", "phone", "attributes"}));
  EXPECT_EQ(timeline[0]["data"]["key"].get<std::string>().rfind("key_", 0), 0u);
  EXPECT_EQ(timeline[0]["data"]["by_member"], false);
  EXPECT_EQ(timeline[1]["type"], "member.enrolled") << "one entry for the patch and its replay";

  // A profile email is a contact detail: it finds no one.
  const auto contact = unique("contact") + "@example.com";
  ASSERT_EQ(patch(client(), "/v1/members/" + id, {{"email", contact}}, pos()).status, 200);
  expect_problem(client().get("/v1/members/lookup?type=email&value=" + contact, pos()), 404,
                 "unknown_member");

  // Every bad field in one answer.
  auto bad = patch(client(), "/v1/members/" + id,
                   {{"name", ""},
                    {"display_name", std::string(65, 'x')},
                    {"email", "ada@localhost"},
                    {"phone", "12"},
                    {"birthday", "1899-12-31"},
                    {"attributes", {{"nested", {{"a", 1}}}}},
                    {"tier", "gold"}},
                   pos());
  expect_problem(bad, 422, "validation_failed");
  EXPECT_EQ(error_fields(bad), (std::set<std::string>{"name", "display_name", "email", "phone",
                                                      "birthday", "attributes.nested", "tier"}));
  expect_problem(patch(client(), "/v1/members/" + id, {{"birthday", "2999-01-01"}}, pos()), 422,
                 "validation_failed");
  expect_problem(patch(client(), "/v1/members/" + id, json::array(), pos()), 422,
                 "validation_failed");
  expect_problem(patch(client(), "/v1/members/" + id, {{"name", "x"}}, pos(), "", "text/plain"),
                 415, "unsupported_media_type");
  expect_problem(patch(client(), "/v1/members/mem_none", {{"name", "x"}}, pos()), 404,
                 "unknown_member");
  EXPECT_EQ(client().get("/v1/members/" + id, pos()).json()["profile"]["name"], "Ada")
      << "a refused patch changes nothing";

  // A merged member answers 410 with the survivor.
  const auto survivor = new_member();
  ASSERT_EQ(post("/v1/members/" + survivor + "/merge", {{"from", id}}, admin()).status, 200);
  auto gone = patch(client(), "/v1/members/" + id, {{"name", "Ada"}}, admin());
  expect_problem(gone, 410, "member_merged");
  EXPECT_EQ(gone.json()["merged_into"], survivor);
}

TEST_F(Members, MemberTokensPatchTheirOwnProfileButNotContactDetails) {
  const auto mine = new_member(json::array(), {{"email", "anna@example.com"}}),
             other = new_member();
  auto minted = post("/v1/members/" + mine + "/tokens", json::object(), pos());
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = minted.json()["token"];

  auto r = patch(client(), "/v1/members/" + mine,
                 {{"name", "Anna Rossi"},
                  {"display_name", "Anna"},
                  {"birthday", "1992-05-17"},
                  {"attributes", {{"favourite", "shoes"}}}},
                 token, unique("member-patch-"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["profile"]["display_name"], "Anna");
  EXPECT_EQ(r.json()["profile"]["birthday"], "1992-05-17");
  auto own = client().get("/v1/members/" + mine + "/timeline", token);
  ASSERT_EQ(own.status, 200) << own.body;
  const auto entry = own.json()["items"][0];
  EXPECT_EQ(entry["type"], "profile.updated");
  EXPECT_EQ(entry["channel"], "store") << "the channel of the touchpoint that minted the token";
  EXPECT_EQ(entry["data"]["by_member"], true);
  EXPECT_EQ(entry["data"]["key"].get<std::string>().rfind("key_", 0), 0u);

  auto contact = patch(client(), "/v1/members/" + mine,
                       {{"email", "someone@example.com"}, {"phone", "+39333123456"}}, token);
  expect_problem(contact, 403, "forbidden");
  EXPECT_EQ(error_fields(contact), (std::set<std::string>{"email", "phone"}));
  auto birthday = patch(client(), "/v1/members/" + mine, {{"birthday", "1990-01-01"}}, token);
  expect_problem(birthday, 403, "forbidden");
  EXPECT_EQ(error_fields(birthday), std::set<std::string>{"birthday"});
  expect_problem(patch(client(), "/v1/members/" + other, {{"name", "x"}}, token), 403, "forbidden");
  expect_problem(patch(client(), "/v1/members/mem_none", {{"name", "x"}}, token), 403, "forbidden");
  // The same value again is no change; staff correct what the member may not.
  EXPECT_EQ(patch(client(), "/v1/members/" + mine, {{"email", "anna@example.com"}}, token).status,
            200);
  auto fixed = patch(client(), "/v1/members/" + mine,
                     {{"birthday", "1990-01-01"}, {"email", "anna.rossi@example.com"}}, pos());
  ASSERT_EQ(fixed.status, 200) << fixed.body;
  EXPECT_EQ(fixed.json()["profile"]["email"], "anna.rossi@example.com");
}

TEST_F(Members, AnExpiredMemberTokenIsTokenExpired) {
  const auto id = new_member();
  soci::session sql(soci::postgresql, database_->conninfo());
  const std::string secret = read_server_secret(sql, "member_tokens");
  ASSERT_FALSE(secret.empty());
  // Signed like circolod signs (mt_<member>.<expiry>.<issuer>.<generation>.<HMAC-SHA256 hex>),
  // a minute ago.
  const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() -
                      60;
  const std::string body = "mt_" + id + "." + std::to_string(expiry) + ".key_test.0";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &n);
  std::string token = body + ".";
  for (unsigned i = 0; i < n; ++i) {
    token += "0123456789abcdef"[mac[i] >> 4];
    token += "0123456789abcdef"[mac[i] & 15];
  }
  auto expired = client().get("/v1/members/" + id + "/wallet", token);
  expect_problem(expired, 401, "token_expired");
  EXPECT_NE(expired.json()["detail"].get<std::string>().find("expired at"), std::string::npos)
      << expired.body;
  EXPECT_NE(expired.header("www-authenticate").find("invalid_token"), std::string::npos);
  // A bad signature is no token at all.
  token.back() = token.back() == '0' ? '1' : '0';
  expect_problem(client().get("/v1/members/" + id + "/wallet", token), 401, "unauthenticated");
}
