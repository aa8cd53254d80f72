// End-to-end: challenges completed across store, web and app; completion once under
// concurrency; repeatable challenges, refunds and late offline events; badges; leaderboards;
// progress kept (or restarted) across program versions.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <future>
#include <thread>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using Clock = std::chrono::system_clock;

std::string program(const std::string& keeper_goal = "count reaches 3",
                    const std::string& keeper_name = "Keeper") {
  return R"(program {
  currency "EUR"
  timezone "Europe/Rome"
}

tier "member" {
  threshold 0
}

challenge "explorer" {
  name "Omnichannel explorer"
  on purchase
  when event.total >= 10.00
  goal distinct event.channel reaches 3
  within 30 days
  then award 500 points grant badge "explorer" notify "You shopped on every channel!"
}

challenge "regular" {
  name "Regular"
  on visit
  goal count reaches 3
  repeatable
  then award 10 points
}

challenge "spender" {
  name "Big spender"
  on purchase
  goal sum event.total reaches 100.00
  then grant badge "big-spender"
}

challenge "weekly" {
  name "Three weeks in a row"
  on event "workout"
  goal streak 3 weeks
  then grant badge "streak"
}

challenge "reviewer" {
  name "Reviewer"
  on event "never-sent"
  goal count reaches 2
  then grant badge "reviewer"
}

challenge "booster" {
  name "Booster"
  on event "never-sent"
  goal count reaches 5
  then grant badge "boosted"
}

challenge "fit" {
  name "Three workouts a week"
  on event "gym"
  goal count reaches 3
  within 7 days
  then grant badge "fit"
}

challenge "keeper" {
  name ")" +
         keeper_name + R"("
  on event "keep"
  goal )" +
         keeper_goal + R"(
  then grant badge "keeper"
}

campaign "base" {
  rule "earn" {
    on purchase
    then award floor(event.total) points
  }

    rule "review" {
    on event "review"
    then progress challenge "reviewer"
         grant badge "critic"
  }

  rule "boost" {
    on event "boost"
    then progress challenge "booster" by 3
  }
}

campaign "after" {
  rule "explored" {
    on challenge_completed
    when event.attributes.challenge == "explorer"
    then award 7 points
  }
}
)";
}

json effects_of(const json& body, const std::string& type) {
  json out = json::array();
  for (const auto& e : body["effects"]) {
    if (e["type"] == type) out.push_back(e);
  }
  return out;
}

json progress_of(const json& body, const std::string& challenge) {
  for (const auto& e : body["effects"]) {
    if (e["type"] == "challenge_progress" && e["challenge"] == challenge) return e;
  }
  return nullptr;
}

json item(const json& list, const std::string& id) {
  for (const auto& c : list) {
    if (c["id"] == id) return c;
  }
  return nullptr;
}

class Gamification : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
    keys_ = apply_program_with_touchpoints(*server_, program(), {"store", "app", "web"});
    wait_for_challenge("keeper", "Keeper");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }

  // The program is polled: wait until this instance lists the challenge with this name.
  static void wait_for_challenge(const std::string& id, const std::string& name) {
    HttpClient c(server_->port());
    for (int i = 0; i < 100; ++i) {
      auto r = c.get("/v1/challenges", server_->admin_key());
      if (r.status == 200 && item(r.json()["items"], id).value("name", "") == name) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the program was not loaded";
  }

  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }
  std::string unique(const std::string& prefix) {
    return prefix + std::to_string(counter_++) + "-" + std::to_string(::getpid());
  }

  HttpResult send(json event, const std::string& channel = "store",
                  const std::string& idempotency = "") {
    if (!event.contains("occurred_at")) event["occurred_at"] = rfc3339(noon_yesterday());
    return client().post_json("/v1/events", event, keys_[channel],
                              idempotency.empty() ? unique("ev-") : idempotency);
  }
  json ok(json event, const std::string& channel = "store") {
    auto r = send(std::move(event), channel);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? r.json() : json::object();
  }
  std::string enrol() {
    auto r = client().post_json("/v1/members",
                                {{"identifiers", {{{"type", "crm"}, {"value", unique("crm-")}}}},
                                 {"profile", {{"name", unique("Member ")}}}},
                                admin(), unique("m-"));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"];
  }
  static json purchase(const std::string& id, const std::string& total) {
    return {{"type", "purchase"}, {"member", {{"id", id}}}, {"total", total}, {"currency", "EUR"}};
  }
  static json custom(const std::string& id, const std::string& type) {
    return {{"type", type}, {"member", {{"id", id}}}};
  }
  json challenges(const std::string& id) {
    auto r = client().get("/v1/members/" + id + "/challenges", admin());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  static TestDatabase* database_;
  static ServerProcess* server_;
  static std::map<std::string, std::string> keys_;
  static std::atomic<int> counter_;
};

