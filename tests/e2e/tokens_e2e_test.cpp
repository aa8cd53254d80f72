// End-to-end: what a leaked key or token can still do once it is taken back. Member tokens die
// with the key that minted them and with "sign out everywhere"; they live an hour at most; an
// open stream is closed when its key is revoked or its token revoked or expired; one key or
// member holds a few streams at once; a client's WebSocket messages are tiny.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <chrono>
#include <memory>
#include <vector>

#include "circolo/engine/digest.hpp"
#include "http_client.hpp"
#include "sealed_secrets.hpp"
#include "server_process.hpp"
#include "stream_client.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Tokens : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new TestDatabase();
    server_ = new ServerProcess({database_->uri(),
                                 "",
                                 {{"CIRCOLO_STREAM_RECHECK_MS", "200"},
                                  {"CIRCOLO_STREAMS_PER_PRINCIPAL", "2"},
                                  {"CIRCOLO_TRUSTED_PROXIES", "127.0.0.11"}},
                                 {}});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete database_;
  }
  HttpClient client() { return HttpClient(server_->port()); }
  const std::string& admin() { return server_->admin_key(); }

  struct Key {
    std::string id, secret;
  };
  Key touchpoint() {
    static int n = 0;
    auto r = client().post_json(
        "/v1/admin/keys",
        {{"role", "touchpoint"}, {"channel", "app"}, {"name", "app " + std::to_string(++n)}},
        admin());
    EXPECT_EQ(r.status, 201) << r.body;
    return {r.json()["id"], r.json()["key"]};
  }
  std::string member() {
    static int n = 0;
    auto r = client().post_json(
        "/v1/members",
        {{"identifiers", {{{"type", "crm"}, {"value", "tokens-" + std::to_string(++n)}}}}},
        touchpoint().secret);  // enrolled on the app channel, whose keys mint its tokens
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"];
  }
  std::string mint(const std::string& member_id, const std::string& key, long long ttl = 900) {
    auto r =
        client().post_json("/v1/members/" + member_id + "/tokens", {{"ttl_seconds", ttl}}, key);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["token"];
  }
  int wallet(const std::string& member_id, const std::string& token) {
    return client().get("/v1/members/" + member_id + "/wallet", token).status;
  }
  HttpResult del(const std::string& target, const std::string& key) {
    return client().request("DELETE", target, "", {{"Authorization", "Bearer " + key}});
  }
  void revoke(const Key& key) {
    auto r = del("/v1/admin/keys/" + key.id, admin());
    ASSERT_EQ(r.status, 204) << r.body;
  }
  // The stream's end: closed by the server with a reason, within `timeout`.
  static std::string closed_because(StreamClient& stream, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (!stream.next(timeout)) break;  // events before the end are skipped
    }
    if (stream.timed_out()) return "(still open)";
    return std::string(stream.reason().reason.c_str());
  }

  static inline TestDatabase* database_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
};

TEST_F(Tokens, DieWithTheKeyThatMintedThem) {
  const auto key = touchpoint();
  const auto id = member();
  const auto token = mint(id, key.secret);
  ASSERT_EQ(wallet(id, token), 200);
  revoke(key);
  const auto refused = client().get("/v1/members/" + id + "/wallet", token);
  expect_problem(refused, 401, "token_revoked");
}

TEST_F(Tokens, SignOutEverywhereRevokesEveryTokenOfTheMember) {
  const auto key = touchpoint();
  const auto id = member();
  const auto first = mint(id, key.secret), second = mint(id, key.secret);
  const auto other = member();
  const auto others = mint(other, key.secret);
  // A member token reaches its own member only.
  expect_problem(del("/v1/members/" + id + "/tokens", others), 403, "forbidden");
  auto out = del("/v1/members/" + id + "/tokens", first);
  ASSERT_EQ(out.status, 204) << out.body;
  expect_problem(client().get("/v1/members/" + id + "/wallet", first), 401, "token_revoked");
  expect_problem(client().get("/v1/members/" + id + "/wallet", second), 401, "token_revoked");
  EXPECT_EQ(wallet(other, others), 200) << "another member's tokens stand";
  EXPECT_EQ(wallet(id, mint(id, key.secret)), 200) << "a token minted afterwards works";
  expect_problem(del("/v1/members/mem_none/tokens", admin()), 404, "unknown_member");
}

TEST_F(Tokens, LiveAnHourAtMost) {
  const auto key = touchpoint();
  const auto id = member();
  mint(id, key.secret, 3600);
  expect_problem(
      client().post_json("/v1/members/" + id + "/tokens", {{"ttl_seconds", 3601}}, key.secret), 422,
      "validation_failed");
}

