#include "circolo/api/http.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/keys.hpp"
#include "circolo/api/metrics.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/settings.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace circolo::api;

TEST(Problem, RendersRfc9457WithStableCode) {
  auto body =
      nlohmann::json::parse(problem_body(http::status::conflict, "insufficient_points",
                                         "only 10 points", {{"points", "too many"}}, "req_1"));
  EXPECT_EQ(body["status"], 409);
  EXPECT_EQ(body["code"], "insufficient_points");
  EXPECT_EQ(body["title"], "Conflict");
  EXPECT_EQ(body["detail"], "only 10 points");
  EXPECT_EQ(body["type"], "https://circolo.dev/problems/insufficient_points");
  EXPECT_EQ(body["errors"][0]["field"], "points");
  EXPECT_EQ(body["request_id"], "req_1");
}

TEST(Problem, InvalidUtf8FromClientDoesNotThrow) {
  EXPECT_NO_THROW(
      problem_body(http::status::bad_request, "x", std::string("bad \xff byte"), {}, ""));
}

TEST(Json, DepthLimitIs64) {
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_NO_THROW(parse_json_limited(nested(64)));
  try {
    parse_json_limited(nested(65));
    FAIL() << "65 levels were accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), "malformed_json");
    EXPECT_EQ(e.status(), http::status::bad_request);
  }
}

TEST(Json, MalformedSaysWhere) {
  try {
    parse_json_limited(R"({"name": )");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), "malformed_json");
    EXPECT_NE(e.detail().find("line 1"), std::string::npos) << e.detail();
  }
}

TEST(Auth, BearerToken) {
  EXPECT_EQ(bearer_token("Bearer abc").value(), "abc");
  EXPECT_EQ(bearer_token("bearer   abc  ").value(), "abc");
  EXPECT_FALSE(bearer_token("Basic abc"));
  EXPECT_FALSE(bearer_token("Bearer "));
  EXPECT_FALSE(bearer_token(""));
  EXPECT_FALSE(bearer_token("Bearer " + std::string(600, 'a')));
}

TEST(Auth, SecretsAndIdsAreRandomAndWellFormed) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto secret = new_key_secret();
    EXPECT_EQ(secret.rfind("ck_", 0), 0u);
    EXPECT_EQ(secret.size(), 3u + 43u);  // 256 bits in base64url
    EXPECT_TRUE(seen.insert(secret).second);
    auto id = new_id("key");
    EXPECT_EQ(id.size(), 4u + 26u);  // 128 bits in base32
    EXPECT_EQ(id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 4), std::string::npos) << id;
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(Auth, RequestAndIdempotencyKeys) {
  EXPECT_TRUE(acceptable_request_id("abc-123_x.y"));
  EXPECT_FALSE(acceptable_request_id("has space"));
  EXPECT_FALSE(acceptable_request_id(std::string(65, 'a')));
  EXPECT_FALSE(acceptable_request_id("line\nbreak"));
  EXPECT_TRUE(acceptable_idempotency_key("pos-7/receipt:1234"));
  EXPECT_FALSE(acceptable_idempotency_key(""));
  EXPECT_FALSE(acceptable_idempotency_key("a b"));
  EXPECT_FALSE(acceptable_idempotency_key(std::string(256, 'k')));
}

TEST(Keys, ParsesAValidRequest) {
  auto r =
      parse_new_key_request({{"role", "touchpoint"}, {"channel", "store"}, {"name", "POS Milano"}});
  EXPECT_EQ(r.role, "touchpoint");
  EXPECT_EQ(r.channel.value(), "store");
  EXPECT_EQ(r.name, "POS Milano");
  auto admin = parse_new_key_request({{"role", "admin"}, {"name", "ops"}});
  EXPECT_FALSE(admin.channel);
}

TEST(Keys, ListsEveryBadField) {
  try {
    parse_new_key_request({{"role", "touchpoint"}, {"name", ""}, {"chanel", "store"}});
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), http::status::unprocessable_entity);
    EXPECT_EQ(e.code(), "validation_failed");
    std::set<std::string> fields;
    for (const auto& f : e.errors()) fields.insert(f.field);
    EXPECT_EQ(fields, (std::set<std::string>{"chanel", "name", "channel"}));
  }
  EXPECT_THROW(parse_new_key_request({{"role", "member"}, {"name", "x"}}), ApiError);
  EXPECT_THROW(parse_new_key_request({{"role", "root"}, {"name", "x"}}), ApiError);
  EXPECT_THROW(parse_new_key_request(nlohmann::json::array()), ApiError);
  EXPECT_THROW(
      parse_new_key_request({{"role", "touchpoint"}, {"name", "x"}, {"channel", "Store!"}}),
      ApiError);
}

