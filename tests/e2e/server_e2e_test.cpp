// End-to-end: the real circolod binary on port 0, spoken to over HTTP.
#include <gtest/gtest.h>
#include <signal.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <atomic>
#include <future>
#include <thread>

#include "http_client.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Server : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess(database_->uri());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }
  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }

  std::string create_key(const json& body) {
    auto r = client().post_json("/v1/admin/keys", body, admin());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["key"];
  }

  static TestDatabase* database_;
  static ServerProcess* server_;
};

TestDatabase* Server::database_ = nullptr;
ServerProcess* Server::server_ = nullptr;

}  // namespace

TEST_F(Server, HealthReadinessAndMetrics) {
  auto health = client().get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
  auto ready = client().get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.json()["status"], "ready");
  auto metrics = client().get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find(
                R"(circolo_http_requests_total{route="/healthz",method="GET",status="200"})"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("circolo_http_request_duration_seconds_bucket{route=\"/readyz\""),
            std::string::npos);
  EXPECT_NE(metrics.body.find("circolo_db_pool_connections{state=\"idle\"}"), std::string::npos);
}

TEST_F(Server, UnknownPathIs404AndRequestIdIsEchoed) {
  auto r = client().request("GET", "/v1/nothing-here", "", {{"X-Request-Id", "trace-123"}});
  expect_problem(r, 404, "not_found");
  EXPECT_EQ(r.header("x-request-id"), "trace-123");
  EXPECT_EQ(r.json()["request_id"], "trace-123");
  auto generated = client().get("/v1/nothing-here");
  EXPECT_EQ(generated.header("x-request-id").rfind("req_", 0), 0u);
}

TEST_F(Server, WrongMethodIs405WithAllow) {
  auto r = client().request("PUT", "/v1/admin/keys", "{}", {{"Content-Type", "application/json"}});
  expect_problem(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "GET, POST");
}

TEST_F(Server, BodiesOverOneMebibyteAre413) {
  const std::string big(1024 * 1024 + 1, ' ');
  auto r = client().request(
      "POST", "/v1/admin/keys", big,
      {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + admin()}});
  expect_problem(r, 413, "payload_too_large");
  // Chunked bodies have no Content-Length: the limit applies while reading.
  RawConnection raw(server_->port());
  raw.send(
      "POST /v1/admin/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  const std::string chunk(64 * 1024, ' ');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  try {
    for (int i = 0; i < 17; ++i) raw.send(size_line + chunk + "\r\n");
  } catch (const std::exception&) {
    // The server may stop reading once it has refused; its answer is what counts.
  }
  auto chunked = raw.read_response();
  EXPECT_EQ(chunked.status, 413);
  // Exactly 1 MiB is fine (and then refused for its content, not its size).
  const std::string limit(1024 * 1024, ' ');
  auto ok = client().request(
      "POST", "/v1/admin/keys", limit,
      {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + admin()}});
  expect_problem(ok, 400, "malformed_json");
}

TEST_F(Server, OversizedHeadersAre431AndGarbageIs400) {
  RawConnection raw(server_->port());
  raw.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(raw.read_response().status, 431);
  RawConnection garbage(server_->port());
  garbage.send("HELLO WORLD\r\n\r\n");
  EXPECT_EQ(garbage.read_response().status, 400);
}

