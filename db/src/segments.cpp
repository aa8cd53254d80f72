#include "circolo/db/segments.hpp"

#include "circolo/db/event.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/interests.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::segments {

namespace {

using nlohmann::json;

const std::string kTakeLease = "update segment_job_lease set holder = $1, lease_until = " +
                               micros_to_timestamptz("$2::bigint") +
                               " + make_interval(secs => $3::bigint) where id = 1 and "
                               "(holder is null or holder = $1 or lease_until < " +
                               micros_to_timestamptz("$2::bigint") + ") returning 1";
const std::string kReleaseLease =
    "update segment_job_lease set holder = null, lease_until = null where id = 1 and holder = $1";

const std::string kDefinitions = "select id, digest from segment_definitions";
const std::string kSaveDefinition =
    "insert into segment_definitions (id, digest, evaluated_at) values ($1, $2, " +
    micros_to_timestamptz("$3::bigint") +
    ") on conflict (id) do update set digest = excluded.digest, evaluated_at = "
    "excluded.evaluated_at";
const std::string kForgetDefinition = "delete from segment_definitions where id = $1";

// The next members, locked (as events lock them). Their state is read by the next statement:
// under READ COMMITTED a statement that waited for a row lock sees the locked row as it is now
// but everything else (lots, badges) as of its start, before the event that held the lock.
const std::string kLockBatch =
    "select id from members where id > $1 and merged_into is null and erased_at is null order by "
    "id limit $2 for update";
// What engine::event::snapshot reads of those members: the columns of members::from_row, then
// the available points, badges, consents, interests and segments.
const std::string kReadBatch =
    "select m.id, m.name, m.email, m.phone, cast(m.birthday as text), cast(m.attributes as "
    "text), cast(array_to_json(m.tags) as text), " +
    timestamptz_to_micros("m.joined_at") +
    ", m.points_balance, m.merged_into, m.tier, m.purchases, m.lifetime_points, (select "
    "coalesce(sum(remaining), 0) from point_lots where member_id = m.id and remaining > 0 and "
    "(pending_until is null or pending_until <= " +
    micros_to_timestamptz("$2::bigint") + ") and (expires_at is null or expires_at > " +
    micros_to_timestamptz("$2::bigint") +
    ")), (select coalesce(array_to_json(array_agg(badge order by granted_at, badge)), "
    "'[]')::text from member_badges where member_id = m.id), cast(m.consents as text), "
    "coalesce(cast(m.interest_profile as text), cast(m.interests as text)), "
    "cast(array_to_json(m.segments) as text) from members m where "
    "m.id = any($1::text[]) order by m.id";
const std::string kActiveMembers =
    "select count(*) from members where merged_into is null and erased_at is null";

const std::string kSaveSegments =
    "update members m set segments = u.segments from json_to_recordset($1::json) as u(id text, "
    "segments text[]) where m.id = u.id";
const std::string kPublishMany =
    "insert into outbox (type, member_id, at, data) select e ->> 0, e ->> 1, " +
    micros_to_timestamptz("$2::bigint") +
    ", (e -> 2)::jsonb from json_array_elements($1::json) with ordinality x(e, n) order by n";

const std::string kStartRun =
    "insert into segment_runs (reason, segments, started_at, total) values ($1, $2::text[], " +
    micros_to_timestamptz("$3::bigint") + ", $4) returning id";
const std::string kProgressRun =
    "update segment_runs set done = $2, entered = $3, \"left\" = $4, finished_at = " +
    micros_to_timestamptz("$5::bigint") + " where id = $1";
const std::string kRunColumns =
    "id, reason, cast(array_to_json(segments) as text), " + timestamptz_to_micros("started_at") +
    ", " + timestamptz_to_micros("finished_at") + ", total, done, entered, \"left\"";
const std::string kLatestRun = "select " + kRunColumns +
                               " from segment_runs where $1::text is null or reason = $1 order "
                               "by id desc limit 1";
const std::string kAbandon =
    "update segment_runs set finished_at = " + micros_to_timestamptz("$1::bigint") +
    " where finished_at is null";

const std::string kCounts =
    "select s, count(*) from members, unnest(segments) s group by s order by s";
const std::string kCount = "select count(*) from members where segments @> array[$1::text]";
const std::string kMembersPage =
    "select id, name, email, phone from members where segments @> array[$1::text] and id > $2 "
    "order by id limit $3";
// Uploads of one segment wait for each other: each replaces the list as a whole.
const std::string kLockSegment = "select pg_advisory_xact_lock(hashtext('circolo.segment:' || $1))";
const std::string kLockListed =
    "select id, cast(array_to_json(segments) as text), cast(consents as text) from members "
    "where (id = any($1::text[]) or segments @> array[$2::text]) and merged_into is null and "
    "erased_at is null order by id for update";

std::vector<std::string> strings(const Value& v) {
  std::vector<std::string> out;
  for (const auto& s : json::parse(v.value_or("[]"))) out.push_back(s.get<std::string>());
  return out;
}

}  // namespace