TEST_F(Tokens, AStreamIsClosedWhenItsKeyIsRevoked) {
  const auto key = touchpoint();
  StreamClient stream(server_->port(), "/v1/stream", key.secret);
  revoke(key);
  EXPECT_EQ(closed_because(stream, 3000ms), "the key was revoked");
}

TEST_F(Tokens, AStreamIsClosedWhenItsTokenIsRevoked) {
  const auto key = touchpoint();
  const auto id = member();
  const auto token = mint(id, key.secret);
  StreamClient stream(server_->port(), "/v1/stream", token);
  ASSERT_EQ(del("/v1/members/" + id + "/tokens", admin()).status, 204);
  EXPECT_EQ(closed_because(stream, 3000ms), "the member token was revoked");
}

// A token that expires while its stream is open: signed here with the installation's secret
// (tokens live a minute at least when minted through the API).
TEST_F(Tokens, AStreamIsClosedWhenItsTokenExpires) {
  const auto key = touchpoint();
  const auto id = member();
  std::string secret;
  {
    soci::session sql(soci::postgresql, database_->conninfo());
    secret = read_server_secret(sql, "member_tokens");
  }
  const auto expires = std::chrono::duration_cast<std::chrono::seconds>(
                           (std::chrono::system_clock::now() + 2s).time_since_epoch())
                           .count();
  const std::string body = "mt_" + id + "." + std::to_string(expires) + "." + key.id + ".0";
  const auto token = body + "." + circolo::engine::hmac_sha256_hex(secret, body);
  ASSERT_EQ(wallet(id, token), 200) << "the hand-made token is a valid one";
  StreamClient stream(server_->port(), "/v1/stream", token);
  EXPECT_EQ(closed_because(stream, 5000ms), "the member token expired");
}