TEST_F(Server, BadJsonIsAClearProblemNotA500) {
  const std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Type", "application/json"}, {"Authorization", "Bearer " + admin()}};
  expect_problem(client().request("POST", "/v1/admin/keys", R"({"role": "admin", )", headers), 400,
                 "malformed_json");
  expect_problem(client().request("POST", "/v1/admin/keys", "", headers), 400, "malformed_json");
  expect_problem(client().request("POST", "/v1/admin/keys",
                                  std::string(65, '[') + std::string(65, ']'), headers),
                 400, "malformed_json");
  expect_problem(client().request("POST", "/v1/admin/keys", "\xff\xfe", headers), 400,
                 "malformed_json");
  expect_problem(
      client().request("POST", "/v1/admin/keys", R"({"role":"admin"})",
                       {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + admin()}}),
      415, "unsupported_media_type");
  auto invalid = client().post_json("/v1/admin/keys", {{"role", 7}, {"name", nullptr}}, admin());
  expect_problem(invalid, 422, "validation_failed");
  EXPECT_EQ(invalid.json()["errors"].size(), 2u) << invalid.body;
  auto bad_key = client().request("POST", "/v1/admin/keys", "{}",
                                  {{"Content-Type", "application/json"},
                                   {"Authorization", "Bearer " + admin()},
                                   {"Idempotency-Key", std::string(300, 'k')}});
  expect_problem(bad_key, 400, "invalid_idempotency_key");
}

TEST_F(Server, AuthenticationAndRoles) {
  auto none = client().get("/v1/admin/keys");
  expect_problem(none, 401, "unauthenticated");
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  expect_problem(client().get("/v1/admin/keys", "ck_not_a_real_key"), 401, "unauthenticated");
  expect_problem(client().request("GET", "/v1/admin/keys", "", {{"Authorization", "Basic abc"}}),
                 401, "unauthenticated");
  const auto pos =
      create_key({{"role", "touchpoint"}, {"channel", "store"}, {"name", "POS Milano 1"}});
  expect_problem(client().get("/v1/admin/keys", pos), 403, "forbidden");
  EXPECT_EQ(client().get("/v1/admin/keys", admin()).status, 200);
}

