#include "circolo/db/idempotency.hpp"

#include <stdexcept>

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::idempotency {

namespace {

// status_code 0 marks a claim whose transaction has not stored its response yet; no other
// transaction ever sees such a row, because claim and store commit together.
const std::string kClaim =
    "insert into idempotency_keys (api_key_id, idempotency_key, request_sha256, status_code, "
    "response_content_type, response_body, created_at) values ($1, $2, $3, 0, '', '', " +
    micros_to_timestamptz("$4::bigint") + ") on conflict do nothing returning 1";

const std::string kLoad =
    "select request_sha256, status_code, response_content_type, response_body from "
    "idempotency_keys where api_key_id = $1 and idempotency_key = $2";

const std::string kStore =
    "update idempotency_keys set status_code = $1, response_content_type = $2, response_body = $3 "
    "where api_key_id = $4 and idempotency_key = $5";

const std::string kPurge =
    "delete from idempotency_keys where created_at < " + micros_to_timestamptz(":cutoff");

}  // namespace

// One round trip per statement (libpq directly): these run on every mutating request.
Claim claim(Transaction& tx, soci::session& sql, const std::string& scope, const std::string& key,
            const std::string& request_sha256, engine::TimePoint now, const Prefetch* prefetch,
            std::vector<Row>* prefetched) {
  Claim result;
  if (!tx.begin_with(kClaim, {scope, key, request_sha256, std::to_string(to_micros(now))}, prefetch,
                     prefetched)
           .empty())
    return result;
  const auto rows = fetch(sql, kLoad, {scope, key});
  if (rows.empty()) throw std::logic_error("idempotency key vanished under its claim");
  const auto& row = rows.front();
  result.stored.status = static_cast<int>(to_int(row[1]));
  result.stored.content_type = row[2].value_or("");
  result.stored.body = row[3].value_or("");
  result.kind = row[0] == request_sha256 ? Claim::Kind::replay : Claim::Kind::conflict;
  return result;
}

void store(Batch& batch, const std::string& scope, const std::string& key,
           const StoredResponse& response) {
  batch.add(kStore,
            {std::to_string(response.status), response.content_type, response.body, scope, key});
}

long long purge_before(soci::session& sql, engine::TimePoint cutoff) {
  const long long at = to_micros(cutoff);
  soci::statement st = (sql.prepare << kPurge, soci::use(at));
  st.execute(true);
  return st.get_affected_rows();
}

}  // namespace circolo::db::idempotency
