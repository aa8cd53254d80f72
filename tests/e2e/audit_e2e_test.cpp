// End-to-end: the audit trail. What staff and admins (and members' own tokens) do to members and
// configuration is recorded with who, when, from where and what, readable by admins only, and
// never changed afterwards.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <set>

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

campaign "base" {
  rule "earn" {
    on purchase
    then award 1 points
  }
}
)";

json audit_of(HttpClient& c, const std::string& admin, const std::string& query) {
  auto r = c.get("/v1/admin/audit?" + query, admin);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.json();
}

const json* find_action(const json& items, const std::string& action) {
  for (const auto& e : items)
    if (e["action"] == action) return &e;
  return nullptr;
}

TEST(Audit, StaffActionsAreRecordedWithWhoWhenWhereAndWhat) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto admin = server.admin_key();
  ASSERT_EQ(c.post_json("/v1/admin/program", {{"source", kProgram}}, admin).status, 201);
  auto key = c.post_json("/v1/admin/keys",
                         {{"role", "touchpoint"}, {"channel", "store"}, {"name", "POS 1"}}, admin);
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string pos = key.json()["key"], pos_id = key.json()["id"];

  auto enrol = [&](const std::string& email) {
    auto r =
        c.post_json("/v1/members", {{"identifiers", {{{"type", "email"}, {"value", email}}}}}, pos);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"].get<std::string>();
  };
  const auto anna = enrol("anna@example.com"), ben = enrol("ben@example.com"),
             old = enrol("anna.old@example.com");
  ASSERT_EQ(c.post_json("/v1/members/" + anna + "/points/adjust",
                        {{"points", 50}, {"reason", "goodwill"}}, admin)
                .status,
            201);
  const std::string token =
      c.post_json("/v1/members/" + anna + "/tokens", json::object(), pos).json()["token"];
  ASSERT_EQ(
      c.post_json("/v1/members/" + anna + "/points/transfer", {{"to", ben}, {"points", 5}}, token)
          .status,
      201);
  ASSERT_EQ(c.post_json("/v1/members/" + anna + "/merge", {{"from", old}}, admin).status, 200);
  ASSERT_EQ(
      c.request("DELETE", "/v1/admin/keys/" + pos_id, "", {{"Authorization", "Bearer " + admin}})
          .status,
      204);

  const auto all = audit_of(c, admin, "limit=200")["items"];
  std::set<std::string> actions;
  for (const auto& e : all) {
    actions.insert(e["action"].get<std::string>());
    // Staff's address; a member's own device's address is personal data, left out.
    EXPECT_EQ(e["address"], e["role"] == "member" ? json(nullptr) : json("127.0.0.1")) << e.dump();
    EXPECT_TRUE(e["at"].is_string());
  }
  for (const char* a : {"program.applied", "key.created", "member.enrolled", "points.adjusted",
                        "token.minted", "points.transferred", "member.merged", "key.revoked"})
    EXPECT_TRUE(actions.count(a)) << a << " in " << all.dump();
  // Newest first.
  EXPECT_EQ(all[0]["action"], "key.revoked");
  EXPECT_EQ(all[0]["target"], pos_id);
  EXPECT_EQ(all[0]["actor"], "key_bootstrap");
  EXPECT_EQ(all[0]["role"], "admin");

  // Who: the key; a member's own token is the member, with the key that minted it.
  const auto anna_items = audit_of(c, admin, "target=" + anna)["items"];
  const auto* adjusted = find_action(anna_items, "points.adjusted");
  ASSERT_NE(adjusted, nullptr) << anna_items.dump();
  EXPECT_EQ((*adjusted)["detail"]["points"], 50);
  EXPECT_FALSE((*adjusted)["detail"].contains("reason")) << "a staff note may name the member";
  const auto* minted = find_action(anna_items, "token.minted");
  ASSERT_NE(minted, nullptr);
  EXPECT_EQ((*minted)["actor"], pos_id);
  EXPECT_EQ((*minted)["role"], "touchpoint");
  const auto* transferred = find_action(anna_items, "points.transferred");
  ASSERT_NE(transferred, nullptr);
  EXPECT_EQ((*transferred)["actor"], "member:" + anna);
  EXPECT_EQ((*transferred)["detail"]["token_minted_by"], pos_id);
  for (const auto& e : anna_items) EXPECT_EQ(e["target"], anna);
  const auto* enrolled = find_action(anna_items, "member.enrolled");
  ASSERT_NE(enrolled, nullptr);
  EXPECT_EQ((*enrolled)["detail"]["identifiers"], json::array({"email"}))
      << "identifier values stay out of the trail";
  EXPECT_EQ(audit_of(c, admin, "limit=200").dump().find("anna@example.com"), std::string::npos);

  // Filters and pages.
  const auto by_pos = audit_of(c, admin, "actor=" + pos_id)["items"];
  for (const auto& e : by_pos) EXPECT_EQ(e["actor"], pos_id);
  EXPECT_GE(by_pos.size(), 4u);  // three enrolments and a token
  const auto first = audit_of(c, admin, "limit=2");
  ASSERT_EQ(first["items"].size(), 2u);
  const auto second =
      audit_of(c, admin, "limit=2&cursor=" + first["next_cursor"].get<std::string>());
  ASSERT_EQ(second["items"].size(), 2u);
  EXPECT_EQ(second["items"][0]["id"], all[2]["id"]);
  expect_problem(c.get("/v1/admin/audit?from=yesterday", admin), 400, "invalid_query");
  expect_problem(c.get("/v1/admin/audit?cursor=x", admin), 400, "invalid_cursor");

  // The CLI prints it, filtered.
  auto cli = run_cli("audit --member " + anna, server);
  ASSERT_EQ(cli.code, 0) << cli.output;
  EXPECT_TRUE(has(cli, "points.adjusted")) << cli.output;
  EXPECT_TRUE(has(cli, "member:" + anna)) << cli.output;
  EXPECT_FALSE(has(cli, "key.revoked")) << cli.output;
  EXPECT_EQ(run_cli("audit --from yesterday", server).code, 1);

  // Admins only; and nobody changes what was recorded, not even with SQL.
  auto other = c.post_json("/v1/admin/keys",
                           {{"role", "touchpoint"}, {"channel", "web"}, {"name", "web"}}, admin);
  expect_problem(c.get("/v1/admin/audit", other.json()["key"].get<std::string>()), 403,
                 "forbidden");
  soci::session sql(soci::postgresql, database.conninfo());
  for (const char* statement :
       {"update audit_log set actor = 'nobody'", "delete from audit_log", "truncate audit_log"}) {
    SCOPED_TRACE(statement);
    EXPECT_THROW(sql << statement, soci::soci_error);
  }
  long long count = 0;
  sql << "select count(*) from audit_log", soci::into(count);
  EXPECT_GE(count, static_cast<long long>(all.size()));
}

