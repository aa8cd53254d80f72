#include "circolo/db/secrets.hpp"

#include "circolo/db/query.hpp"

namespace circolo::db::secrets {

namespace {

const std::string kInsert =
    "insert into server_secrets (name, secret) values ($1, $2) on conflict do nothing";
const std::string kSelect = "select secret from server_secrets where name = $1";
const std::string kPlainServerSecrets =
    "select name, secret from server_secrets where secret not like 'v1:%' order by name for "
    "update";
const std::string kSealServerSecret = "update server_secrets set secret = $2 where name = $1";
const std::string kPlainWebhooks =
    "select id, secret from webhook_endpoints where secret not like 'v1:%' order by id for update";
const std::string kSealWebhook = "update webhook_endpoints set secret = $2 where id = $1";

}  // namespace

std::string server_secret(soci::session& sql, const std::string& name, const std::string& fresh,
                          const engine::SecretsKey& key) {
  const auto purpose = engine::server_secret_purpose(name);
  fetch_unprepared(sql, kInsert, {name, key.seal(fresh, purpose)});
  const auto rows = fetch_unprepared(sql, kSelect, {name});
  return key.open(*rows.at(0).at(0), purpose);
}

Sealed seal_plaintext(soci::session& sql, const engine::SecretsKey& key) {
  Sealed sealed;
  for (const auto& row : fetch_unprepared(sql, kPlainServerSecrets)) {
    fetch_unprepared(sql, kSealServerSecret,
                     {row[0], key.seal(*row[1], engine::server_secret_purpose(*row[0]))});
    ++sealed.server_secrets;
  }
  for (const auto& row : fetch_unprepared(sql, kPlainWebhooks)) {
    fetch_unprepared(sql, kSealWebhook,
                     {row[0], key.seal(*row[1], engine::webhook_secret_purpose(*row[0]))});
    ++sealed.webhooks;
  }
  return sealed;
}

}  // namespace circolo::db::secrets