bool take_lease(soci::session& sql, const std::string& holder, engine::TimePoint now,
                std::chrono::seconds ttl) {
  return !fetch(sql, kTakeLease,
                {holder, std::to_string(to_micros(now)), std::to_string(ttl.count())})
              .empty();
}

void release_lease(soci::session& sql, const std::string& holder) {
  fetch(sql, kReleaseLease, {holder});
}

std::map<std::string, std::string> definitions(soci::session& sql) {
  std::map<std::string, std::string> out;
  for (const auto& row : fetch(sql, kDefinitions, {})) out[*row[0]] = *row[1];
  return out;
}

void save_definitions(soci::session& sql, const std::map<std::string, std::string>& evaluated,
                      const std::vector<std::string>& removed, engine::TimePoint now) {
  for (const auto& [id, digest] : evaluated)
    fetch(sql, kSaveDefinition, {id, digest, std::to_string(to_micros(now))});
  for (const auto& id : removed) fetch(sql, kForgetDefinition, {id});
}

std::vector<engine::event::MemberState> lock_batch(soci::session& sql, const std::string& after,
                                                   int limit, engine::TimePoint now) {
  std::vector<std::string> ids;
  for (const auto& row : fetch(sql, kLockBatch, {after, std::to_string(limit)}))
    ids.push_back(*row[0]);
  std::vector<engine::event::MemberState> out;
  if (ids.empty()) return out;
  for (const auto& row :
       fetch(sql, kReadBatch, {text_array(ids), std::to_string(to_micros(now))})) {
    events::MemberState stored;
    stored.member = members::from_row(row);
    stored.member.consents = members::consents_of(row[15]);
    stored.member.interests = interests::from_text(row[16]);
    stored.member.segments = strings(row[17]);
    stored.balances.available = to_int(row[13]);
    stored.badges = strings(row[14]);
    out.push_back(event::domain_state(stored));
  }
  return out;
}

long long active_members(soci::session& sql) {
  return to_int(fetch(sql, kActiveMembers, {}).at(0)[0]);
}

void save_changes(soci::session& sql, const std::vector<Change>& changes, engine::TimePoint now) {
  if (changes.empty()) return;
  json rows = json::array(), events = json::array();
  for (const auto& c : changes) {
    rows.push_back({{"id", c.member_id}, {"segments", c.segments}});
    for (const auto& [type, data] : c.events) events.push_back({type, c.member_id, data});
  }
  fetch(sql, kSaveSegments, {rows.dump()});
  if (!events.empty()) fetch(sql, kPublishMany, {events.dump(), std::to_string(to_micros(now))});
}

long long start_run(soci::session& sql, const std::string& reason,
                    const std::vector<std::string>& segments, long long total,
                    engine::TimePoint now) {
  return to_int(
      fetch(sql, kStartRun,
            {reason, text_array(segments), std::to_string(to_micros(now)), std::to_string(total)})
          .at(0)[0]);
}

void progress_run(soci::session& sql, long long run, long long done, long long entered,
                  long long left, std::optional<engine::TimePoint> finished) {
  fetch(sql, kProgressRun,
        {std::to_string(run), std::to_string(done), std::to_string(entered), std::to_string(left),
         finished ? Value(std::to_string(to_micros(*finished))) : Value()});
}

std::optional<Run> latest_run(soci::session& sql, std::optional<std::string> reason) {
  const auto rows = fetch(sql, kLatestRun, {reason});
  if (rows.empty()) return std::nullopt;
  const auto& r = rows.front();
  Run run;
  run.id = to_int(r[0]);
  run.reason = *r[1];
  run.segments = strings(r[2]);
  run.started_at = from_micros(to_int(r[3]));
  if (r[4]) run.finished_at = from_micros(to_int(r[4]));
  run.total = to_int(r[5]);
  run.done = to_int(r[6]);
  run.entered = to_int(r[7]);
  run.left = to_int(r[8]);
  return run;
}

void abandon_unfinished(soci::session& sql, engine::TimePoint now) {
  fetch(sql, kAbandon, {std::to_string(to_micros(now))});
}

std::map<std::string, long long> counts(soci::session& sql) {
  std::map<std::string, long long> out;
  for (const auto& row : fetch(sql, kCounts, {})) out[*row[0]] = to_int(row[1]);
  return out;
}

long long count(soci::session& sql, const std::string& segment) {
  return to_int(fetch(sql, kCount, {segment}).at(0)[0]);
}

std::vector<MemberRow> members_page(soci::session& sql, const std::string& segment,
                                    const std::string& after, int limit) {
  std::vector<MemberRow> out;
  for (const auto& row : fetch(sql, kMembersPage, {segment, after, std::to_string(limit)}))
    out.push_back({*row[0], row[1], row[2], row[3]});
  return out;
}

std::vector<Listed> lock_listed(soci::session& sql, const std::string& segment,
                                const std::vector<std::string>& member_ids) {
  std::vector<Listed> out;
  fetch(sql, kLockSegment, {segment});
  for (const auto& row : fetch(sql, kLockListed, {text_array(member_ids), segment}))
    out.push_back({*row[0], strings(row[1]), members::consents_of(row[2])});
  return out;
}

}  // namespace circolo::db::segments
