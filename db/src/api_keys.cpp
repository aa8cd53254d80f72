#include "circolo/db/api_keys.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::api_keys {

namespace {

const std::string kColumns = "id, role, channel, name, " + timestamptz_to_micros("created_at") +
                             ", " + timestamptz_to_micros("revoked_at");

const std::string kInsert =
    "insert into api_keys (id, role, channel, name, secret_sha256, created_at) "
    "values (:id, :role, :channel, :name, :hash, " +
    micros_to_timestamptz(":created") + ")";

const std::string kUpsertBootstrap =
    "insert into api_keys (id, role, channel, name, secret_sha256, created_at) "
    "values (:id, 'admin', null, 'bootstrap admin (CIRCOLO_ADMIN_KEY)', :hash, " +
    micros_to_timestamptz(":now") +
    ") on conflict (id) do update set secret_sha256 = excluded.secret_sha256, revoked_at = null";

const std::string kFindActive =
    "select " + kColumns +
    ", secret_sha256 from api_keys where secret_sha256 = $1 and revoked_at is null";

const std::string kChannelOf = "select channel from api_keys where id = $1";

const std::string kList = "select " + kColumns + " from api_keys order by created_at, id";

const std::string kRevoke = "update api_keys set revoked_at = " + micros_to_timestamptz(":now") +
                            " where id = :id and revoked_at is null";

const std::string kExists = "select count(*) from api_keys where id = :id";

ApiKeyRecord from_row(const soci::row& row) {
  ApiKeyRecord key;
  key.id = row.get<std::string>(0);
  key.role = row.get<std::string>(1);
  if (row.get_indicator(2) == soci::i_ok) key.channel = row.get<std::string>(2);
  key.name = row.get<std::string>(3);
  key.created_at = from_micros(row.get<long long>(4));
  if (row.get_indicator(5) == soci::i_ok) key.revoked_at = from_micros(row.get<long long>(5));
  return key;
}

}  // namespace

void insert(soci::session& sql, const ApiKeyRecord& key, const std::string& secret_sha256) {
  soci::indicator channel_ind = key.channel ? soci::i_ok : soci::i_null;
  const std::string channel = key.channel.value_or("");
  const long long created = to_micros(key.created_at);
  sql << kInsert, soci::use(key.id), soci::use(key.role), soci::use(channel, channel_ind),
      soci::use(key.name), soci::use(secret_sha256), soci::use(created);
}

void upsert_bootstrap(soci::session& sql, const std::string& secret_sha256, engine::TimePoint now) {
  const std::string id = kBootstrapId;
  const long long at = to_micros(now);
  sql << kUpsertBootstrap, soci::use(id), soci::use(secret_sha256), soci::use(at);
}

std::optional<Match> find_active_by_hash(soci::session& sql, const std::string& secret_sha256) {
  // One round trip (libpq directly): this runs on every request.
  const auto rows = fetch(sql, kFindActive, {secret_sha256});
  if (rows.empty()) return std::nullopt;
  const auto& row = rows.front();
  Match match;
  match.key.id = *row[0];
  match.key.role = *row[1];
  match.key.channel = row[2];
  match.key.name = row[3].value_or("");
  match.key.created_at = from_micros(to_int(row[4]));
  if (row[5]) match.key.revoked_at = from_micros(to_int(row[5]));
  match.secret_sha256 = *row[6];
  return match;
}

std::optional<std::string> channel_of(soci::session& sql, const std::string& id) {
  const auto rows = fetch(sql, kChannelOf, {id});
  if (rows.empty()) return std::nullopt;
  return rows.front()[0];
}

std::vector<ApiKeyRecord> list(soci::session& sql) {
  std::vector<ApiKeyRecord> keys;
  soci::rowset<soci::row> rows = (sql.prepare << kList);
  for (const auto& row : rows) keys.push_back(from_row(row));
  return keys;
}

RevokeResult revoke(soci::session& sql, const std::string& id, engine::TimePoint now) {
  const long long at = to_micros(now);
  soci::statement st = (sql.prepare << kRevoke, soci::use(at), soci::use(id));
  st.execute(true);
  if (st.get_affected_rows() > 0) return RevokeResult::revoked;
  int count = 0;
  sql << kExists, soci::use(id), soci::into(count);
  return count > 0 ? RevokeResult::already_revoked : RevokeResult::not_found;
}

}  // namespace circolo::db::api_keys
