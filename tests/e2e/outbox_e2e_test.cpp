// End-to-end: outgoing events reach touchpoints. The feed with concurrent writers (nothing
// skipped, nothing twice, in order per member), filters and retention; the WebSocket stream
// (backlog then live, member tokens, reconnects, slow clients).
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "http_client.hpp"
#include "server_process.hpp"
#include "stream_client.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

namespace {

class Outbox : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    ServerProcess::Options options{database_->uri(), {}, {{"CIRCOLO_STREAM_QUEUE", "20"}}, {}};
    server_ = new ServerProcess(options);
    HttpClient c(server_->port());
    auto key =
        c.post_json("/v1/admin/keys", {{"role", "touchpoint"}, {"channel", "app"}, {"name", "app"}},
                    server_->admin_key());
    app_key_ = key.json()["key"];
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }
  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }
  std::string member() {
    static int members = 0;
    auto r = client().post_json(
        "/v1/members",
        {{"identifiers", {{{"type", "crm"}, {"value", "outbox-" + std::to_string(++members)}}}}},
        admin());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"];
  }
  // One points.earned event for the member (its balance after is in the event).
  void earn(const std::string& id, HttpClient& c) {
    auto r = c.post_json("/v1/members/" + id + "/points/adjust",
                         {{"points", 1}, {"reason", "feed test"}}, admin());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  long long last_seq() {
    // After everything: never older than the retention horizon.
    return client().get("/v1/feed?limit=1", admin()).json()["last_seq"];
  }
  static TestDatabase* database_;
  static ServerProcess* server_;
  static std::string app_key_;
};

TestDatabase* Outbox::database_ = nullptr;
ServerProcess* Outbox::server_ = nullptr;
std::string Outbox::app_key_;

}  // namespace

TEST_F(Outbox, AFollowerSeesEveryEventOnceInOrderWhileEightWritersWrite) {
  constexpr int kWriters = 8, kEach = 40;
  std::vector<std::string> members;
  for (int i = 0; i < kWriters; ++i) members.push_back(member());
  const long long start = last_seq();

  std::atomic<bool> writing{true};
  std::vector<json> seen;
  std::thread follower([&] {
    HttpClient c(server_->port());
    long long after = start;
    for (;;) {
      const bool last_round = !writing;
      auto page =
          c.get("/v1/feed?types=points.earned&limit=50&after=" + std::to_string(after), admin());
      ASSERT_EQ(page.status, 200) << page.body;
      const auto body = page.json();
      for (const auto& e : body["items"]) seen.push_back(e);
      after = body["next_after"];
      if (body["items"].empty()) {
        if (last_round) break;
        std::this_thread::sleep_for(2ms);
      }
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      HttpClient c(server_->port());
      for (int i = 0; i < kEach; ++i) earn(members[static_cast<std::size_t>(w)], c);
    });
  }
  for (auto& t : writers) t.join();
  std::this_thread::sleep_for(600ms);  // longer than the publisher's backstop
  writing = false;
  follower.join();

  std::set<long long> seqs;
  std::map<std::string, std::vector<long long>> balances;
  long long previous = start;
  for (const auto& e : seen) {
    const long long seq = e["seq"];
    EXPECT_GT(seq, previous) << "seq order";
    previous = seq;
    EXPECT_TRUE(seqs.insert(seq).second) << "seen twice: " << seq;
    balances[e["member_id"]].push_back(e["data"]["balance"]);
  }
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kWriters * kEach));
  for (const auto& id : members) {
    const auto& b = balances[id];
    ASSERT_EQ(b.size(), static_cast<std::size_t>(kEach)) << id;
    for (int i = 0; i < kEach; ++i) EXPECT_EQ(b[static_cast<std::size_t>(i)], i + 1) << id;
  }
}

