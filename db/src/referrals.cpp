// Referrals in the database: codes, the referral rows and their timeline entries.
#include "circolo/db/referrals.hpp"

#include <algorithm>

#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"
#include "circolo/engine/referrals.hpp"

namespace circolo::db::referrals {

namespace {

using nlohmann::json;

const std::string kCodeOf = "select code from referral_codes where member_id = $1";
const std::string kInsertCode =
    "insert into referral_codes (member_id, code, created_at) values ($1, $2, " +
    micros_to_timestamptz("$3::bigint") + ") on conflict do nothing returning code";
// The code's member, and the member it was merged into (a chain is followed by the caller).
const std::string kOwnerOfCode =
    "select m.id, m.merged_into from referral_codes c join members m on m.id = c.member_id "
    "where c.code = $1";
const std::string kMemberMerge =
    "select merged_into, array_to_json(merged_ids)::text from "
    "members where id = $1";

const std::string kColumns =
    "id, code, referrer_id, referee_id, channel, api_key_id, state, event_id, reason, "
    "qualifying_event_id, referrer_event_id, referee_event_id, " +
    timestamptz_to_micros("started_at") + ", " + timestamptz_to_micros("ended_at") + ", " +
    timestamptz_to_micros("hold_until") + ", " + timestamptz_to_micros("reversed_at");

const std::string kInsert =
    "insert into referrals (id, code, referrer_id, referee_id, channel, api_key_id, event_id, "
    "state, reason, started_at, ended_at, refused_at_start) values ($1, $2, $3, $4, $5, $6, $7, "
    "$8, $9, " +
    micros_to_timestamptz("$10::bigint") + ", case when $8 = 'refused' then " +
    micros_to_timestamptz("$10::bigint") + " end, $8 = 'refused')";
// A referral of this referee by this referrer recorded already (a request sent twice).
const std::string kPair = "select " + kColumns +
                          " from referrals where referee_id = $1 and referrer_id = $2 order by "
                          "started_at limit 1";
// An identifier of the referee that the referrer (or a member merged into it) once had.
const std::string kSharedIdentifier =
    "select exists (select 1 from member_timeline t join member_identifiers i on i.member_id = "
    "$2 and i.type = t.data->'identifier'->>'type' and i.value = t.data->'identifier'->>'value' "
    "where t.member_id = any($1::text[]) and t.type = 'identifier.unlinked')";
// The referrals a member brought, by state (its own id and those merged into it).
const std::string kCounts =
    "select state, count(*) from referrals where referrer_id = any($1::text[]) group by state";
const std::string kLockReferrer =
    "select pg_advisory_xact_lock(hashtextextended('circolo.referrer:' || $1, 0))";
const std::string kSetOpen = "update members set open_referral = $2 where id = $1";
const std::string kFind = "select " + kColumns + " from referrals where id = $1";
const std::string kQualifiedBy =
    "select " + kColumns + " from referrals where qualifying_event_id = $1 and state = 'completed'";
// Referrals of the referrer (or a member merged into it) completed since a time.
const std::string kCompletedSince =
    "select count(*) from referrals where referrer_id = any($1::text[]) and state in "
    "('completed', 'reversed') and ended_at >= " +
    micros_to_timestamptz("$2::bigint");
const std::string kComplete =
    "update referrals set state = 'completed', ended_at = " + micros_to_timestamptz("$2::bigint") +
    ", qualifying_event_id = $3, hold_until = " + micros_to_timestamptz("$4::bigint") +
    ", referee_event_id = $5, referrer_event_id = $6 where id = $1 and state = 'started' "
    "returning id";
const std::string kEnd = "update referrals set state = $2, reason = $3, ended_at = " +
                         micros_to_timestamptz("$4::bigint") +
                         " where id = $1 and state = 'started' returning id";
const std::string kReverse =
    "update referrals set state = 'reversed', reason = $2, reversed_at = " +
    micros_to_timestamptz("$3::bigint") + " where id = $1 and state = 'completed' returning id";
// On the referee's row (the id it was referred under: merges leave the column there).
const std::string kClearOpen =
    "update members set open_referral = null where id = (select referee_id from referrals where "
    "id = $1) and open_referral = $1";
const std::string kOpenOf =
    "select open_referral from members where id in ($1, $2) and "
    "open_referral is not null order by id";
const std::string kOfMember = "select " + kColumns +
                              " from referrals where referrer_id = any($1::text[]) or referee_id = "
                              "any($1::text[]) order by started_at desc, id desc limit 500";

std::optional<engine::TimePoint> time_of(const Value& v) {
  if (!v) return std::nullopt;
  return from_micros(to_int(v));
}

Referral from_row(const Row& r) {
  Referral out;
  out.id = *r[0];
  out.code = *r[1];
  out.referrer_id = *r[2];
  out.referee_id = *r[3];
  out.channel = *r[4];
  out.api_key_id = *r[5];
  out.state = *r[6];
  out.event_id = r[7];
  out.reason = r[8];
  out.qualifying_event_id = r[9];
  out.referrer_event_id = r[10];
  out.referee_event_id = r[11];
  out.started_at = from_micros(to_int(r[12]));
  out.ended_at = time_of(r[13]);
  out.hold_until = time_of(r[14]);
  out.reversed_at = time_of(r[15]);
  return out;
}

// The member that `id` is now (merges followed), with the members merged into it.
CodeOwner survivor(soci::session& sql, std::string id) {
  for (int hops = 0; hops < 64; ++hops) {
    const auto rows = fetch(sql, kMemberMerge, {id});
    if (rows.empty()) throw std::logic_error("a referral's member is missing: " + id);
    if (!rows.front()[0]) {
      CodeOwner out{id, {}};
      for (const auto& m : json::parse(rows.front()[1].value_or("[]")))
        out.merged_ids.push_back(m.get<std::string>());
      return out;
    }
    id = *rows.front()[0];
  }
  throw std::logic_error("a merge chain without end");
}

// A transaction-level lock per referrer, taken before anything of the referrer's is read for a
// decision or its row is referenced (a referral's foreign key): starts and completions of one
// referrer's referrals go one at a time, in one order.
void lock_referrer(soci::session& sql, const std::string& referrer) {
  fetch(sql, kLockReferrer, {referrer});
}

void timeline(soci::session& sql, const std::string& member, const std::string& type,
              const std::string& channel, engine::TimePoint now, json data) {
  TimelineEntry entry;
  entry.member_id = member;
  entry.type = type;
  entry.channel = channel;
  entry.occurred_at = now;
  entry.recorded_at = now;
  entry.data = std::move(data);
  members::timeline_append(sql, entry);
}

}  // namespace

json to_json(const Referral& r) {
  const auto opt = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
  const auto at = [](const std::optional<engine::TimePoint>& t) {
    return t ? json(engine::format_rfc3339(*t)) : json(nullptr);
  };
  return {{"id", r.id},
          {"code", r.code},
          {"referrer", r.referrer_id},
          {"referee", r.referee_id},
          {"state", r.state},
          {"reason", opt(r.reason)},
          {"channel", r.channel},
          {"started_at", engine::format_rfc3339(r.started_at)},
          {"ended_at", at(r.ended_at)},
          {"qualifying_event_id", opt(r.qualifying_event_id)},
          {"hold_until", at(r.hold_until)},
          {"reversed_at", at(r.reversed_at)}};
}

std::string code_of(soci::session& sql, const std::string& member_id, engine::TimePoint now,
                    const std::function<std::string()>& draw) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const auto found = fetch(sql, kCodeOf, {member_id});
    if (!found.empty()) return *found.front()[0];
    // Another member's code drawn again (one in a trillion), or this member's made concurrently:
    // nothing inserted, look again.
    const auto made = fetch(sql, kInsertCode, {member_id, draw(), std::to_string(to_micros(now))});
    if (!made.empty()) return *made.front()[0];
  }
  throw std::runtime_error("could not draw a free referral code");
}

