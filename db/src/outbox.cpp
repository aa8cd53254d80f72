#include "circolo/db/outbox.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::outbox {

namespace {

const std::string kPublish = "select circolo_publish_outbox($1::integer)";
// The rows holding events after $1 (a row's seq is its last event's), expanded into their events
// (migration 034), filtered by type ($2, none: all) and cut at $3 events.
std::string read_query(const std::string& member_filter) {
  return "select o.seq - e.n + e.i, case when o.events is null then o.id else o.id || '.' || e.i "
         "end, e.type, o.member_id, " +
         timestamptz_to_micros("o.at") +
         ", cast(e.data as text) from outbox o cross join lateral (select x.value ->> 'type' as "
         "type, x.value -> 'data' as data, x.i, jsonb_array_length(o.events) as n from "
         "jsonb_array_elements(o.events) with ordinality x(value, i) where o.events is not null "
         "union all select o.type, o.data, 1, 1 where o.events is null) e where " +
         member_filter +
         "o.seq > $1 and o.seq - e.n + e.i > $1 and (cardinality($2::text[]) = 0 or e.type = "
         "any($2::text[])) order by o.seq, e.i limit $3";
}
const std::string kRead = read_query("");
const std::string kReadMember = read_query("o.member_id = $4 and ");
const std::string kState = "select last_seq, purged_through from outbox_state where id = 1";
// The published rows from where the last purge ended up to the first one still inside the
// retention, walked forward on the seq index: the rows to delete and one more. A row older than
// the cutoff that follows a newer one in seq order (an offline event published late) goes with
// a later purge.
const std::string kPurge =
    "with bound as (select coalesce((select o.seq - 1 from outbox o where o.seq is not null and "
    "o.seq > (select purged_through from outbox_state where id = 1) and o.at >= " +
    micros_to_timestamptz("$1::bigint") +
    " order by o.seq limit 1), (select last_seq from outbox_state where id = 1)) as upto), gone "
    "as (delete from outbox where seq is not null and seq <= (select upto from bound) returning "
    "seq), marked as (update outbox_state set purged_through = greatest(purged_through, (select "
    "coalesce(max(seq), 0) from gone)) where id = 1) select count(*) from gone";

const std::string kAppendEvent =
    "insert into outbox (type, member_id, at, data, events) values ($1, "
    "$2, " +
    micros_to_timestamptz("$3::bigint") + ", $4::jsonb, $5::jsonb)";

}  // namespace

void append_event(Batch& batch, const std::string& member_id, engine::TimePoint at,
                  const nlohmann::json& events) {
  if (events.empty()) return;
  batch.add(kAppendEvent,
            {events[0].at("type").get<std::string>(), member_id, std::to_string(to_micros(at)),
             events[0].at("data").dump(), events.size() > 1 ? Value(events.dump()) : Value()});
}

long long publish(soci::session& sql, int batch) {
  const auto rows = fetch(sql, kPublish, {std::to_string(batch)});
  return to_int(rows.front()[0]);
}

std::vector<Event> read(soci::session& sql, const Query& q) {
  std::vector<Value> params{std::to_string(q.after), text_array(q.types), std::to_string(q.limit)};
  if (q.member_id) params.push_back(*q.member_id);
  std::vector<Event> out;
  for (const auto& r : fetch(sql, q.member_id ? kReadMember : kRead, params)) {
    Event e;
    e.seq = to_int(r[0]);
    e.id = *r[1];
    e.type = *r[2];
    e.member_id = r[3];
    e.at = from_micros(to_int(r[4]));
    e.data = nlohmann::json::parse(*r[5]);
    out.push_back(std::move(e));
  }
  return out;
}

State state(soci::session& sql) {
  const auto rows = fetch(sql, kState, {});
  return {to_int(rows.front()[0]), to_int(rows.front()[1])};
}

long long purge_before(soci::session& sql, engine::TimePoint cutoff) {
  const auto rows = fetch(sql, kPurge, {std::to_string(to_micros(cutoff))});
  return to_int(rows.front()[0]);
}

nlohmann::json to_json(const Event& e) {
  return {{"id", e.id},
          {"seq", e.seq},
          {"type", e.type},
          {"member_id", e.member_id ? nlohmann::json(*e.member_id) : nlohmann::json(nullptr)},
          {"at", engine::format_rfc3339(e.at)},
          {"data", e.data}};
}

}  // namespace circolo::db::outbox