TEST_F(Server, KeysAreCreatedShownOnceAndRevoked) {
  auto created =
      client().post_json("/v1/admin/keys", {{"role", "admin"}, {"name", "ops laptop"}}, admin());
  ASSERT_EQ(created.status, 201) << created.body;
  const auto body = created.json();
  const std::string id = body["id"], secret = body["key"];
  EXPECT_EQ(created.header("location"), "/v1/admin/keys/" + id);
  EXPECT_EQ(body["role"], "admin");
  EXPECT_TRUE(body["channel"].is_null());
  EXPECT_EQ(client().get("/v1/admin/keys", secret).status, 200);  // the new key works

  auto listed = client().get("/v1/admin/keys", admin()).json();
  bool found = false;
  for (const auto& item : listed["items"]) {
    if (item["id"] == id) {
      found = true;
      EXPECT_FALSE(item.contains("key"));
      EXPECT_TRUE(item["revoked_at"].is_null());
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(listed.dump().find(secret), std::string::npos) << "the secret is never listed";

  auto revoke = client().request("DELETE", "/v1/admin/keys/" + id, "",
                                 {{"Authorization", "Bearer " + admin()}});
  EXPECT_EQ(revoke.status, 204);
  expect_problem(client().get("/v1/admin/keys", secret), 401, "unauthenticated");
  // Revoking again changes nothing and is not an error.
  EXPECT_EQ(
      client()
          .request("DELETE", "/v1/admin/keys/" + id, "", {{"Authorization", "Bearer " + admin()}})
          .status,
      204);
  expect_problem(client().request("DELETE", "/v1/admin/keys/key_nope", "",
                                  {{"Authorization", "Bearer " + admin()}}),
                 404, "unknown_key");

  // Only the hash is stored.
  soci::session sql(soci::postgresql, database_->conninfo());
  int plain = 0;
  sql << "select count(*) from api_keys where secret_sha256 = :s or name = :s", soci::use(secret),
      soci::use(secret), soci::into(plain);
  EXPECT_EQ(plain, 0);
}

TEST_F(Server, IdempotentReplayAndConflict) {
  const json body{{"role", "touchpoint"}, {"channel", "app"}, {"name", "mobile app"}};
  auto first = client().post_json("/v1/admin/keys", body, admin(), "create-app-key-1");
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.header("idempotent-replayed"), "");
  // Same request, keys in another order: replayed, not applied again.
  auto again = client().request("POST", "/v1/admin/keys",
                                R"({"name":"mobile app","channel":"app","role":"touchpoint"})",
                                {{"Content-Type", "application/json"},
                                 {"Authorization", "Bearer " + admin()},
                                 {"Idempotency-Key", "create-app-key-1"}});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(again.json()["id"], first.json()["id"]);
  EXPECT_TRUE(again.json()["key"].is_null()) << "a secret is shown once, never replayed";

  auto conflict = client().post_json("/v1/admin/keys", {{"role", "admin"}, {"name", "other"}},
                                     admin(), "create-app-key-1");
  expect_problem(conflict, 409, "idempotency_conflict");

  int keys = 0;
  soci::session sql(soci::postgresql, database_->conninfo());
  sql << "select count(*) from api_keys where name = 'mobile app'", soci::into(keys);
  EXPECT_EQ(keys, 1);

  // A refused request stores nothing: the same key can carry the corrected request.
  auto refused = client().post_json("/v1/admin/keys", {{"role", "touchpoint"}, {"name", "kiosk"}},
                                    admin(), "kiosk-1");
  expect_problem(refused, 422, "validation_failed");
  auto fixed = client().post_json("/v1/admin/keys",
                                  {{"role", "touchpoint"}, {"channel", "kiosk"}, {"name", "kiosk"}},
                                  admin(), "kiosk-1");
  EXPECT_EQ(fixed.status, 201) << fixed.body;
}

TEST_F(Server, ConcurrentDuplicatesApplyOnce) {
  const json body{{"role", "touchpoint"}, {"channel", "web"}, {"name", "web shop race"}};
  std::vector<std::future<HttpResult>> results;
  for (int i = 0; i < 6; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      return HttpClient(server_->port()).post_json("/v1/admin/keys", body, admin(), "race-key");
    }));
  }
  int created = 0, replayed = 0;
  std::set<std::string> ids;
  for (auto& f : results) {
    auto r = f.get();
    if (r.status == 201) ++created;
    if (r.status == 200 && r.header("idempotent-replayed") == "true") ++replayed;
    ids.insert(r.json()["id"].get<std::string>());
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(replayed, 5);
  EXPECT_EQ(ids.size(), 1u);
  int keys = 0;
  soci::session sql(soci::postgresql, database_->conninfo());
  sql << "select count(*) from api_keys where name = 'web shop race'", soci::into(keys);
  EXPECT_EQ(keys, 1);
}

// Tests that start servers of their own.

