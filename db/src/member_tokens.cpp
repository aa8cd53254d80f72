#include "circolo/db/member_tokens.hpp"

#include "circolo/db/query.hpp"

namespace circolo::db::member_tokens {

namespace {

const std::string kState =
    "select (select token_generation from members where id = $1 and merged_into is null), "
    "exists (select 1 from api_keys where id = $2 and revoked_at is null)";
const std::string kGeneration = "select token_generation from members where id = $1";
const std::string kRevokeAll =
    "update members set token_generation = token_generation + 1 where id = $1 returning id";

const std::string kServedOn =
    "select 1 from member_timeline where member_id = any(array_prepend($1::text, (select "
    "merged_ids from members where id = $1))) and channel = $2 limit 1";

}  // namespace

bool served_on(soci::session& sql, const std::string& member_id, const std::string& channel) {
  return !fetch(sql, kServedOn, {member_id, channel}).empty();
}

State state(soci::session& sql, const std::string& member_id, const std::string& key_id) {
  const auto rows = fetch(sql, kState, {member_id, key_id});
  State out;
  if (rows.empty()) return out;
  if (rows[0][0]) out.generation = std::stoll(*rows[0][0]);
  out.key_active = rows[0][1].value_or("f") == "t";
  return out;
}

std::int64_t generation(soci::session& sql, const std::string& member_id) {
  const auto rows = fetch(sql, kGeneration, {member_id});
  return rows.empty() || !rows[0][0] ? 0 : std::stoll(*rows[0][0]);
}

bool revoke_all(soci::session& sql, const std::string& member_id) {
  return !fetch(sql, kRevokeAll, {member_id}).empty();
}

}  // namespace circolo::db::member_tokens