TEST_F(Outbox, FeedFiltersScopesAndRefusals) {
  const auto a = member(), b = member();
  HttpClient c(server_->port());
  earn(a, c);
  earn(b, c);
  earn(a, c);
  std::this_thread::sleep_for(400ms);
  auto mine = c.get("/v1/feed?member=" + a, admin()).json();
  ASSERT_EQ(mine["items"].size(), 2u) << mine.dump();
  for (const auto& e : mine["items"]) {
    EXPECT_EQ(e["member_id"], a);
    EXPECT_EQ(e["type"], "points.earned");
    EXPECT_TRUE(e.contains("id") && e.contains("seq") && e.contains("at") && e.contains("data"));
  }
  EXPECT_TRUE(
      c.get("/v1/feed?member=" + a + "&types=coupon.issued", admin()).json()["items"].empty());
  // Resumable: after the first item only the second comes.
  const long long first = mine["items"][0]["seq"];
  auto rest = c.get("/v1/feed?member=" + a + "&after=" + std::to_string(first), admin()).json();
  ASSERT_EQ(rest["items"].size(), 1u);
  EXPECT_EQ(rest["items"][0]["seq"], mine["items"][1]["seq"]);

  // A member token follows its own member only.
  auto minted = c.post_json("/v1/members/" + a + "/tokens", json::object(), admin(), "tok-" + a);
  const std::string token = minted.json()["token"];
  auto own = c.get("/v1/feed", token).json();
  for (const auto& e : own["items"]) EXPECT_EQ(e["member_id"], a);
  EXPECT_EQ(own["items"].size(), 2u);
  expect_problem(c.get("/v1/feed?member=" + b, token), 403, "forbidden");

  expect_problem(c.get("/v1/feed?after=-1", admin()), 400, "invalid_query");
  expect_problem(c.get("/v1/feed?limit=0", admin()), 400, "invalid_query");
  expect_problem(c.get("/v1/feed?types=Points%20Earned", admin()), 400, "invalid_query");
  // A type no event has, and a cursor beyond the last published seq, are mistakes: said so.
  auto typo = c.get("/v1/feed?types=points.earned,points.earnd", admin());
  expect_problem(typo, 400, "invalid_query");
  EXPECT_NE(typo.json()["detail"].get<std::string>().find(
                "unknown event type 'points.earnd' in types; valid: points.earned, points.spent"),
            std::string::npos)
      << typo.body;
  const long long last = last_seq();
  auto ahead = c.get("/v1/feed?after=" + std::to_string(last + 1000), admin());
  expect_problem(ahead, 400, "invalid_cursor");
  EXPECT_NE(ahead.json()["detail"].get<std::string>().find("beyond the last published seq (" +
                                                           std::to_string(last)),
            std::string::npos)
      << ahead.body;
  EXPECT_EQ(c.get("/v1/feed?after=" + std::to_string(last), admin()).status, 200);
  expect_problem(c.get("/v1/feed"), 401, "unauthenticated");
}

TEST_F(Outbox, ACursorOlderThanRetentionIsGone) {
  HttpClient c(server_->port());
  const auto a = member();
  earn(a, c);
  earn(a, c);
  std::this_thread::sleep_for(400ms);
  const long long last = last_seq();
  {
    soci::session sql(soci::postgresql, database_->conninfo());
    // What the retention job leaves behind (db::outbox::purge_before, tested in pg_tests).
    sql << "delete from outbox where seq <= " << (last - 1);
    sql << "update outbox_state set purged_through = " << (last - 1) << " where id = 1";
  }
  auto gone = c.get("/v1/feed?after=0", admin());
  expect_problem(gone, 410, "cursor_expired");
  EXPECT_EQ(gone.json()["purged_through"], last - 1);
  auto fine = c.get("/v1/feed?after=" + std::to_string(last - 1), admin());
  ASSERT_EQ(fine.status, 200) << fine.body;
  EXPECT_EQ(fine.json()["items"].size(), 1u);
}