TEST(Settings, ListenAddress) {
  std::string host;
  std::uint16_t port = 1;
  parse_listen("127.0.0.1:0", host, port);
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  parse_listen("[::1]:8080", host, port);
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 8080);
  parse_listen(":9000", host, port);
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_THROW(parse_listen("localhost", host, port), std::invalid_argument);
  EXPECT_THROW(parse_listen("h:70000", host, port), std::invalid_argument);
  EXPECT_THROW(parse_listen("h:12ab", host, port), std::invalid_argument);
}

TEST(Settings, FlagsEnvironmentAndValidation) {
  ::setenv("CIRCOLO_DATABASE_URL", "dbname=from_env", 1);
  ::setenv("CIRCOLO_LISTEN", "127.0.0.1:7000", 1);
  ::setenv("CIRCOLO_SECRETS_KEY", std::string(64, 'a').c_str(), 1);
  const char* argv[] = {"circolod", "--listen", "0.0.0.0:7001"};
  auto r = parse_settings(3, argv);
  ASSERT_TRUE(r.settings) << r.message;
  EXPECT_EQ(r.settings->database_url, "dbname=from_env");
  EXPECT_EQ(r.settings->listen_port, 7001);  // the flag wins over the environment
  ::unsetenv("CIRCOLO_DATABASE_URL");
  ::unsetenv("CIRCOLO_LISTEN");

  // Without the secrets key the server does not start: it would keep secrets in plaintext.
  ::unsetenv("CIRCOLO_SECRETS_KEY");
  const char* keyless[] = {"circolod", "--database-url", "x"};
  r = parse_settings(3, keyless);
  EXPECT_FALSE(r.settings);
  EXPECT_NE(r.message.find("CIRCOLO_SECRETS_KEY"), std::string::npos) << r.message;
  EXPECT_EQ(r.exit_code, 2);
  ::setenv("CIRCOLO_SECRETS_KEY", std::string(64, 'a').c_str(), 1);

  const char* none[] = {"circolod"};
  r = parse_settings(1, none);
  EXPECT_FALSE(r.settings);
  EXPECT_NE(r.message.find("CIRCOLO_DATABASE_URL"), std::string::npos);
  EXPECT_EQ(r.exit_code, 2);

  const char* weak[] = {"circolod", "--database-url", "x", "--admin-key", "short"};
  r = parse_settings(5, weak);
  EXPECT_FALSE(r.settings);
  EXPECT_NE(r.message.find("16"), std::string::npos);

  const char* retention[] = {"circolod", "--database-url", "x", "--idempotency-retention-hours",
                             "24"};
  r = parse_settings(5, retention);
  EXPECT_FALSE(r.settings) << "idempotency keys must be kept at least 7 days";
  ::unsetenv("CIRCOLO_SECRETS_KEY");
}

TEST(Metrics, CountsAndHistograms) {
  Metrics m;
  m.observe("/v1/admin/keys", "POST", 201, std::chrono::microseconds(800));
  m.observe("/v1/admin/keys", "POST", 201, std::chrono::milliseconds(30));
  m.observe("/v1/admin/keys", "POST", 422, std::chrono::microseconds(100));
  const auto text = m.render({8, 1, 7, 2});
  EXPECT_NE(
      text.find(
          R"(circolo_http_requests_total{route="/v1/admin/keys",method="POST",status="201"} 2)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(circolo_http_requests_total{route="/v1/admin/keys",method="POST",status="422"} 1)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(circolo_http_request_duration_seconds_bucket{route="/v1/admin/keys",le="0.001"} 2)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(circolo_http_request_duration_seconds_bucket{route="/v1/admin/keys",le="0.025"} 2)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(circolo_http_request_duration_seconds_bucket{route="/v1/admin/keys",le="0.05"} 3)"),
      std::string::npos);
  EXPECT_NE(text.find(R"(circolo_http_request_duration_seconds_count{route="/v1/admin/keys"} 3)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(circolo_db_pool_connections{state="in_use"} 1)"), std::string::npos);
  EXPECT_NE(text.find("circolo_db_reconnects_total 2"), std::string::npos);
}
