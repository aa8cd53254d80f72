#include "circolo/db/events.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::events {

namespace {

const std::string kInsert =
    "insert into events (id, member_id, type, channel, store, order_id, occurred_at, "
    "recorded_at, program_version, api_key_id, total_minor, original_event_id, points_awarded, "
    "body, effects) values ($1, $2, $3, $4, $5, $6, " +
    micros_to_timestamptz("$7::bigint") + ", " + micros_to_timestamptz("$8::bigint") +
    ", $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb) on conflict (channel, "
    "coalesce(store, ''), order_id) where type = 'purchase' and order_id is not null do nothing "
    "returning 1";

const std::string kColumns =
    "id, member_id, type, channel, store, order_id, " + timestamptz_to_micros("occurred_at") +
    ", " + timestamptz_to_micros("recorded_at") +
    ", program_version, api_key_id, total_minor, original_event_id, points_awarded, "
    "refunded_minor, points_reversed, cast(body as text), cast(effects as text)";

const std::string kFind = "select " + kColumns + " from events where id = $1";
const std::string kLock = kFind + " for update";

const std::string kRefundsOf =
    "select cast(body as text) from events where original_event_id = $1 order by recorded_at, id";

const std::string kAddRefund =
    "update events set refunded_minor = refunded_minor + $2::bigint, points_reversed = "
    "points_reversed + $3::bigint where id = $1";

// Insert the missing rows first (sorted, so inserts lock in order too), then lock them all.
const std::string kCreateCounters =
    "insert into rule_counters (key) select k from unnest($1::text[]) k order by k on conflict "
    "do nothing";
const std::string kLockCounters =
    "select key, value from rule_counters where key = any($1::text[]) order by key for update";
const std::string kAddCounters =
    "update rule_counters c set value = c.value + i.n from (select unnest($1::text[]) k, "
    "unnest($2::bigint[]) n) i where c.key = i.k";

const std::string kQualifying =
    "select s, (select coalesce(sum(points), 0) from ledger_entries where member_id = $1 and "
    "kind in ('earn', 'reverse') and event_id is not null and at >= " +
    micros_to_timestamptz("s") + ") from unnest($2::bigint[]) s";

std::string text_array(const std::vector<std::string>& values) {
  // A PostgreSQL array literal with every element quoted and escaped.
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

Event read(const Row& row) {
  Event e;
  e.id = *row[0];
  e.member_id = *row[1];
  e.type = *row[2];
  e.channel = *row[3];
  e.store = row[4];
  e.order_id = row[5];
  e.occurred_at = from_micros(to_int(row[6]));
  e.recorded_at = from_micros(to_int(row[7]));
  e.program_version = to_int(row[8]);
  e.api_key_id = *row[9];
  e.total_minor = to_optional_int(row[10]);
  e.original_event_id = row[11];
  e.points_awarded = to_int(row[12]);
  e.refunded_minor = to_int(row[13]);
  e.points_reversed = to_int(row[14]);
  e.body = nlohmann::json::parse(*row[15]);
  e.effects = nlohmann::json::parse(*row[16]);
  return e;
}

Value optional_int(const std::optional<long long>& v) {
  return v ? Value(std::to_string(*v)) : Value();
}

}  // namespace

bool insert(soci::session& sql, const Event& e) {
  const auto rows = fetch(
      sql, kInsert,
      {e.id, e.member_id, e.type, e.channel, e.store, e.order_id,
       std::to_string(to_micros(e.occurred_at)), std::to_string(to_micros(e.recorded_at)),
       std::to_string(e.program_version), e.api_key_id, optional_int(e.total_minor),
       e.original_event_id, std::to_string(e.points_awarded), e.body.dump(), e.effects.dump()});
  return !rows.empty();
}

std::optional<Event> find(soci::session& sql, const std::string& id) {
  const auto rows = fetch(sql, kFind, {id});
  if (rows.empty()) return std::nullopt;
  return read(rows.front());
}

std::optional<Event> lock(soci::session& sql, const std::string& id) {
  const auto rows = fetch(sql, kLock, {id});
  if (rows.empty()) return std::nullopt;
  return read(rows.front());
}

std::vector<nlohmann::json> refunds_of(soci::session& sql, const std::string& original_id) {
  std::vector<nlohmann::json> out;
  for (const auto& row : fetch(sql, kRefundsOf, {original_id}))
    out.push_back(nlohmann::json::parse(*row[0]));
  return out;
}

void add_refund(soci::session& sql, const std::string& original_id, long long refunded_minor,
                Points points_reversed) {
  fetch(sql, kAddRefund,
        {original_id, std::to_string(refunded_minor), std::to_string(points_reversed)});
}

std::map<std::string, long long> lock_counters(soci::session& sql,
                                               const std::vector<std::string>& keys) {
  std::map<std::string, long long> out;
  if (keys.empty()) return out;
  const auto array = text_array(keys);
  fetch(sql, kCreateCounters, {array});
  for (const auto& row : fetch(sql, kLockCounters, {array})) out[*row[0]] = to_int(row[1]);
  return out;
}

void add_to_counters(soci::session& sql, const std::map<std::string, long long>& increments) {
  if (increments.empty()) return;
  std::vector<std::string> keys;
  std::string amounts = "{";
  for (const auto& [key, n] : increments) {
    keys.push_back(key);
    if (amounts.size() > 1) amounts += ',';
    amounts += std::to_string(n);
  }
  fetch(sql, kAddCounters, {text_array(keys), amounts + "}"});
}

std::vector<Points> qualifying_points(soci::session& sql, const std::string& member_id,
                                      std::span<const engine::TimePoint> since) {
  std::vector<Points> out(since.size(), 0);
  if (since.empty()) return out;
  std::map<long long, Points> sums;  // one query per distinct start
  for (const auto& t : since) sums[to_micros(t)] = 0;
  std::string array = "{";
  for (const auto& [start, sum] : sums) {
    if (array.size() > 1) array += ',';
    array += std::to_string(start);
  }
  for (const auto& row : fetch(sql, kQualifying, {member_id, array + "}"}))
    sums[to_int(row[0])] = to_int(row[1]);
  for (std::size_t i = 0; i < since.size(); ++i) out[i] = sums[to_micros(since[i])];
  return out;
}

}  // namespace circolo::db::events