TestDatabase* Gamification::database_ = nullptr;
ServerProcess* Gamification::server_ = nullptr;
std::map<std::string, std::string> Gamification::keys_;
std::atomic<int> Gamification::counter_{0};

}  // namespace

TEST_F(Gamification, OmnichannelChallengeCompletedThroughStoreWebAndApp) {
  const auto id = enrol();
  auto first = ok(purchase(id, "20.00"), "store");
  EXPECT_EQ(progress_of(first, "explorer")["progress"], 1);
  EXPECT_EQ(progress_of(first, "explorer")["goal"], 3);
  // The same channel again and a basket under 10.00 do not move it.
  EXPECT_TRUE(progress_of(ok(purchase(id, "30.00"), "store"), "explorer").is_null())
      << "a channel already seen changes nothing, and reports nothing";
  EXPECT_TRUE(progress_of(ok(purchase(id, "5.00"), "web"), "explorer").is_null());
  EXPECT_EQ(progress_of(ok(purchase(id, "15.00"), "web"), "explorer")["progress"], 2);
  EXPECT_FALSE(item(challenges(id)["items"], "explorer")["completed"]);

  auto last = ok(purchase(id, "12.00"), "app");
  const auto done = effects_of(last, "challenge_completed");
  ASSERT_EQ(done.size(), 1u) << last.dump();
  EXPECT_EQ(done[0]["challenge"], "explorer");
  long long reward = 0, derived = 0;
  for (const auto& e : effects_of(last, "points_awarded")) {
    if (e.value("challenge", "") == "explorer") reward += e["points"].get<long long>();
    if (e.value("campaign", "") == "after") derived += e["points"].get<long long>();
  }
  EXPECT_EQ(reward, 500) << "the challenge's then, in the same event";
  EXPECT_EQ(derived, 7) << "on challenge_completed";
  ASSERT_EQ(effects_of(last, "badge_granted").size(), 1u);
  EXPECT_EQ(effects_of(last, "badge_granted")[0]["badge"], "explorer");
  EXPECT_EQ(effects_of(last, "notification")[0]["message"], "You shopped on every channel!");
  // 20 + 30 + 5 + 15 + 12 earned, 500 + 7 for the challenge.
  EXPECT_EQ(last["points"]["available"], 589);
  // The last event booked its awards in three steps (its rules', the challenge's, the derived
  // event's) before its record wrote the balance: each entry's running balance follows on.
  const auto ledger = client().get("/v1/members/" + id + "/ledger?limit=200", admin()).json();
  ASSERT_GE(ledger["items"].size(), 3u) << ledger.dump();
  EXPECT_EQ(ledger["items"][0]["balance_after"], 589) << ledger.dump();
  for (std::size_t i = 0; i + 1 < ledger["items"].size(); ++i)
    EXPECT_EQ(ledger["items"][i]["balance_after"].get<long long>(),
              ledger["items"][i + 1]["balance_after"].get<long long>() +
                  ledger["items"][i]["points"].get<long long>())
        << "entry " << i << ": " << ledger.dump();

  // The wallet and the member's challenges show it, once; it counts no more.
  auto wallet = client().get("/v1/members/" + id + "/wallet", admin()).json();
  EXPECT_EQ(item(wallet["challenges"], "explorer")["completed"], true) << wallet.dump();
  EXPECT_EQ(item(wallet["challenges"], "explorer")["progress"], 3);
  ASSERT_EQ(wallet["badges"].size(), 1u);
  EXPECT_EQ(wallet["badges"][0]["badge"], "explorer");
  auto again = ok(purchase(id, "40.00"), "web");
  EXPECT_TRUE(progress_of(again, "explorer").is_null()) << again.dump();
  for (const auto& e : effects_of(again, "challenge_completed"))
    EXPECT_NE(e["challenge"], "explorer") << "completed once only";
  EXPECT_EQ(item(challenges(id)["items"], "explorer")["completions"], 1);

  // Refunding the purchase that completed it takes back the points of the rules it caused (12,
  // and the 7 of "after"), not the challenge's own reward: the completion stays.
  auto refund = ok({{"type", "refund"},
                    {"original_event_id", last["event_id"]},
                    {"total", "12.00"},
                    {"currency", "EUR"}});
  EXPECT_EQ(effects_of(refund, "points_reversed")[0]["points"], 19) << refund.dump();
  EXPECT_EQ(refund["points"]["available"], 589 + 40 - 19);
  EXPECT_EQ(item(challenges(id)["items"], "explorer")["completed"], true);

  // Outgoing events for touchpoints (published just after commit: wait for them).
  int completed = 0, badges = 0, progressed = 0;
  for (int i = 0; i < 40 && completed < 2; ++i) {
    auto feed = client().get("/v1/feed?member=" + id +
                                 "&types=challenge.completed,badge.granted,"
                                 "challenge.progressed",
                             admin());
    ASSERT_EQ(feed.status, 200) << feed.body;
    completed = badges = progressed = 0;
    const auto body = feed.json();
    for (const auto& e : body["items"]) {
      completed += e["type"] == "challenge.completed";
      badges += e["type"] == "badge.granted";
      progressed += e["type"] == "challenge.progressed" && e["data"]["challenge"] == "explorer";
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(completed, 2) << "explorer, then spender with the last purchase";
  EXPECT_EQ(badges, 2) << "explorer and big-spender";
  EXPECT_EQ(progressed, 3) << "store, web, app: when it moved";
}

TEST_F(Gamification, TwoEventsCompletingAtOnceCompleteOnce) {
  for (int round = 0; round < 3; ++round) {
    const auto id = enrol();
    ok(purchase(id, "20.00"), "store");
    ok(purchase(id, "20.00"), "web");
    // Two app purchases at once: each alone would complete the challenge.
    auto a = std::async(std::launch::async, [&] { return send(purchase(id, "11.00"), "app"); });
    auto b = std::async(std::launch::async, [&] { return send(purchase(id, "13.00"), "app"); });
    const auto ra = a.get(), rb = b.get();
    ASSERT_EQ(ra.status, 201) << ra.body;
    ASSERT_EQ(rb.status, 201) << rb.body;
    const auto completions = effects_of(ra.json(), "challenge_completed").size() +
                             effects_of(rb.json(), "challenge_completed").size();
    EXPECT_EQ(completions, 1u);
    // 40 + 11 + 13 earned, the reward once.
    auto wallet = client().get("/v1/members/" + id + "/wallet", admin()).json();
    EXPECT_EQ(wallet["points"]["available"], 64 + 500 + 7);
    EXPECT_EQ(item(wallet["challenges"], "explorer")["completions"], 1);
  }
}

TEST_F(Gamification, RepeatableChallengesStartAgain) {
  const auto id = enrol();
  int completions = 0;
  for (int i = 0; i < 7; ++i) {
    auto r = ok(custom(id, "visit"));
    completions += static_cast<int>(effects_of(r, "challenge_completed").size());
    if (i == 2) EXPECT_EQ(effects_of(r, "challenge_completed")[0]["completions"], 1);
    if (i == 3) EXPECT_EQ(progress_of(r, "regular")["progress"], 1) << "a new round";
  }
  EXPECT_EQ(completions, 2);
  auto mine = item(challenges(id)["items"], "regular");
  EXPECT_EQ(mine["completions"], 2);
  EXPECT_EQ(mine["progress"], 1);
  EXPECT_EQ(client().get("/v1/members/" + id + "/wallet", admin()).json()["points"]["available"],
            20);
}

TEST_F(Gamification, RefundsTakeBackAndLateEventsCountInTheirWindow) {
  const auto id = enrol();
  auto bought = ok(purchase(id, "60.00"));
  EXPECT_EQ(progress_of(bought, "spender")["progress"], "60.00");
  EXPECT_EQ(progress_of(bought, "spender")["goal"], "100.00");
  EXPECT_EQ(item(challenges(id)["items"], "explorer")["progress"], 1);
  auto refund_of = [&](const std::string& total) {
    return ok({{"type", "refund"},
               {"original_event_id", bought["event_id"]},
               {"total", total},
               {"currency", "EUR"}});
  };
  // A partial refund: the purchase still happened (its channel still counts), what it added to
  // the sum shrinks with it.
  auto part = refund_of("15.00");
  EXPECT_EQ(progress_of(part, "spender")["progress"], "45.00") << part.dump();
  EXPECT_TRUE(progress_of(part, "explorer").is_null()) << part.dump();
  EXPECT_EQ(item(challenges(id)["items"], "spender")["progress"], "45.00");
  EXPECT_EQ(item(challenges(id)["items"], "explorer")["progress"], 1);
  // The rest refunded: the purchase counts no more.
  auto refund = refund_of("45.00");
  EXPECT_EQ(progress_of(refund, "spender")["progress"], "0.00") << refund.dump();
  EXPECT_EQ(item(challenges(id)["items"], "spender")["progress"], "0.00");
  EXPECT_EQ(item(challenges(id)["items"], "explorer")["progress"], 0);
  // An offline purchase of 20 days ago counts in the window it belongs to.
  auto late = purchase(id, "70.00");
  late["occurred_at"] = rfc3339(Clock::now() - std::chrono::days(20));
  EXPECT_EQ(progress_of(ok(late), "spender")["progress"], "70.00");
  auto more = ok(purchase(id, "30.00"));
  ASSERT_EQ(effects_of(more, "challenge_completed").size(), 1u) << more.dump();
  EXPECT_EQ(effects_of(more, "badge_granted")[0]["badge"], "big-spender");
}

TEST_F(Gamification, StreaksOfCalendarWeeks) {
  const auto id = enrol();
  const auto base = Clock::now() - 1min;
  auto at = [&](int days_ago) {
    auto e = custom(id, "workout");
    e["occurred_at"] = rfc3339(base - std::chrono::days(days_ago));
    return e;
  };
  // Two weeks ago alone is no streak now (the week between was missed): nothing moves.
  EXPECT_TRUE(progress_of(ok(at(14)), "weekly").is_null());
  EXPECT_EQ(item(challenges(id)["items"], "weekly")["progress"], 0);
  // Last week (late, from an offline touchpoint) joins them: two weeks, this one still open.
  EXPECT_EQ(progress_of(ok(at(7)), "weekly")["progress"], 2);
  EXPECT_TRUE(progress_of(ok(at(8)), "weekly").is_null()) << "a week counts once";
  auto third = ok(at(0));
  EXPECT_EQ(effects_of(third, "challenge_completed").size(), 1u) << third.dump();
  EXPECT_EQ(effects_of(third, "badge_granted")[0]["badge"], "streak");
}

TEST_F(Gamification, ExplicitProgressByNAndWindowsAndClocksAhead) {
  const auto id = enrol();
  EXPECT_EQ(progress_of(ok(custom(id, "boost")), "booster")["progress"], 3) << "by 3";
  auto second = ok(custom(id, "boost"));
  ASSERT_EQ(effects_of(second, "challenge_completed").size(), 1u) << second.dump();
  EXPECT_EQ(effects_of(second, "challenge_completed")[0]["challenge"], "booster");

  // within 7 days: a late workout of 10 days ago does not count, one of 5 days ago does.
  auto gym = [&](std::chrono::system_clock::duration ago) {
    auto e = custom(id, "gym");
    e["occurred_at"] = rfc3339(Clock::now() - ago);
    return ok(e);
  };
  EXPECT_TRUE(progress_of(gym(std::chrono::days(10)), "fit").is_null());
  EXPECT_EQ(item(challenges(id)["items"], "fit")["progress"], 0);
  EXPECT_EQ(progress_of(gym(std::chrono::days(5)), "fit")["progress"], 1);
  // A touchpoint clock two minutes ahead (within the accepted skew): it counts at once.
  EXPECT_EQ(progress_of(gym(-std::chrono::minutes(2)), "fit")["progress"], 2);
  EXPECT_EQ(item(challenges(id)["items"], "fit")["progress"], 2);
}

TEST_F(Gamification, BadgesAreGrantedOnceAndExplicitProgressCounts) {
  const auto id = enrol();
  auto first = ok(custom(id, "review"));
  ASSERT_EQ(effects_of(first, "badge_granted").size(), 1u) << first.dump();
  EXPECT_EQ(effects_of(first, "badge_granted")[0]["badge"], "critic");
  EXPECT_EQ(progress_of(first, "reviewer")["progress"], 1) << "progress challenge";
  auto second = ok(custom(id, "review"));
  // The second review grants "critic" again (nothing happens) and completes "reviewer".
  const auto granted = effects_of(second, "badge_granted");
  ASSERT_EQ(granted.size(), 1u) << second.dump();
  EXPECT_EQ(granted[0]["badge"], "reviewer");
  const auto badges = challenges(id)["badges"];
  ASSERT_EQ(badges.size(), 2u);
  EXPECT_EQ(badges[0]["badge"], "critic");
  EXPECT_EQ(badges[1]["badge"], "reviewer");
}

TEST_F(Gamification, ChallengesAreListedAndScopedToTheirMember) {
  auto list = client().get("/v1/challenges", keys_["app"]);
  ASSERT_EQ(list.status, 200) << list.body;
  const auto explorer = item(list.json()["items"], "explorer");
  EXPECT_EQ(explorer["name"], "Omnichannel explorer");
  EXPECT_EQ(explorer["goal"]["kind"], "distinct");
  EXPECT_EQ(explorer["goal"]["target"], 3);
  EXPECT_EQ(explorer["within"], "30 days");
  EXPECT_EQ(item(list.json()["items"], "spender")["goal"]["target"], "100.00");

  const auto id = enrol(), other = enrol();
  auto token = client().post_json("/v1/members/" + id + "/tokens", json::object(), admin());
  ASSERT_EQ(token.status, 201) << token.body;
  const std::string member_token = token.json()["token"];
  EXPECT_EQ(client().get("/v1/members/" + id + "/challenges", member_token).status, 200);
  expect_problem(client().get("/v1/members/" + other + "/challenges", member_token), 403,
                 "forbidden");
  expect_problem(client().get("/v1/members/mem_nobody/challenges", admin()), 404, "unknown_member");
}

TEST_F(Gamification, LeaderboardsRankPointsOfThePeriodWithTies) {
  // Far more points than any other test's members earn, so the top three are these.
  const auto a = enrol(), b = enrol(), c = enrol();
  const auto now = rfc3339(Clock::now() - 1min);
  auto big = [&](const std::string& id, const std::string& total) {
    auto e = purchase(id, total);
    e["occurred_at"] = now;
    return e;
  };
  ok(big(a, "90000.00"));
  ok(big(b, "90000.00"));
  ok(big(c, "80000.00"));
  // The first requests for a period's ranks, all at once, before any copy of the board exists.
  std::vector<std::future<int>> first;
  for (int i = 0; i < 8; ++i) {
    first.push_back(std::async(std::launch::async, [&] {
      return client().get("/v1/leaderboards/points?period=week&member=" + c, admin()).status;
    }));
  }
  for (auto& f : first) EXPECT_EQ(f.get(), 200);
  for (const char* period : {"day", "week", "month", "year", "all"}) {
    auto r = client().get(
        std::string("/v1/leaderboards/points?period=") + period + "&limit=4&member=" + c,
        keys_["app"]);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto board = r.json();
    EXPECT_EQ(board["period"], period);
    ASSERT_GE(board["entries"].size(), 3u) << board.dump();
    EXPECT_EQ(board["entries"][0]["rank"], 1);
    EXPECT_EQ(board["entries"][1]["rank"], 1) << "ties share a rank";
    EXPECT_EQ(board["entries"][2]["rank"], 3) << "and the next rank skips";
    EXPECT_EQ(board["entries"][2]["member_id"], c);
    EXPECT_EQ(board["entries"][0]["points"], 90000);
    EXPECT_EQ(board["member"]["rank"], 3);
    EXPECT_EQ(board["member"]["points"], 80000);
    if (std::string(period) != "all") {
      EXPECT_LT(board["from"].get<std::string>(), now);
      EXPECT_GT(board["until"].get<std::string>(), now);
    }
  }
  // A refund takes its points off the boards.
  auto refund_of = client().get("/v1/members/" + a + "/timeline", admin()).json();
  std::string purchase_id;
  for (const auto& e : refund_of["items"]) {
    if (e["type"] == "purchase") purchase_id = e["data"]["event_id"];
  }
  ASSERT_FALSE(purchase_id.empty()) << refund_of.dump();
  ok({{"type", "refund"},
      {"original_event_id", purchase_id},
      {"total", "20000.00"},
      {"currency", "EUR"}});
  auto after = client().get("/v1/leaderboards/points?period=all&limit=3&member=" + a, admin());
  EXPECT_EQ(after.json()["member"]["points"], 70000) << "read live";
  // Ranks are computed against a copy of the board refreshed in the background about once a
  // second: the new rank shows within a few seconds.
  long long rank = 0;
  for (int i = 0; i < 50 && rank != 3; ++i) {
    std::this_thread::sleep_for(100ms);
    rank = client()
               .get("/v1/leaderboards/points?period=all&limit=3&member=" + a, admin())
               .json()["member"]["rank"];
  }
  EXPECT_EQ(rank, 3);
  // A member without points ranks after everyone who earned some.
  const auto idle = enrol();
  auto idle_board = client().get("/v1/leaderboards/points?period=all&member=" + idle, admin());
  EXPECT_EQ(idle_board.json()["member"]["points"], 0);
  EXPECT_GT(idle_board.json()["member"]["rank"], 3);

  expect_problem(client().get("/v1/leaderboards/points?period=decade", admin()), 400,
                 "invalid_query");
  expect_problem(client().get("/v1/leaderboards/points?limit=0", admin()), 400, "invalid_query");
  // Two answers to one question: refused, not the first taken.
  expect_problem(client().get("/v1/leaderboards/points?period=month&period=week", admin()), 400,
                 "invalid_query");
  expect_problem(client().get("/v1/leaderboards/points?member=mem_nobody", admin()), 404,
                 "unknown_member");
}

TEST_F(Gamification, MergesKeepBadgesScoresAndProgress) {
  const auto into = enrol(), from = enrol();
  ok(purchase(into, "20.00"), "store");
  ok(custom(into, "boost"));   // booster 3 of 5
  ok(custom(from, "review"));  // badge "critic"
  ok(purchase(from, "30.00"), "web");
  ok(custom(from, "boost"));
  ok(custom(from, "boost"));  // booster completed by `from`
  auto merged = client().post_json("/v1/members/" + into + "/merge", {{"from", from}}, admin(),
                                   unique("merge-"));
  ASSERT_EQ(merged.status, 200) << merged.body;
  const auto mine = challenges(into);
  EXPECT_EQ(item(mine["items"], "explorer")["progress"], 2) << mine.dump();
  EXPECT_EQ(item(mine["items"], "spender")["progress"], "50.00");
  EXPECT_EQ(item(mine["items"], "reviewer")["progress"], 1) << "moved as it was";
  EXPECT_EQ(item(mine["items"], "booster")["completions"], 1) << "finished by one: finished";
  ASSERT_EQ(mine["badges"].size(), 2u);
  EXPECT_EQ(mine["badges"][0]["badge"], "critic");
  EXPECT_EQ(mine["badges"][1]["badge"], "boosted");
  auto boost = ok(custom(into, "boost"));
  EXPECT_TRUE(effects_of(boost, "challenge_completed").empty()) << "not a second time";
  auto board = client().get("/v1/leaderboards/points?period=all&member=" + into, admin()).json();
  EXPECT_EQ(board["member"]["points"], 50);
  // The store and the web of two cards, then the app: one member, one journey.
  auto app = ok(purchase(into, "10.00"), "app");
  ASSERT_EQ(effects_of(app, "challenge_completed").size(), 1u) << app.dump();
  EXPECT_EQ(effects_of(app, "challenge_completed")[0]["challenge"], "explorer");
}

// Last in the suite: it applies new program versions.
TEST_F(Gamification, ZNewProgramVersionsKeepProgressWhileTheGoalIsUnchanged) {
  const auto id = enrol();
  ok(custom(id, "keep"));
  EXPECT_EQ(progress_of(ok(custom(id, "keep")), "keeper")["progress"], 2);

  // Renamed, same goal: progress kept.
  auto renamed = client().post_json("/v1/admin/program",
                                    {{"source", program("count reaches 3", "Keeper 2")}}, admin());
  ASSERT_EQ(renamed.status, 201) << renamed.body;
  wait_for_challenge("keeper", "Keeper 2");
  EXPECT_EQ(item(challenges(id)["items"], "keeper")["progress"], 2);
  auto third = ok(custom(id, "keep"));
  EXPECT_EQ(effects_of(third, "challenge_completed").size(), 1u) << third.dump();

  // Another member mid-way when the goal changes: its progress starts again.
  const auto other = enrol();
  ok(custom(other, "keep"));
  ok(custom(other, "keep"));
  auto changed = client().post_json("/v1/admin/program",
                                    {{"source", program("count reaches 4", "Keeper 3")}}, admin());
  ASSERT_EQ(changed.status, 201) << changed.body;
  wait_for_challenge("keeper", "Keeper 3");
  EXPECT_EQ(item(challenges(other)["items"], "keeper")["progress"], 0);
  EXPECT_EQ(progress_of(ok(custom(other, "keep")), "keeper")["progress"], 1);
  // A finished challenge stays finished.
  EXPECT_EQ(item(challenges(id)["items"], "keeper")["completed"], true);
}