std::optional<CodeOwner> owner_of_code(soci::session& sql, const std::string& code) {
  const auto rows = fetch(sql, kOwnerOfCode, {code});
  if (rows.empty()) return std::nullopt;
  return survivor(sql, *rows.front()[0]);
}

Referral start(soci::session& sql, const std::string& id, const std::string& code,
               const CodeOwner& referrer, const std::string& referee,
               const std::optional<std::string>& reason, const std::string& channel,
               const std::string& api_key_id, const std::optional<std::string>& event_id,
               engine::TimePoint now) {
  const std::string state = reason ? "refused" : "started";
  lock_referrer(sql, referrer.member_id);
  fetch(sql, kInsert,
        {id, code, referrer.member_id, referee, channel, api_key_id, event_id, state, reason,
         std::to_string(to_micros(now))});
  json data{{"referral_id", id}, {"state", state}, {"key", api_key_id}};
  if (reason) data["reason"] = *reason;
  if (event_id) data["event_id"] = *event_id;
  auto as_referee = data;
  as_referee["referrer"] = referrer.member_id;
  timeline(sql, referee, "referral.started", channel, now, std::move(as_referee));
  if (referrer.member_id != referee) {
    data["referee"] = referee;
    timeline(sql, referrer.member_id, "referral.started", channel, now, std::move(data));
  }
  if (!reason) {
    fetch(sql, kSetOpen, {referee, id});
    points::publish(sql, "referral.started", referee, now,
                    {{"referral_id", id},
                     {"referrer", referrer.member_id},
                     {"referee", referee},
                     {"channel", channel}});
  }
  return from_row(fetch(sql, kFind, {id}).front());
}

