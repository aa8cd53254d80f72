// End-to-end: secrets at rest. The token-signing key is stored sealed under the key of the
// server's configuration; a database of an older version, with it in plaintext, has it sealed at
// the next start (tokens minted before stay valid); a server without a key, or with another key,
// refuses to start and changes nothing.
#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>

#include "http_client.hpp"
#include "sealed_secrets.hpp"
#include "server_process.hpp"
#include "test_env.hpp"

using namespace circolo::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string stored_token_secret(const TestDatabase& database) {
  soci::session sql(soci::postgresql, database.conninfo());
  std::string stored;
  sql << "select secret from server_secrets where name = 'member_tokens'", soci::into(stored);
  return stored;
}

std::string new_member(HttpClient& c, const std::string& admin) {
  auto r = c.post_json("/v1/members", {{"identifiers", {{{"type", "crm"}, {"value", "sealed-1"}}}}},
                       admin);
  EXPECT_EQ(r.status, 201) << r.body;
  return r.json()["id"];
}

}  // namespace

TEST(SecretsAtRest, TheTokenSigningKeyIsStoredEncrypted) {
  TestDatabase database;
  auto server = std::make_unique<ServerProcess>(database.uri());
  HttpClient c(server->port());
  const auto id = new_member(c, server->admin_key());
  auto minted = c.post_json("/v1/members/" + id + "/tokens", json::object(), server->admin_key());
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = minted.json()["token"];

  const auto stored = stored_token_secret(database);
  soci::session sql(soci::postgresql, database.conninfo());
  const auto secret = read_server_secret(sql, "member_tokens");
  EXPECT_EQ(stored.rfind("v1:", 0), 0u) << stored;
  EXPECT_GE(secret.size(), 32u);
  EXPECT_EQ(stored.find(secret), std::string::npos) << "the key's bytes are not in the database";

  // As an older version left it: in plaintext. Sealed at the next start, the same key.
  server->signal(SIGTERM);
  ASSERT_EQ(server->wait_exit(20s), 0);
  sql << "update server_secrets set secret = :secret where name = 'member_tokens'",
      soci::use(secret);
  server = std::make_unique<ServerProcess>(database.uri());
  EXPECT_TRUE(server->wait_for_log("encrypted: server=1 webhooks=0", 5s)) << server->log();
  const auto resealed = stored_token_secret(database);
  EXPECT_EQ(resealed.rfind("v1:", 0), 0u) << resealed;
  EXPECT_EQ(read_server_secret(sql, "member_tokens"), secret);
  EXPECT_EQ(HttpClient(server->port()).get("/v1/members/" + id + "/wallet", token).status, 200)
      << "a token minted before is still valid";
}

TEST(SecretsAtRest, AServerWithoutTheKeyOrWithAnotherOneRefusesToStart) {
  TestDatabase database;
  { ServerProcess first(database.uri()); }  // the token-signing key made, sealed
  const auto stored = stored_token_secret(database);
  const std::map<std::string, std::string> base{{"CIRCOLO_DATABASE_URL", database.uri()},
                                                {"CIRCOLO_LISTEN", "127.0.0.1:0"}};
  auto with = [&](std::map<std::string, std::string> extra) {
    extra.insert(base.begin(), base.end());
    return run_circolod_once(extra);
  };

  auto [code, output] = with({{"CIRCOLO_SECRETS_KEY", ""}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("CIRCOLO_SECRETS_KEY_FILE"), std::string::npos) << output;

  std::tie(code, output) = with({{"CIRCOLO_SECRETS_KEY", "not-hex"}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("64 hex digits"), std::string::npos) << output;

  std::tie(code, output) = with({{"CIRCOLO_SECRETS_KEY_FILE", "/nonexistent/secrets-key"}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("cannot read"), std::string::npos) << output;

  std::tie(code, output) =
      with({{"CIRCOLO_SECRETS_KEY",
             "0000000000000000000000000000000000000000000000000000000000000001"}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("does not open the secrets stored in the database"), std::string::npos)
      << output;
  EXPECT_EQ(stored_token_secret(database), stored) << "a refused start changes nothing";

  // The key in a file (a newline after it, as `openssl rand -hex 32 > FILE` writes it).
  const std::string file = "/tmp/circolo-secrets-key-" + std::to_string(::getpid());
  std::ofstream(file) << kTestSecretsKey << "\n";
  {
    ServerProcess server(
        ServerProcess::Options{database.uri(), {}, {{"CIRCOLO_SECRETS_KEY_FILE", file}}, {}, true});
    EXPECT_EQ(HttpClient(server.port()).get("/readyz").status, 200);
  }
  std::remove(file.c_str());
  EXPECT_EQ(stored_token_secret(database), stored);
}
