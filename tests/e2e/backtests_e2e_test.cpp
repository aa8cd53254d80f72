// End-to-end: backtests as background jobs — a draft program replayed on the recorded events of
// a period, compared with what the recorded versions did; and exact: backtesting the program
// that recorded the events gives what it did.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using nlohmann::json;
using Clock = std::chrono::system_clock;

namespace {

const std::string kHeader = R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

tier "member" {
  threshold 0
}

tier "silver" {
  threshold 100
  window 365 days
}

coupon "TEN" {
  name "10 off"
  discount 10.00
  valid 30 days
}
)";

// A: one point per euro. B: two, a capped bonus, a daily visit reward and a coupon.
const std::string kProgramA = kHeader + R"(
campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }
}
)";
const std::string kProgramB = kHeader + R"(
campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) * 2 points
  }
}

campaign "bonus" {
  budget 120 points

  rule "big" {
    on purchase
    when event.total >= 30.00
    then award 50 points
         issue coupon "TEN"
  }

  rule "visit" {
    on visit
    then award 5 points
    limit 1 per member per day
  }
}
)";

class Backtests : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    keys_ = apply_program_with_touchpoints(*server_, kProgramA, {"store", "web"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }
  HttpClient client() { return HttpClient(server_->port()); }
  std::string unique(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + "-" + std::to_string(::getpid());
  }
  // Where traffic goes: the suite's server, or a fresh one.
  struct Target {
    ServerProcess* server;
    std::map<std::string, std::string>* keys;
  };
  Target here() { return {server_, &keys_}; }
  HttpResult send(json body, const std::string& channel = "store") {
    return HttpClient(target_.server->port())
        .post_json("/v1/events", body, (*target_.keys)[channel], unique("ev-"));
  }
  // The same traffic for three new members: purchases, a refund, visits, two channels.
  void traffic(const std::string& tag) {
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      auto r = send({{"type", "signup"},
                     {"member",
                      {{"identifier",
                        {{"type", "email"}, {"value", tag + std::to_string(i) + unique("@")}}}}},
                     {"enroll", true}},
                    "web");
      ASSERT_EQ(r.status, 201) << r.body;
      ids.push_back(r.json()["member_id"]);
    }
    std::string refundable;
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 3; ++i) {
        auto r = send({{"type", "purchase"},
                       {"member", {{"id", ids[i]}}},
                       {"total", std::to_string(20 + 10 * i) + ".00"},
                       {"currency", "EUR"},
                       {"order_id", unique("o-")}},
                      i == 1 ? "web" : "store");
        ASSERT_EQ(r.status, 201) << r.body;
        if (round == 0 && i == 2) refundable = r.json()["event_id"];
        ASSERT_EQ(send({{"type", "visit"}, {"member", {{"id", ids[i]}}}}).status, 201);
      }
    }
    ASSERT_EQ(send({{"type", "refund"},
                    {"original_event_id", refundable},
                    {"total", "40.00"},
                    {"currency", "EUR"}})
                  .status,
              201);
  }
  // Starts a backtest of `source` over [from, until) and waits for it to end.
  json backtest(const std::string& source, Clock::time_point from, Clock::time_point until) {
    HttpClient c(target_.server->port());
    const auto& admin = target_.server->admin_key();
    auto started = c.post_json(
        "/v1/admin/backtests",
        {{"source", source}, {"from", rfc3339(from)}, {"until", rfc3339(until)}}, admin);
    EXPECT_EQ(started.status, 202) << started.body;
    const std::string id = started.json().value("id", "");
    for (int i = 0; i < 300; ++i) {
      auto job = c.get("/v1/admin/backtests/" + id, admin).json();
      if (job["status"] != "running") return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the backtest did not end";
    return nullptr;
  }
  // Periods are given to the second: a phase starts on a whole second and ends on the next
  // whole second after its last event, and the next phase waits for it.
  static Clock::time_point second_floor(Clock::time_point t) {
    return std::chrono::floor<std::chrono::seconds>(t);
  }
  static Clock::time_point after_last(Clock::time_point t) {
    const auto until = std::chrono::floor<std::chrono::seconds>(t) + std::chrono::seconds(1);
    std::this_thread::sleep_until(until + std::chrono::milliseconds(20));
    return until;
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
  Target target_{nullptr, nullptr};
  void SetUp() override { target_ = here(); }
};

TEST_F(Backtests, ADraftBesideWhatHappenedAndExactlyWhatItWouldDo) {
  // Phase 1: traffic under A.
  const auto first_from = second_floor(Clock::now());
  traffic("a");
  const auto first_until = after_last(Clock::now());

  // B, backtested on A's traffic: what B would have done, beside what A did.
  const auto draft = backtest(kProgramB, first_from, first_until);
  ASSERT_EQ(draft["status"], "done") << draft.dump();
  EXPECT_EQ(draft["progress"], 1.0);
  EXPECT_EQ(draft["events_done"], draft["events_total"]);
  const auto& r = draft["result"];
  EXPECT_EQ(r["events"], 3 + 12 + 1);
  const auto base = find(r["campaigns"], "campaign", "base");
  // A awarded (20+30+40) * 2 rounds = 180 points; B twice that.
  EXPECT_EQ(base["actual"]["points_awarded"], 180);
  EXPECT_EQ(base["draft"]["points_awarded"], 360);
  const auto bonus = find(r["campaigns"], "campaign", "bonus");
  EXPECT_EQ(bonus["actual"]["firings"], 0);
  EXPECT_GT(bonus["draft"]["budget_refusals"], 0) << "120 points of 50s: the third is refused";
  EXPECT_TRUE(bonus["draft"]["budget_ran_out_on"].is_string());
  EXPECT_EQ(find(r["rules"], "rule", "visit")["draft"]["firings"], 3);
  EXPECT_EQ(find(r["rules"], "rule", "visit")["draft"]["limit_refusals"], 3);

  // The CLI runs the same backtest and prints the draft beside what happened.
  const std::string file = "/tmp/circolo-draft-" + std::to_string(::getpid()) + ".rules";
  std::ofstream(file) << kProgramB;
  const std::string cli = "XDG_CONFIG_HOME=/nonexistent CIRCOLO_URL=http://127.0.0.1:" +
                          std::to_string(server_->port()) + " CIRCOLO_KEY='" +
                          server_->admin_key() + "' " CIRCOLO_CLI_PATH " program backtest " + file +
                          " --from " + rfc3339(first_from) + " --until " + rfc3339(first_until) +
                          " 2>&1";
  std::string out;
  FILE* pipe = ::popen(cli.c_str(), "r");
  std::array<char, 4096> buffer{};
  for (std::size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;)
    out.append(buffer.data(), n);
  EXPECT_EQ(::pclose(pipe), 0) << out;
  std::remove(file.c_str());
  EXPECT_NE(out.find("16 events from"), std::string::npos) << out;
  EXPECT_NE(out.find("base"), std::string::npos) << out;
  EXPECT_NE(out.find("      360       180"), std::string::npos) << out;

  // Phase 2: B applied on a fresh database, the same traffic: what B really does.
  TestDatabase fresh_database;
  ServerProcess fresh(fresh_database.uri());
  auto fresh_keys = apply_program_with_touchpoints(fresh, kProgramB, {"store", "web"});
  target_ = {&fresh, &fresh_keys};
  const auto second_from = second_floor(Clock::now());
  traffic("b");
  const auto second_until = after_last(Clock::now());

  // Backtesting B on what B did (no earlier history) gives exactly what it did...
  const auto exact = backtest(kProgramB, second_from, second_until);
  ASSERT_EQ(exact["status"], "done") << exact.dump();
  const auto& did = exact["result"];
  EXPECT_EQ(did["events"], r["events"]);
  for (const auto& c : did["rules"]) {
    for (const char* figure : {"firings", "members", "points_awarded", "coupons_issued"})
      EXPECT_EQ(c["draft"][figure], c["actual"][figure]) << c.dump();
  }
  for (const char* figure : {"firings", "members", "points_awarded", "coupons_issued"})
    EXPECT_EQ(did["total"]["draft"][figure], did["total"]["actual"][figure]) << figure;
  // ...and what it did is what the backtest on A's traffic said it would do.
  for (const auto& c : r["rules"]) {
    const auto same = find(did["rules"], "rule", c["rule"]);
    ASSERT_TRUE(same.is_object()) << c.dump();
    for (const char* figure : {"firings", "members", "points_awarded", "coupons_issued"})
      EXPECT_EQ(c["draft"][figure], same["actual"][figure]) << c.dump();
  }
  EXPECT_EQ(did["draft_tiers"], r["draft_tiers"]);
  EXPECT_EQ(did["draft_liability"], r["draft_liability"]);
}

TEST_F(Backtests, TheJobsLife) {
  const auto admin = server_->admin_key();
  // A draft with errors: 422 with line and column, nothing started.
  auto bad =
      client().post_json("/v1/admin/backtests", {{"source", "campaign \"x\" {\n  rule"}}, admin);
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(bad.json()["code"], "program_invalid");
  EXPECT_TRUE(bad.json()["errors"][0].contains("line")) << bad.body;
  EXPECT_EQ(client()
                .post_json("/v1/admin/backtests", {{"source", kProgramA}, {"bogus", 1}}, admin)
                .status,
            422);
  EXPECT_EQ(client()
                .post_json("/v1/admin/backtests",
                           {{"source", kProgramA}, {"from", "2026-02-01"}, {"until", "2026-01-01"}},
                           admin)
                .status,
            422);
  EXPECT_EQ(
      client().post_json("/v1/admin/backtests", {{"source", kProgramA}}, keys_["store"]).status,
      403);
  // An empty period: done, nothing replayed in it.
  const auto empty = backtest(kProgramA, Clock::now() - std::chrono::hours(24 * 400),
                              Clock::now() - std::chrono::hours(24 * 399));
  ASSERT_EQ(empty["status"], "done") << empty.dump();
  EXPECT_EQ(empty["result"]["events"], 0);
  // Cancelling: a job already done stays done; an unknown one is 404.
  auto cancelled =
      client().request("DELETE", "/v1/admin/backtests/" + empty["id"].get<std::string>(), "",
                       {{"Authorization", "Bearer " + admin}});
  EXPECT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(cancelled.json()["status"], "done");
  EXPECT_EQ(client()
                .request("DELETE", "/v1/admin/backtests/bt_none", "",
                         {{"Authorization", "Bearer " + admin}})
                .status,
            404);
  EXPECT_EQ(client().get("/v1/admin/backtests/bt_none", admin).status, 404);
}

// A long job, seen running: its progress grows, a cancel stops it, and it stays cancelled.
TEST(BacktestJobs, ARunningJobShowsItsProgressAndStopsWhenCancelled) {
  TestDatabase database;
  ServerProcess server(database.uri());
  auto keys = apply_program_with_touchpoints(server, kProgramA, {"store"});
  HttpClient c(server.port());
  const auto admin = server.admin_key();
  std::vector<std::string> members;
  for (int i = 0; i < 20; ++i) {
    auto r = c.post_json(
        "/v1/events",
        {{"type", "signup"},
         {"member",
          {{"identifier",
            {{"type", "email"}, {"value", "long" + std::to_string(i) + "@example.com"}}}}},
         {"enroll", true}},
        keys["store"], "signup-" + std::to_string(i));
    ASSERT_EQ(r.status, 201) << r.body;
    members.push_back(r.json()["member_id"]);
  }
  // 200,000 purchases of those members over the last 30 days, written as the event path
  // records them (faster than sending them).
  {
    soci::session sql(soci::postgresql, database.conninfo());
    std::string ids = "{";
    for (const auto& m : members) ids += (ids.size() > 1 ? "," : "") + m;
    ids += "}";
    sql << "insert into events (id, member_id, type, channel, store, occurred_at, recorded_at, "
           "program_version, api_key_id, total_minor, points_awarded, body, effects) select "
           "'ev_long_' || g, (:ids::text[])[1 + g % 20], 'purchase', 'store', null, t, t, 1, "
           "(select id from api_keys limit 1), 2500, 25, jsonb_build_object('type', 'purchase', "
           "'total', '25.00', 'currency', 'EUR'), jsonb_build_array(jsonb_build_object('type', "
           "'points_awarded', 'campaign', 'base', 'rule', 'earn', 'points', 25)) from "
           "generate_series(1, 200000) g, lateral (select now() - interval '30 days' + g * "
           "interval '10 seconds' as t) x",
        soci::use(ids, "ids");
  }
  auto started = c.post_json("/v1/admin/backtests", {{"source", kProgramA}}, admin);
  ASSERT_EQ(started.status, 202) << started.body;
  const std::string id = started.json()["id"];
  json job;
  for (int i = 0; i < 600; ++i) {  // until it has replayed a page, at most a minute
    job = c.get("/v1/admin/backtests/" + id, admin).json();
    if (job["status"] != "running" || job["events_done"].get<long long>() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(job["status"], "running") << job.dump();
  EXPECT_GT(job["events_total"].get<long long>(), 200000);
  EXPECT_GT(job["progress"].get<double>(), 0.0);
  EXPECT_LT(job["progress"].get<double>(), 1.0);
  auto cancelled =
      c.request("DELETE", "/v1/admin/backtests/" + id, "", {{"Authorization", "Bearer " + admin}});
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(cancelled.json()["status"], "cancelled");
  std::this_thread::sleep_for(std::chrono::seconds(2));  // a page in flight ends
  const auto after = c.get("/v1/admin/backtests/" + id, admin).json();
  EXPECT_EQ(after["status"], "cancelled") << after.dump();
  EXPECT_TRUE(after["result"].is_null());
  EXPECT_LT(after["events_done"].get<long long>(), after["events_total"].get<long long>());
  // The instance goes on: another backtest runs to its end.
  auto next = c.post_json("/v1/admin/backtests",
                          {{"source", kProgramA},
                           {"from", rfc3339(Clock::now() - std::chrono::hours(24 * 400))},
                           {"until", rfc3339(Clock::now() - std::chrono::hours(24 * 399))}},
                          admin);
  ASSERT_EQ(next.status, 202) << next.body;
  for (int i = 0; i < 300; ++i) {
    job = c.get("/v1/admin/backtests/" + next.json()["id"].get<std::string>(), admin).json();
    if (job["status"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(job["status"], "done") << job.dump();
}

}  // namespace