std::optional<engine::event::OpenReferral> open(soci::session& sql, const std::string& id,
                                                const rules::CompiledProgram& program,
                                                engine::TimePoint now, bool lock) {
  const auto rows = fetch(sql, kFind, {id});
  if (rows.empty()) return std::nullopt;
  const auto referral = from_row(rows.front());
  if (referral.state != "started") return std::nullopt;
  engine::event::OpenReferral out;
  out.id = referral.id;
  out.started_at = referral.started_at;
  auto referrer = survivor(sql, referral.referrer_id);
  if (lock) {
    // One completion per referrer at a time, so that its cap counts exactly: the referrer's
    // lock, then its row (which its side event needs). A merge meanwhile moves the survivor.
    lock_referrer(sql, referrer.member_id);
    members::lock(sql, referrer.member_id);
    const auto now_survivor = survivor(sql, referral.referrer_id);
    if (now_survivor.member_id != referrer.member_id)
      throw RetryTransaction("the referrer was merged meanwhile");
    referrer = now_survivor;
    out.counted = true;
  }
  out.referrer_id = referrer.member_id;
  out.referrer_merged_ids = referrer.merged_ids;
  const auto& decl = program.referral();
  if (lock && decl && decl->limit) {
    engine::TimePoint since{};  // a limit without a period: ever
    static const std::map<rules::LimitPeriod, std::string> kKinds{
        {rules::LimitPeriod::day, "day"},
        {rules::LimitPeriod::week, "week"},
        {rules::LimitPeriod::month, "month"}};
    const auto kind = kKinds.find(decl->limit_period);
    if (kind != kKinds.end()) {
      const auto period = program.calendar_period(kind->second, now);
      if (period) since = period->from;
    }
    auto ids = referrer.merged_ids;
    ids.push_back(referrer.member_id);
    out.referrer_completed =
        to_int(fetch(sql, kCompletedSince, {text_array(ids), std::to_string(to_micros(since))})
                   .front()[0]);
  }
  return out;
}

std::optional<engine::event::QualifiedReferral> qualified_by(soci::session& sql,
                                                             const std::string& purchase_id) {
  const auto rows = fetch(sql, kQualifiedBy, {purchase_id});
  if (rows.empty()) return std::nullopt;
  const auto r = from_row(rows.front());
  if (!r.referrer_event_id || !r.referee_event_id || !r.hold_until) return std::nullopt;
  engine::event::QualifiedReferral out;
  out.id = r.id;
  out.referrer_id = survivor(sql, r.referrer_id).member_id;
  out.referrer_event_id = *r.referrer_event_id;
  out.referee_event_id = *r.referee_event_id;
  out.hold_until = *r.hold_until;
  return out;
}

void record_step(soci::session& sql, const engine::event::ReferralStep& step,
                 const std::string& cause_event_id, const std::string& referee_event_id,
                 const std::string& referrer_event_id, engine::TimePoint now) {
  using Kind = engine::event::ReferralStep::Kind;
  const auto micros = std::to_string(to_micros(now));
  std::vector<Row> changed;
  switch (step.kind) {
    case Kind::completed:
      changed = fetch(sql, kComplete,
                      {step.id, micros, cause_event_id,
                       std::to_string(to_micros(step.hold_until.value_or(now))), referee_event_id,
                       referrer_event_id});
      break;
    case Kind::refused:
      changed = fetch(sql, kEnd, {step.id, "refused", step.reason, micros});
      break;
    case Kind::expired:
      changed = fetch(sql, kEnd, {step.id, "expired", step.reason, micros});
      break;
    case Kind::reversed:
      changed = fetch(sql, kReverse, {step.id, step.reason, micros});
      break;
  }
  // Decided on a state another transaction changed since (its referee's row lock makes that
  // impossible for events; a merge does not take it): decide again.
  if (changed.empty()) throw RetryTransaction("the referral changed meanwhile");
  if (step.kind != Kind::reversed) fetch(sql, kClearOpen, {step.id});
}

void after_merge(soci::session& sql, const std::string& into, const std::string& from,
                 engine::TimePoint now) {
  for (const auto& row : fetch(sql, kOpenOf, {into, from})) {
    const auto referral = from_row(fetch(sql, kFind, {*row[0]}).front());
    const auto referrer = survivor(sql, referral.referrer_id);
    engine::event::ReferralStep step;
    step.kind = engine::event::ReferralStep::Kind::refused;
    step.id = referral.id;
    step.reason =
        engine::referrals::refusal_on_merge(into, from, referrer.member_id, referrer.merged_ids);
    record_step(sql, step, "", "", "", now);
    timeline(sql, into, "referral.refused", referral.channel, now,
             {{"referral_id", referral.id}, {"reason", step.reason}, {"merged", from}});
  }
}