TEST_F(Outbox, TheStreamSendsTheBacklogThenLiveEvents) {
  HttpClient c(server_->port());
  const auto a = member(), b = member();
  const long long before = last_seq();
  earn(a, c);
  earn(b, c);
  std::this_thread::sleep_for(400ms);
  StreamClient stream(server_->port(), "/v1/stream?after=" + std::to_string(before), admin());
  auto first = stream.next();
  auto second = stream.next();
  ASSERT_TRUE(first && second);
  EXPECT_EQ((*first)["member_id"], a);
  EXPECT_EQ((*second)["member_id"], b);
  EXPECT_GT((*second)["seq"], (*first)["seq"]);

  // Live: an event committed now arrives at once.
  const auto sent = std::chrono::steady_clock::now();
  earn(a, c);
  auto live = stream.next(3000ms);
  ASSERT_TRUE(live) << "no live event";
  EXPECT_EQ((*live)["member_id"], a);
  EXPECT_EQ((*live)["data"]["balance"], 2);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 1s);

  // A member token sees its own member only; reconnecting with the last seq resumes exactly.
  auto minted = c.post_json("/v1/members/" + b + "/tokens", json::object(), admin(), "tok-" + b);
  StreamClient own(server_->port(), "/v1/stream?after=" + std::to_string(before),
                   minted.json()["token"].get<std::string>());
  auto only = own.next();
  ASSERT_TRUE(only);
  EXPECT_EQ((*only)["member_id"], b);
  earn(a, c);
  earn(b, c);
  auto next_own = own.next(3000ms);
  ASSERT_TRUE(next_own);
  EXPECT_EQ((*next_own)["member_id"], b);
  EXPECT_EQ((*next_own)["data"]["balance"], 2);

  StreamClient again(server_->port(), "/v1/stream?after=" + (*live)["seq"].dump(), admin());
  auto resumed = again.next();
  ASSERT_TRUE(resumed);
  EXPECT_GT((*resumed)["seq"], (*live)["seq"]);
  EXPECT_EQ((*resumed)["member_id"], a);
}

TEST_F(Outbox, TheStreamRefusesBadRequestsBeforeUpgrading) {
  auto plain = client().request("GET", "/v1/stream", "",
                                {{"Connection", "Upgrade"},
                                 {"Upgrade", "websocket"},
                                 {"Sec-WebSocket-Version", "13"},
                                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  expect_problem(plain, 401, "unauthenticated");
  EXPECT_THROW(StreamClient(server_->port(), "/v1/stream?after=x", admin()), std::exception);
  auto twice = client().request("GET", "/v1/stream?after=0&after=5", "",
                                {{"Authorization", "Bearer " + admin()},
                                 {"Connection", "Upgrade"},
                                 {"Upgrade", "websocket"},
                                 {"Sec-WebSocket-Version", "13"},
                                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  expect_problem(twice, 400, "invalid_query");
  auto upgrade = [&](const std::string& target) {
    return client().request("GET", target, "",
                            {{"Authorization", "Bearer " + admin()},
                             {"Connection", "Upgrade"},
                             {"Upgrade", "websocket"},
                             {"Sec-WebSocket-Version", "13"},
                             {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  };
  auto typo = upgrade("/v1/stream?types=coupon.isued");
  expect_problem(typo, 400, "invalid_query");
  EXPECT_NE(typo.body.find("unknown event type 'coupon.isued'"), std::string::npos) << typo.body;
  expect_problem(upgrade("/v1/stream?after=" + std::to_string(last_seq() + 1000)), 400,
                 "invalid_cursor");
  // Not an upgrade: told to upgrade (after the key is checked).
  auto plain_get = client().get("/v1/stream", admin());
  expect_problem(plain_get, 426, "upgrade_required");
  EXPECT_EQ(plain_get.header("upgrade"), "websocket");
  expect_problem(client().get("/v1/stream"), 401, "unauthenticated");
}

TEST_F(Outbox, ASlowClientIsDroppedWithoutSlowingTheOthers) {
  HttpClient c(server_->port());
  const auto a = member();
  const long long from = last_seq();
  // The slow one never reads (and has a tiny receive buffer); the fast one reads everything.
  StreamClient slow(server_->port(), "/v1/stream", admin(), 2048);
  StreamClient fast(server_->port(), "/v1/stream", admin());
  std::this_thread::sleep_for(200ms);
  constexpr int kEvents = 600;
  std::atomic<int> received{0};
  std::thread reader([&] {
    while (received < kEvents) {
      auto e = fast.next(10000ms);
      if (!e) break;
      ++received;
    }
  });
  for (int i = 0; i < kEvents; ++i) earn(a, c);
  reader.join();
  EXPECT_EQ(received.load(), kEvents) << "the fast client got every event";
  // The slow client was dropped: reading what it has ends with the stream closed.
  int got = 0;
  while (slow.next(3000ms)) ++got;
  EXPECT_FALSE(slow.timed_out()) << "still open after " << got << " events";
  EXPECT_LT(got, kEvents);
  // A close frame, when the connection still took one, says why.
  if (slow.error() == websocket::error::closed) {
    EXPECT_EQ(slow.reason().code, websocket::close_code::policy_error);
  }
  (void)from;
}