TEST_F(Tokens, AKeyHoldsAFewStreamsAtOnce) {
  const auto key = touchpoint();
  auto first = std::make_unique<StreamClient>(server_->port(), "/v1/stream", key.secret);
  auto second = std::make_unique<StreamClient>(server_->port(), "/v1/stream", key.secret);
  auto upgrade = [&] {
    return client().request("GET", "/v1/stream", "",
                            {{"Authorization", "Bearer " + key.secret},
                             {"Connection", "Upgrade"},
                             {"Upgrade", "websocket"},
                             {"Sec-WebSocket-Version", "13"},
                             {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  };
  expect_problem(upgrade(), 429, "too_many_streams");
  // Another key is not affected.
  StreamClient others(server_->port(), "/v1/stream", touchpoint().secret);
  // A closed stream frees its place.
  first.reset();
  bool opened = false;
  for (int i = 0; i < 50 && !opened; ++i) {
    try {
      StreamClient again(server_->port(), "/v1/stream", key.secret);
      opened = true;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_TRUE(opened);
}

TEST_F(Tokens, AStreamRefusesLargeClientMessages) {
  StreamClient stream(server_->port(), "/v1/stream", touchpoint().secret);
  stream.send(std::string(64 * 1024, 'x'));
  EXPECT_NE(closed_because(stream, 3000ms), "(still open)")
      << "a 64 KiB message from the client ends the stream";
}

// The finding: a web key minted a token for a store customer, then transferred its points. A
// touchpoint mints tokens only for members its channel served.
TEST_F(Tokens, ATouchpointMintsTokensOnlyForMembersItsChannelServed) {
  const auto id = member();  // enrolled on the app channel
  auto web = client().post_json("/v1/admin/keys",
                                {{"role", "touchpoint"}, {"channel", "web"}, {"name", "web shop"}},
                                admin());
  ASSERT_EQ(web.status, 201) << web.body;
  const std::string web_key = web.json()["key"];
  expect_problem(client().post_json("/v1/members/" + id + "/tokens", json::object(), web_key), 403,
                 "forbidden");
  // Once the member shops on the web (an identifier linked there), the web mints its tokens.
  ASSERT_EQ(client()
                .post_json("/v1/members/" + id + "/identifiers",
                           {{"type", "web"}, {"value", "web-" + id}}, web_key)
                .status,
            201);
  EXPECT_EQ(client().post_json("/v1/members/" + id + "/tokens", json::object(), web_key).status,
            201);
  EXPECT_EQ(client().post_json("/v1/members/" + id + "/tokens", json::object(), admin()).status,
            201)
      << "an admin mints for anyone";
}

// The findings: one member token made 2,000 coupon guesses in 0.75 s. A member token checks 20
// codes at once, then one every 2 s; staff keys are not slowed down.
TEST_F(Tokens, AMemberTokenGuessingCodesIsSlowedDown) {
  const auto key = touchpoint();
  const auto id = member();
  const auto token = mint(id, key.secret);
  int refused = 0;
  HttpResult last;
  for (int i = 0; i < 40; ++i) {
    auto r = client().post_json("/v1/coupons/validate",
                                {{"code", "GUESS-" + std::to_string(1000000000 + i)}}, token);
    if (r.status == 429) {
      ++refused;
      last = r;
    }
  }
  EXPECT_GE(refused, 15) << "20 at once, then one every 2 s";
  expect_problem(last, 429, "rate_limited");
  EXPECT_FALSE(last.header("retry-after").empty());
  // Another member's token, and a staff key, are not affected.
  EXPECT_NE(client()
                .post_json("/v1/coupons/validate", {{"code", "GUESS-1"}, {"member", id}}, admin())
                .status,
            429);
}

// Failed authentications are limited per client address (each costs a database lookup): after
// 100, an address waits, and the others do not.
TEST_F(Tokens, FailedAuthenticationsAreLimitedPerAddress) {
  int limited = 0;
  for (int i = 0; i < 130 && limited == 0; ++i) {
    RawConnection c(server_->port(), "127.0.0.9");
    c.send("GET /v1/admin/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ck_wrong" +
           std::to_string(i) + "\r\n\r\n");
    const auto r = c.read_response(3s);
    if (r.status == 429) ++limited;
  }
  EXPECT_EQ(limited, 1) << "refused before 130 failures";
  // A good key from that address is refused too until it may try again; from another, served.
  RawConnection again(server_->port(), "127.0.0.9");
  again.send("GET /v1/admin/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin() +
             "\r\n\r\n");
  EXPECT_EQ(again.read_response(3s).status, 429);
  RawConnection other(server_->port(), "127.0.0.10");
  other.send("GET /v1/admin/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin() +
             "\r\n\r\n");
  EXPECT_EQ(other.read_response(3s).status, 200);
}

// The same limit on the stream's upgrade: guessing keys through /v1/stream is no way around it.
TEST_F(Tokens, FailedStreamAuthenticationsAreLimitedPerAddress) {
  auto upgrade = [&](const std::string& from, const std::string& key) {
    RawConnection c(server_->port(), from);
    c.send(
        "GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Authorization: Bearer " +
        key + "\r\n\r\n");
    return c.read_response(3s).status;
  };
  EXPECT_EQ(upgrade("127.0.0.12", "ck_wrong"), 401);
  int limited = 0;
  for (int i = 0; i < 130 && limited == 0; ++i)
    limited += upgrade("127.0.0.12", "ck_wrong" + std::to_string(i)) == 429;
  EXPECT_EQ(limited, 1) << "refused before 130 failures";
  EXPECT_EQ(upgrade("127.0.0.12", admin()), 429) << "until the address may try again";
  EXPECT_EQ(upgrade("127.0.0.13", admin()), 101) << "another address opens its stream";
}

// A touchpoint key looks members up one customer at a time: listing them is slowed down.
TEST_F(Tokens, ATouchpointListingMembersIsSlowedDown) {
  const auto key = touchpoint();
  int limited = 0;
  for (int i = 0; i < 200 && limited == 0; ++i) {
    auto r = client().get("/v1/members/lookup?type=card&value=" + std::to_string(7000000 + i),
                          key.secret);
    if (r.status == 429) ++limited;
  }
  EXPECT_EQ(limited, 1);
  EXPECT_EQ(client().get("/v1/members/lookup?type=card&value=1234567", admin()).status, 404)
      << "an admin key is not slowed down";
}

// Behind a load balancer every client has its address: the one it forwards counts instead, when
// the balancer is trusted (CIRCOLO_TRUSTED_PROXIES), so one client cannot lock the others out.
TEST_F(Tokens, BehindATrustedProxyTheForwardedAddressCounts) {
  std::string last_refusal;
  const auto through_proxy = [&](const std::string& client, const std::string& key) {
    RawConnection c(server_->port(), "127.0.0.11");
    c.send("GET /v1/admin/keys HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1, " + client +
           "\r\nAuthorization: Bearer " + key + "\r\n\r\n");
    const auto r = c.read_response(3s);
    if (r.status == 429) last_refusal = r.body;
    return r.status;
  };
  int limited = 0;
  for (int i = 0; i < 130 && limited == 0; ++i)
    limited += through_proxy("203.0.113.7", "ck_wrong" + std::to_string(i)) == 429;
  EXPECT_EQ(limited, 1);
  EXPECT_EQ(through_proxy("203.0.113.7", admin()), 429);
  EXPECT_EQ(through_proxy("203.0.113.8", admin()), 200)
      << "another client behind the proxy: " << last_refusal;
}

}  // namespace