// The member and those merged into it.
std::vector<std::string> ids_of(soci::session& sql, const std::string& member_id) {
  auto ids = survivor(sql, member_id).merged_ids;
  ids.push_back(member_id);
  return ids;
}

std::vector<Referral> of_member(soci::session& sql, const std::string& member_id) {
  std::vector<Referral> out;
  for (const auto& row : fetch(sql, kOfMember, {text_array(ids_of(sql, member_id))}))
    out.push_back(from_row(row));
  return out;
}

std::map<std::string, long long> counts(soci::session& sql, const std::string& member_id) {
  std::map<std::string, long long> out;
  for (const auto& row : fetch(sql, kCounts, {text_array(ids_of(sql, member_id))}))
    out[*row[0]] = to_int(row[1]);
  return out;
}

bool shares_identifier(soci::session& sql, const CodeOwner& referrer, const std::string& referee) {
  auto ids = referrer.merged_ids;
  ids.push_back(referrer.member_id);
  return fetch(sql, kSharedIdentifier, {text_array(ids), referee}).front()[0] == Value("t");
}

std::optional<Referral> recorded(soci::session& sql, const std::string& referee,
                                 const std::string& referrer) {
  const auto rows = fetch(sql, kPair, {referee, referrer});
  if (rows.empty()) return std::nullopt;
  return from_row(rows.front());
}

json report(soci::session& sql, engine::TimePoint from, engine::TimePoint until,
            const std::optional<engine::TimePoint>& expired_before, const std::string& time_zone) {
  // Each referral started in the period, in the state it counts in (a started one past its
  // window is expired), whether it started at all (not refused at once), and the points both
  // sides' referral_completed events gave, net of what was taken back.
  const std::string counted =
      "(select r.referrer_id, r.reason, r.started_at, case when r.state = 'started' and "
      "$3::bigint is not null and r.started_at < " +
      micros_to_timestamptz("$3::bigint") +
      " then 'expired' else r.state end as counted, not r.refused_at_start as began, "
      "coalesce(ea.points_awarded - ea.points_reversed, 0) + "
      "coalesce(eb.points_awarded - eb.points_reversed, 0) as points from referrals r left join "
      "events ea on ea.id = r.referrer_event_id left join events eb on eb.id = "
      "r.referee_event_id where r.started_at >= " +
      micros_to_timestamptz("$1::bigint") + " and r.started_at < " +
      micros_to_timestamptz("$2::bigint") + " and $4::text is not null) x";
  const std::vector<Value> params{
      std::to_string(to_micros(from)), std::to_string(to_micros(until)),
      expired_before ? Value(std::to_string(to_micros(*expired_before))) : Value(), time_zone};
  const std::string sums =
      "count(*), count(*) filter (where began), count(*) filter (where counted = 'started'), "
      "count(*) filter (where counted = 'completed'), count(*) filter (where counted = "
      "'reversed'), count(*) filter (where counted = 'expired'), count(*) filter (where counted = "
      "'refused'), coalesce(sum(points), 0)::bigint";
  const auto figures = [](const Row& row, std::size_t at) {
    return json{{"attempts", to_int(row[at])},     {"started", to_int(row[at + 1])},
                {"open", to_int(row[at + 2])},     {"completed", to_int(row[at + 3])},
                {"reversed", to_int(row[at + 4])}, {"expired", to_int(row[at + 5])},
                {"refused", to_int(row[at + 6])},  {"points_given", to_int(row[at + 7])}};
  };
  json out = figures(fetch(sql, "select " + sums + " from " + counted, params).front(), 0);
  json reasons = json::object();
  for (const auto& row : fetch(sql,
                               "select reason, count(*) from " + counted +
                                   " where counted = 'refused' group by 1 order by 1",
                               params))
    reasons[row[0].value_or("")] = to_int(row[1]);
  out["refused_by_reason"] = std::move(reasons);
  json days = json::array();
  for (const auto& row : fetch(sql,
                               "select to_char(started_at at time zone $4, 'YYYY-MM-DD'), " + sums +
                                   " from " + counted + " group by 1 order by 1",
                               params)) {
    auto day = figures(row, 1);
    day["date"] = *row[0];
    days.push_back(std::move(day));
  }
  out["days"] = std::move(days);
  json referrers = json::array();
  for (const auto& row : fetch(sql,
                               "select referrer_id, " + sums + " from " + counted +
                                   " group by 1 order by 5 desc, 3 desc, 1 limit 20",
                               params)) {
    auto referrer = figures(row, 1);
    referrer["member_id"] = *row[0];
    referrers.push_back(std::move(referrer));
  }
  out["top_referrers"] = std::move(referrers);
  return out;
}

}  // namespace circolo::db::referrals
