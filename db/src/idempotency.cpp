#include "circolo/db/idempotency.hpp"

#include "circolo/db/time.hpp"

namespace circolo::db::idempotency {

namespace {

// status_code 0 marks a claim whose transaction has not stored its response yet; no other
// transaction ever sees such a row, because claim and store commit together.
const std::string kClaim =
    "insert into idempotency_keys (api_key_id, idempotency_key, request_sha256, status_code, "
    "response_content_type, response_body, created_at) values (:scope, :key, :hash, 0, '', '', " +
    micros_to_timestamptz(":now") + ") on conflict do nothing returning 1";

const std::string kLoad =
    "select request_sha256, status_code, response_content_type, response_body from "
    "idempotency_keys where api_key_id = :scope and idempotency_key = :key";

const std::string kStore =
    "update idempotency_keys set status_code = :status, response_content_type = :ct, "
    "response_body = :body where api_key_id = :scope and idempotency_key = :key";

const std::string kPurge =
    "delete from idempotency_keys where created_at < " + micros_to_timestamptz(":cutoff");

}  // namespace

Claim claim(soci::session& sql, const std::string& scope, const std::string& key,
            const std::string& request_sha256, engine::TimePoint now) {
  const long long at = to_micros(now);
  int inserted = 0;
  sql << kClaim, soci::use(scope), soci::use(key), soci::use(request_sha256), soci::use(at),
      soci::into(inserted);
  Claim result;
  if (sql.got_data()) return result;

  std::string stored_hash;
  result.stored.status = 0;
  sql << kLoad, soci::use(scope), soci::use(key), soci::into(stored_hash),
      soci::into(result.stored.status), soci::into(result.stored.content_type),
      soci::into(result.stored.body);
  result.kind = stored_hash == request_sha256 ? Claim::Kind::replay : Claim::Kind::conflict;
  return result;
}

void store(soci::session& sql, const std::string& scope, const std::string& key,
           const StoredResponse& response) {
  sql << kStore, soci::use(response.status), soci::use(response.content_type),
      soci::use(response.body), soci::use(scope), soci::use(key);
}

long long purge_before(soci::session& sql, engine::TimePoint cutoff) {
  const long long at = to_micros(cutoff);
  soci::statement st = (sql.prepare << kPurge, soci::use(at));
  st.execute(true);
  return st.get_affected_rows();
}

}  // namespace circolo::db::idempotency
