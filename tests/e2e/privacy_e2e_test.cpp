// End-to-end: erasure. A member's personal data goes, its identifiers are free again, its member
// tokens stop working, and the books stay right: the ledger, the liabilities and the reports keep
// their sums.
#include <gtest/gtest.h>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <chrono>
#include <thread>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;

namespace {

const char* kProgram = R"(program {
  currency "EUR"
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}
)";

TEST(Privacy, ErasureRemovesPersonalDataAndKeepsTheBooks) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto admin = server.admin_key();
  auto keys = apply_program_with_touchpoints(server, kProgram, {"store"});
  const json card{{"type", "card"}, {"value", "4000555566667777"}};
  auto created =
      c.post_json("/v1/members",
                  {{"identifiers", {card, {{"type", "email"}, {"value", "giulia@example.com"}}}},
                   {"profile", {{"name", "Giulia Bianchi"}, {"phone", "+39 333 1234567"}}}},
                  keys["store"]);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json()["id"];
  auto bought = c.post_json("/v1/events",
                            {{"type", "purchase"},
                             {"member", {{"identifier", card}}},
                             {"total", "42.00"},
                             {"currency", "EUR"},
                             {"order_id", "E-1"}},
                            keys["store"], "erase-ev-1");
  ASSERT_EQ(bought.status, 201) << bought.body;
  ASSERT_EQ(c.post_json("/v1/members/" + id + "/points/adjust",
                        {{"points", 8}, {"reason", "sorry Giulia"}}, admin)
                .status,
            201);
  const std::string token =
      c.post_json("/v1/members/" + id + "/tokens", json::object(), keys["store"]).json()["token"];
  const auto liability_before = c.get("/v1/admin/reports/liability", admin).json();
  const auto ledger_before = c.get("/v1/members/" + id + "/ledger", admin).json();

  // Staff cannot; an admin can.
  expect_problem(c.post_json("/v1/members/" + id + "/erase", json::object(), keys["store"]), 403,
                 "forbidden");
  auto erased = c.post_json("/v1/members/" + id + "/erase", json::object(), admin);
  ASSERT_EQ(erased.status, 200) << erased.body;
  const auto m = erased.json();
  EXPECT_TRUE(m["erased_at"].is_string());
  EXPECT_TRUE(m["identifiers"].empty());
  for (const char* field : {"name", "email", "phone", "birthday", "display_name"})
    EXPECT_TRUE(m["profile"][field].is_null()) << field;
  EXPECT_EQ(m["points"]["available"], 50) << "its points are still its own";

  // The books: the same ledger (amounts, kinds, balances; the staff note, which names her, is
  // gone), the same liability.
  auto ledger_after = c.get("/v1/members/" + id + "/ledger", admin).json();
  auto without_notes = ledger_before;
  for (auto& e : without_notes["items"])
    if (e.contains("reason")) e["reason"] = nullptr;
  EXPECT_EQ(ledger_after, without_notes);
  EXPECT_EQ(c.get("/v1/admin/reports/liability", admin).json()["total"], liability_before["total"]);

  // Nothing of who it was remains where it was written down.
  soci::session sql(soci::postgresql, database.conninfo());
  for (const char* table : {"members", "member_identifiers", "member_timeline", "events",
                            "audit_log", "ledger_entries", "outbox"}) {
    long long found = 0;
    sql << std::string("select count(*) from ") + table +
               " t where t::text like '%4000555566667777%' "
               "or t::text like '%giulia%' or t::text like '%Giulia%' or t::text like "
               "'%3331234567%'",
        soci::into(found);
    EXPECT_EQ(found, 0) << table;
  }

  // Its identifiers are free; its tokens are dead; lookups find nobody.
  expect_problem(c.get("/v1/members/" + id + "/wallet", token), 401, "token_revoked");
  expect_problem(c.get("/v1/members/lookup?type=card&value=4000555566667777", keys["store"]), 404,
                 "unknown_member");
  auto again = c.post_json("/v1/members", {{"identifiers", {card}}}, keys["store"]);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_NE(again.json()["id"], id);
  // Erasing again changes nothing more; the trail says who erased.
  EXPECT_EQ(c.post_json("/v1/members/" + id + "/erase", json::object(), admin).json()["erased_at"],
            m["erased_at"]);
  const auto trail = c.get("/v1/admin/audit?action=member.erased&target=" + id, admin).json();
  ASSERT_FALSE(trail["items"].empty());
  EXPECT_EQ(trail["items"][0]["actor"], "key_bootstrap");
}