TEST(ServerLifecycle, ReplaySurvivesARestart) {
  TestDatabase database;
  std::string first_id;
  {
    ServerProcess server(database.uri());
    auto r = HttpClient(server.port())
                 .post_json("/v1/admin/keys", {{"role", "admin"}, {"name", "a"}},
                            server.admin_key(), "restart-1");
    ASSERT_EQ(r.status, 201);
    first_id = r.json()["id"];
  }
  ServerProcess server(database.uri());
  auto r = HttpClient(server.port())
               .post_json("/v1/admin/keys", {{"role", "admin"}, {"name", "a"}}, server.admin_key(),
                          "restart-1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("idempotent-replayed"), "true");
  EXPECT_EQ(r.json()["id"], first_id);
}

TEST(ServerLifecycle, GracefulShutdownFinishesTheRequestInFlight) {
  TestDatabase database;
  ServerProcess server(database.uri());
  // An idle keep-alive connection, and a request whose body is still arriving.
  RawConnection idle(server.port());
  idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(idle.read_response().status, 200);

  const std::string body = R"({"role":"admin","name":"in flight"})";
  RawConnection slow(server.port());
  slow.send(
      "POST /v1/admin/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: "
      "Bearer " +
      server.admin_key() + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
      body.substr(0, 10));
  std::this_thread::sleep_for(200ms);
  server.signal(SIGTERM);
  ASSERT_TRUE(server.wait_for_log("signal 15 received", 5s)) << server.log();
  EXPECT_TRUE(idle.closed_by_server(5s)) << "idle connections close at once";
  // New connections are refused once the acceptor is closed.
  std::this_thread::sleep_for(200ms);
  EXPECT_THROW(HttpClient(server.port()).get("/healthz"), std::exception);

  slow.send(body.substr(10));
  auto response = slow.read_response();
  EXPECT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(response.header("connection"), "close");
  EXPECT_EQ(server.wait_exit(20s), 0) << server.log();
  EXPECT_NE(server.log().find("circolod stopped"), std::string::npos);

  soci::session sql(soci::postgresql, database.conninfo());
  int n = 0;
  sql << "select count(*) from api_keys where name = 'in flight'", soci::into(n);
  EXPECT_EQ(n, 1);
}

TEST(ServerLifecycle, ReadyAgainAfterPostgresRestart) {
  TestDatabase database;
  ServerProcess server(database.uri());
  HttpClient client(server.port());
  ASSERT_EQ(client.get("/readyz").status, 200);
  // Concurrent requests just before the restart leave several pooled connections recently used
  // (not pinged before their next use): finding one dead must get the others checked too.
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        HttpClient own(server.port());
        for (int i = 0; i < 5; ++i) own.get("/v1/admin/keys", server.admin_key());
      });
    }
    for (auto& thread : threads) thread.join();
  }
  ASSERT_TRUE(restart_test_pg()) << "CIRCOLO_TEST_PG_RESTART is needed for this test";
  // No server restart: within a few seconds readiness and authenticated requests work again.
  const auto until = std::chrono::steady_clock::now() + 15s;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    try {
      status = client.get("/readyz").status;
    } catch (const std::exception&) {
      status = 0;
    }
    if (status == 200) break;
    EXPECT_TRUE(status == 503 || status == 0) << status;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 200);
  // Concurrent, so that they use every pooled connection, not only the one /readyz replaced.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      HttpClient own(server.port());
      for (int i = 0; i < 5; ++i)
        if (own.get("/v1/admin/keys", server.admin_key()).status != 200) ++failures;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ServerLifecycle, TwoInstancesStartingTogetherMigrateOnce) {
  TestDatabase database;
  std::unique_ptr<ServerProcess> a, b;
  std::thread ta([&] { a = std::make_unique<ServerProcess>(database.uri()); });
  std::thread tb([&] { b = std::make_unique<ServerProcess>(database.uri()); });
  ta.join();
  tb.join();
  EXPECT_EQ(HttpClient(a->port()).get("/readyz").status, 200);
  EXPECT_EQ(HttpClient(b->port()).get("/readyz").status, 200);
  const auto applied_a = a->log().find("applied migration") != std::string::npos;
  const auto applied_b = b->log().find("applied migration") != std::string::npos;
  EXPECT_NE(applied_a, applied_b) << "exactly one instance applies the migrations";
  // A key created through one instance works on the other.
  auto key = HttpClient(a->port()).post_json(
      "/v1/admin/keys", {{"role", "admin"}, {"name", "shared"}}, a->admin_key());
  ASSERT_EQ(key.status, 201);
  EXPECT_EQ(HttpClient(b->port()).get("/v1/admin/keys", key.json()["key"]).status, 200);
}

TEST(ServerLifecycle, StartupFailuresExitWithAClearMessage) {
  auto [code, output] = run_circolod_once({{"CIRCOLO_LISTEN", "127.0.0.1:0"}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("CIRCOLO_DATABASE_URL"), std::string::npos) << output;

  std::tie(code, output) =
      run_circolod_once({{"CIRCOLO_DATABASE_URL", test_pg_conninfo() + " dbname=does_not_exist_db"},
                         {"CIRCOLO_LISTEN", "127.0.0.1:0"}});
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("cannot connect to the database"), std::string::npos) << output;

  TestDatabase database;
  {
    soci::session sql(soci::postgresql, database.conninfo());
    sql << "create table circolo_schema_migrations (version integer primary key, name text not "
           "null, "
           "checksum text not null, applied_at timestamptz not null default now())";
    sql << "insert into circolo_schema_migrations (version, name, checksum) values (999, 'future', "
           "'x')";
  }
  std::tie(code, output) = run_circolod_once(
      {{"CIRCOLO_DATABASE_URL", database.uri()}, {"CIRCOLO_LISTEN", "127.0.0.1:0"}});
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("newer than this circolod"), std::string::npos) << output;

  std::tie(code, output) =
      run_circolod_once({{"CIRCOLO_DATABASE_URL", database.uri()}, {"CIRCOLO_LISTEN", "nonsense"}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("host:port"), std::string::npos) << output;
}

