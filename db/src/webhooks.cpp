#include "circolo/db/webhooks.hpp"

#include <nlohmann/json.hpp>

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::webhooks {

namespace {

std::string ts(const std::string& placeholder) {
  return micros_to_timestamptz(placeholder);
}

const std::string kColumns = "id, url, cast(array_to_json(events) as text), secret, " +
                             timestamptz_to_micros("created_at") + ", " +
                             timestamptz_to_micros("disabled_at") + ", " +
                             timestamptz_to_micros("next_attempt_at") + ", cursor, failures";
const std::string kInsert =
    "insert into webhook_endpoints (id, url, events, secret, created_at, cursor) values ($1, $2, "
    "$3::text[], $4, " +
    ts("$5::bigint") + ", $6)";
const std::string kList = "select " + kColumns + " from webhook_endpoints order by created_at, id";
const std::string kFind = "select " + kColumns + " from webhook_endpoints where id = $1";
const std::string kDisable = "update webhook_endpoints set disabled_at = " + ts("$2::bigint") +
                             " where id = $1 and disabled_at is null returning 1";
const std::string kLease =
    "update webhook_endpoints e set lease_until = " + ts("$3::bigint") +
    ", leased_by = $1 from (select id from webhook_endpoints where disabled_at is null and "
    "(lease_until is null or lease_until < " +
    ts("$2::bigint") + ") and (next_attempt_at is null or next_attempt_at <= " + ts("$2::bigint") +
    ") and (cursor < (select last_seq from outbox_state where id = 1) or exists (select 1 from "
    "webhook_deliveries d where d.endpoint_id = webhook_endpoints.id and d.status = 'redrive')) "
    "order by id limit $4 for update skip locked) due where e.id = due.id returning e.id, "
    "e.url, cast(array_to_json(e.events) as text), e.secret, " +
    timestamptz_to_micros("e.created_at") + ", " + timestamptz_to_micros("e.disabled_at") + ", " +
    timestamptz_to_micros("e.next_attempt_at") + ", e.cursor, e.failures";
const std::string kRenew = "update webhook_endpoints set lease_until = " + ts("$3::bigint") +
                           " where id = $1 and leased_by = $2 and disabled_at is null returning 1";
// Moves the cursor over events of types the endpoint does not take (its lag stays honest).
const std::string kSkip =
    "update webhook_endpoints set cursor = greatest(cursor, $3::bigint) where id = $1 and "
    "leased_by = $2 and disabled_at is null returning 1";
const std::string kPurge =
    "with old as (select id from webhook_deliveries where last_attempt_at < " + ts("$1::bigint") +
    " and status <> 'failing'), a as (delete from webhook_attempts where delivery_id in (select id "
    "from old)), d as (delete from webhook_deliveries where id in (select id from old) returning "
    "1) select count(*) from d";
const std::string kRelease =
    "update webhook_endpoints set lease_until = null, leased_by = null where id = $1 and "
    "leased_by = $2";

// $1 endpoint, $2 worker, $3 seq, $4 type, $5 at, $6 status code, $7 latency, $8 error,
// $9 give up, $10 retry at, $11 redrive, $12 delivered
const std::string kRecord =
    "with ok as (update webhook_endpoints set cursor = case when $12 or $9 then greatest(cursor, "
    "$3::bigint) else cursor end, failures = case when $11 then failures when $12 or $9 then 0 "
    "else failures + 1 end, next_attempt_at = case when $11 then next_attempt_at when $12 or $9 "
    "then null else " +
    ts("$10::bigint") + " end, lease_until = greatest(lease_until, " + ts("$13::bigint") +
    ") where id = $1 and leased_by = $2 and disabled_at is null returning id), d as (insert into "
    "webhook_deliveries "
    "(endpoint_id, seq, event_type, status, attempts, last_status_code, last_error, "
    "last_latency_ms, first_attempt_at, last_attempt_at) select $1, $3, $4, case when $12 then "
    "'delivered' when $9 then 'dead' else 'failing' end, 1, $6::integer, $8, $7::integer, " +
    ts("$5::bigint") + ", " + ts("$5::bigint") +
    " from ok on conflict (endpoint_id, seq) do update set status = excluded.status, attempts = "
    "webhook_deliveries.attempts + 1, last_status_code = excluded.last_status_code, last_error = "
    "excluded.last_error, last_latency_ms = excluded.last_latency_ms, last_attempt_at = "
    "excluded.last_attempt_at returning id) insert into webhook_attempts (delivery_id, at, "
    "status_code, latency_ms, error) select id, " +
    ts("$5::bigint") + ", $6::integer, $7::integer, $8 from d returning 1";

const std::string kRedrives =
    "select seq from webhook_deliveries where endpoint_id = $1 and status = 'redrive' order by "
    "seq limit $2";
const std::string kRedrive =
    "update webhook_deliveries set status = 'redrive' where endpoint_id = $1 and seq = $2 and "
    "status = 'dead' returning 1";
const std::string kDeliveries =
    "select seq, event_type, status, attempts, last_status_code, last_latency_ms, last_error, " +
    timestamptz_to_micros("first_attempt_at") + ", " + timestamptz_to_micros("last_attempt_at") +
    " from webhook_deliveries where endpoint_id = $1 and ($2::text is null or status = $2) and "
    "seq < $3 order by seq desc limit $4";

const std::string kAttempts =
    "select d.seq, d.event_type, " + timestamptz_to_micros("a.at") +
    ", a.status_code, a.latency_ms, a.error from webhook_attempts a join webhook_deliveries d on "
    "d.id = a.delivery_id where d.endpoint_id = $1 and d.seq = $2 order by a.at";

std::string micros(engine::TimePoint t) {
  return std::to_string(to_micros(t));
}
std::optional<engine::TimePoint> optional_time(const Value& v) {
  if (!v) return std::nullopt;
  return from_micros(to_int(v));
}

Endpoint endpoint_from(const Row& r) {
  Endpoint e;
  e.id = *r[0];
  e.url = *r[1];
  e.events = nlohmann::json::parse(*r[2]).get<std::vector<std::string>>();
  e.secret = *r[3];
  e.created_at = from_micros(to_int(r[4]));
  e.disabled_at = optional_time(r[5]);
  e.next_attempt_at = optional_time(r[6]);
  e.cursor = to_int(r[7]);
  e.failures = static_cast<int>(to_int(r[8]));
  return e;
}

bool record(soci::session& sql, const std::string& id, const std::string& worker, const Attempt& a,
            bool delivered, bool give_up, engine::TimePoint retry_at) {
  const auto rows =
      fetch(sql, kRecord,
            {id, worker, std::to_string(a.seq), a.event_type, micros(a.at),
             a.status_code ? Value(std::to_string(*a.status_code)) : Value(),
             std::to_string(a.latency_ms), a.error, give_up ? "true" : "false", micros(retry_at),
             a.redrive ? "true" : "false", delivered ? "true" : "false", micros(a.lease_until)});
  return !rows.empty();
}

}  // namespace

void insert(soci::session& sql, const Endpoint& e) {
  fetch(sql, kInsert,
        {e.id, e.url, text_array(e.events), e.secret, micros(e.created_at),
         std::to_string(e.cursor)});
}

std::vector<Endpoint> list(soci::session& sql) {
  std::vector<Endpoint> out;
  for (const auto& r : fetch(sql, kList, {})) out.push_back(endpoint_from(r));
  return out;
}

std::optional<Endpoint> find(soci::session& sql, const std::string& id) {
  const auto rows = fetch(sql, kFind, {id});
  if (rows.empty()) return std::nullopt;
  return endpoint_from(rows.front());
}

bool disable(soci::session& sql, const std::string& id, engine::TimePoint at) {
  return !fetch(sql, kDisable, {id, micros(at)}).empty();
}

std::vector<Endpoint> lease(soci::session& sql, const std::string& worker, engine::TimePoint now,
                            engine::TimePoint until, int limit) {
  std::vector<Endpoint> out;
  for (const auto& r :
       fetch(sql, kLease, {worker, micros(now), micros(until), std::to_string(limit)}))
    out.push_back(endpoint_from(r));
  return out;
}

bool renew(soci::session& sql, const std::string& id, const std::string& worker,
           engine::TimePoint until) {
  return !fetch(sql, kRenew, {id, worker, micros(until)}).empty();
}

void release(soci::session& sql, const std::string& id, const std::string& worker) {
  fetch(sql, kRelease, {id, worker});
}

bool delivered(soci::session& sql, const std::string& id, const std::string& worker,
               const Attempt& attempt) {
  return record(sql, id, worker, attempt, true, false, attempt.at);
}

bool failed(soci::session& sql, const std::string& id, const std::string& worker,
            const Attempt& attempt, bool give_up, engine::TimePoint retry_at) {
  return record(sql, id, worker, attempt, false, give_up, retry_at);
}

std::vector<long long> redrives(soci::session& sql, const std::string& id, int limit) {
  std::vector<long long> out;
  for (const auto& r : fetch(sql, kRedrives, {id, std::to_string(limit)}))
    out.push_back(to_int(r[0]));
  return out;
}

bool skip_to(soci::session& sql, const std::string& id, const std::string& worker, long long seq) {
  return !fetch(sql, kSkip, {id, worker, std::to_string(seq)}).empty();
}

long long purge_before(soci::session& sql, engine::TimePoint cutoff) {
  return to_int(fetch(sql, kPurge, {micros(cutoff)}).front()[0]);
}

bool redrive(soci::session& sql, const std::string& id, long long seq) {
  return !fetch(sql, kRedrive, {id, std::to_string(seq)}).empty();
}

std::vector<Delivery> deliveries(soci::session& sql, const std::string& id,
                                 const std::optional<std::string>& status, long long before_seq,
                                 int limit) {
  std::vector<Delivery> out;
  for (const auto& r :
       fetch(sql, kDeliveries, {id, status, std::to_string(before_seq), std::to_string(limit)})) {
    Delivery d;
    d.seq = to_int(r[0]);
    d.event_type = *r[1];
    d.status = *r[2];
    d.attempts = static_cast<int>(to_int(r[3]));
    if (r[4]) d.last_status_code = static_cast<int>(to_int(r[4]));
    if (r[5]) d.last_latency_ms = static_cast<int>(to_int(r[5]));
    d.last_error = r[6];
    d.first_attempt_at = optional_time(r[7]);
    d.last_attempt_at = optional_time(r[8]);
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<Attempt> attempts(soci::session& sql, const std::string& id, long long seq) {
  std::vector<Attempt> out;
  for (const auto& r : fetch(sql, kAttempts, {id, std::to_string(seq)})) {
    Attempt a;
    a.seq = to_int(r[0]);
    a.event_type = *r[1];
    a.at = from_micros(to_int(r[2]));
    if (r[3]) a.status_code = static_cast<int>(to_int(r[3]));
    a.latency_ms = static_cast<int>(to_int(r[4]));
    a.error = r[5];
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace circolo::db::webhooks