// Retention: with CIRCOLO_RETENTION_INACTIVE_DAYS set, members with nothing on their timeline for
// that long are erased by the server itself, recorded as done by "retention"; active ones stay.
TEST(Privacy, InactiveMembersAreErasedAfterTheRetentionPeriod) {
  TestDatabase database;
  ServerProcess server(
      {database.uri(),
       "",
       {{"CIRCOLO_RETENTION_INACTIVE_DAYS", "30"}, {"CIRCOLO_RETENTION_INTERVAL_SECONDS", "1"}},
       {},
       true});
  HttpClient c(server.port());
  const auto admin = server.admin_key();
  auto keys = apply_program_with_touchpoints(server, kProgram, {"store"});
  auto enrol = [&](const std::string& card, const std::string& name) {
    auto created = c.post_json(
        "/v1/members",
        {{"identifiers", {{{"type", "card"}, {"value", card}}}}, {"profile", {{"name", name}}}},
        keys["store"]);
    EXPECT_EQ(created.status, 201) << created.body;
    return created.json()["id"].get<std::string>();
  };
  const auto gone = enrol("4000000000000701", "Gina Lontana");
  const auto back = enrol("4000000000000702", "Remo Ritorno");
  const auto fresh = enrol("4000000000000703", "Nina Nuova");
  const auto app_user = enrol("4000000000000704", "Ada Applicata");
  // All three joined 40 days ago; back shops today, the app user signs in to its app today (a
  // token minted), gone does nothing. What they did today happens first: the job, which runs
  // every second, must never see them idle.
  ASSERT_EQ(c.post_json("/v1/events",
                        {{"type", "purchase"},
                         {"member", {{"id", back}}},
                         {"total", "5.00"},
                         {"currency", "EUR"}},
                        keys["store"], "retention-1")
                .status,
            201);
  ASSERT_EQ(
      c.post_json("/v1/members/" + app_user + "/tokens", json::object(), keys["store"]).status,
      201);
  soci::session sql(soci::postgresql, database.conninfo());
  for (const auto& id : {gone, back, app_user}) {
    sql << "update members set joined_at = now() - interval '40 days' where id = :id",
        soci::use(id);
    sql << "update member_timeline set occurred_at = now() - interval '40 days', recorded_at = "
           "now() - interval '40 days' where member_id = :id and type = 'member.enrolled'",
        soci::use(id);
  }
  json erased;
  for (int i = 0; i < 100; ++i) {
    erased = c.get("/v1/members/" + gone, admin).json();
    if (erased["erased_at"].is_string()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(erased["erased_at"].is_string()) << erased.dump();
  EXPECT_TRUE(erased["profile"]["name"].is_null());
  EXPECT_TRUE(erased["identifiers"].empty());
  for (const auto& id : {back, fresh, app_user}) {
    const auto kept = c.get("/v1/members/" + id, admin).json();
    EXPECT_TRUE(kept["erased_at"].is_null()) << id;
    EXPECT_FALSE(kept["profile"]["name"].is_null()) << id;
  }
  const auto trail = c.get("/v1/admin/audit?action=member.erased", admin).json();
  ASSERT_EQ(trail["items"].size(), 1u) << trail.dump();
  EXPECT_EQ(trail["items"][0]["actor"], "retention");
  EXPECT_EQ(trail["items"][0]["target"], gone);
}

// The right of access: everything held about the member, for its own token or an admin.
TEST(Privacy, AMemberExportsEverythingHeldAboutIt) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto admin = server.admin_key();
  auto keys = apply_program_with_touchpoints(server, kProgram, {"store"});
  const json card{{"type", "card"}, {"value", "4000111199998888"}};
  auto created =
      c.post_json("/v1/members", {{"identifiers", {card}}, {"profile", {{"name", "Marco Neri"}}}},
                  keys["store"]);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json()["id"];
  ASSERT_EQ(c.post_json("/v1/events",
                        {{"type", "purchase"},
                         {"member", {{"id", id}}},
                         {"total", "12.00"},
                         {"currency", "EUR"},
                         {"order_id", "X-1"}},
                        keys["store"], "export-ev-1")
                .status,
            201);
  ASSERT_EQ(c.post_json("/v1/members/" + id + "/points/adjust",
                        {{"points", 3}, {"reason", "staff: difficult customer"}}, admin)
                .status,
            201);
  const std::string token =
      c.post_json("/v1/members/" + id + "/tokens", json::object(), keys["store"]).json()["token"];
  const auto other =
      c.post_json("/v1/members", {{"identifiers", {{{"type", "crm"}, {"value", "o-1"}}}}},
                  keys["store"])
          .json()["id"]
          .get<std::string>();

  auto own = c.get("/v1/members/" + id + "/export", token);
  ASSERT_EQ(own.status, 200) << own.body;
  const auto data = own.json()["data"];
  EXPECT_EQ(data["member"]["name"], "Marco Neri");
  ASSERT_EQ(data["identifiers"].size(), 1u);
  EXPECT_EQ(data["identifiers"][0]["value"], "4000111199998888");
  ASSERT_EQ(data["events"].size(), 1u);
  EXPECT_EQ(data["events"][0]["type"], "purchase");
  ASSERT_EQ(data["ledger_entries"].size(), 2u);
  EXPECT_EQ(data["ledger_entries"][0]["points"], 12);
  EXPECT_EQ(data["ledger_entries"][1]["points"], 3);
  // The member's copy leaves out staff notes and staff's addresses; an admin's has them.
  EXPECT_EQ(own.body.find("difficult customer"), std::string::npos);
  for (const auto& a : data["audit_log"]) EXPECT_FALSE(a.contains("address")) << a.dump();
  EXPECT_NE(c.get("/v1/members/" + id + "/export", admin).body.find("difficult customer"),
            std::string::npos);
  for (const char* key :
       {"point_lots", "member_timeline", "coupon_codes", "coupon_redemptions", "reward_claims",
        "challenge_states", "member_badges", "referrals", "audit_log"})
    EXPECT_TRUE(data[key].is_array()) << key;
  EXPECT_EQ(c.get("/v1/members/" + id + "/export", admin).status, 200);
  expect_problem(c.get("/v1/members/" + other + "/export", token), 403, "forbidden");
  expect_problem(c.get("/v1/members/" + id + "/export", keys["store"]), 403, "forbidden");
  // Reading it is in the trail.
  const auto trail = c.get("/v1/admin/audit?action=member.exported&target=" + id, admin).json();
  EXPECT_EQ(trail["items"].size(), 3u);
}

}  // namespace