// Head office reading a customer's data is recorded; the till serving the customer is not.
TEST(Audit, AdminsReadingMemberDataAreRecorded) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient c(server.port());
  const auto admin = server.admin_key();
  auto keys = apply_program_with_touchpoints(server, kProgram, {"store"});
  auto created = c.post_json(
      "/v1/members", {{"identifiers", {{{"type", "email"}, {"value", "vera@example.com"}}}}},
      keys["store"]);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json()["id"];
  for (const char* path : {"", "/ledger", "/timeline", "/wallet", "/interests", "/consents"}) {
    ASSERT_EQ(c.get("/v1/members/" + id + path, keys["store"]).status, 200) << path;
    ASSERT_EQ(c.get("/v1/members/" + id + path, admin).status, 200) << path;
  }
  ASSERT_EQ(c.get("/v1/members/lookup?type=email&value=vera@example.com", admin).status, 200);
  const auto viewed = audit_of(c, admin, "action=member.viewed&target=" + id)["items"];
  std::set<std::string> what;
  for (const auto& e : viewed) {
    EXPECT_EQ(e["actor"], "key_bootstrap") << "the till's reads are not recorded";
    what.insert(e["detail"]["what"].get<std::string>());
  }
  EXPECT_EQ(what, (std::set<std::string>{"profile", "ledger", "timeline", "wallet", "interests",
                                         "consents", "lookup"}));
}

}  // namespace