TEST(ServerLifecycle, SilentAndSlowClientsAreTimedOut) {
  TestDatabase database;
  ServerProcess server({database.uri(),
                        "",
                        {{"CIRCOLO_IDLE_TIMEOUT_MS", "300"},
                         {"CIRCOLO_HEADER_TIMEOUT_MS", "300"},
                         {"CIRCOLO_IO_TIMEOUT_MS", "300"}},
                        {}});
  RawConnection silent(server.port());
  EXPECT_TRUE(silent.closed_by_server(3s)) << "a connection that sends nothing is closed";
  RawConnection half_headers(server.port());
  half_headers.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  EXPECT_TRUE(half_headers.closed_by_server(3s))
      << "headers that never end are not waited for forever";
  RawConnection half_body(server.port());
  half_body.send("POST /v1/admin/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ro");
  EXPECT_TRUE(half_body.closed_by_server(3s))
      << "a body that stops arriving is not waited for forever";
  // The server is fine afterwards.
  EXPECT_EQ(HttpClient(server.port()).get("/healthz").status, 200);
}

// A restarted instance that has not read the active program yet must not answer 409 no_program
// (a refusal a POS takes as final, so the customer loses the points): 503 with Retry-After until
// it has, then the event. The program read is held back by a lock on program_state.
TEST(ServerLifecycle, UntilTheProgramIsLoadedRequestsAre503NotARefusal) {
  TestDatabase database;
  const json visit{{"type", "visit"},
                   {"channel", "store"},
                   {"member", {{"identifier", {{"type", "card"}, {"value", "4000 2222"}}}}},
                   {"enroll", true}};
  {
    ServerProcess first(database.uri());
    HttpClient c(first.port());
    ASSERT_EQ(
        c.post_json("/v1/admin/program",
                    {{"source", "campaign \"v\" { rule \"v\" { on visit then award 5 points } }"}},
                    first.admin_key())
            .status,
        201);
  }
  soci::session blocker(soci::postgresql, database.conninfo());
  blocker << "begin";
  blocker << "lock table program_state in access exclusive mode";
  ServerProcess server(ServerProcess::Options{database.uri(), {}, {}, {}, /*wait_ready=*/false});
  HttpClient client(server.port());
  const auto not_ready = client.get("/readyz");
  EXPECT_EQ(not_ready.status, 503) << not_ready.body;
  EXPECT_EQ(not_ready.header("retry-after"), "1");
  for (int i = 0; i < 3; ++i) {
    const auto early = client.post_json("/v1/events", visit, server.admin_key(), "ready-visit");
    expect_problem(early, 503, "not_ready");
    EXPECT_EQ(early.header("retry-after"), "1");
  }
  blocker << "rollback";
  // Loaded within a moment (the reload is retried after a failure, and polled every 5 s).
  const auto until = std::chrono::steady_clock::now() + 10s;
  HttpResult answered;
  while (std::chrono::steady_clock::now() < until) {
    answered = client.post_json("/v1/events", visit, server.admin_key(), "ready-visit");
    if (answered.status != 503) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(answered.status, 201) << answered.body;
  EXPECT_EQ(answered.json()["points"]["available"], 5) << answered.body;
  EXPECT_EQ(client.get("/readyz").status, 200);
}
