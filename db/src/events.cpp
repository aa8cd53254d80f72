#include "circolo/db/events.hpp"
#include "circolo/db/interests.hpp"

#include <algorithm>
#include <stdexcept>

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::events {

namespace {

const std::string kInsert =
    "insert into events (id, member_id, type, channel, store, order_id, occurred_at, "
    "recorded_at, program_version, api_key_id, total_minor, original_event_id, points_awarded, "
    "body, effects, experiments) values ($1, $2, $3, $4, $5, $6, " +
    micros_to_timestamptz("$7::bigint") + ", " + micros_to_timestamptz("$8::bigint") +
    ", $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, $21::jsonb) on conflict (channel, "
    "coalesce(store, ''), order_id) where type = 'purchase' and order_id is not null do nothing "
    "returning 1";

const std::string kLockMemberState =
    "select m.id, m.name, m.email, m.phone, cast(m.birthday as text), cast(m.attributes as "
    "text), cast(array_to_json(m.tags) as text), " +
    timestamptz_to_micros("m.joined_at") +
    ", m.points_balance, m.merged_into, m.tier, m.purchases, m.lifetime_points, b.available, "
    "b.pending, (select coalesce(array_to_json(array_agg(badge order by granted_at, badge)), "
    "'[]')::text from member_badges where member_id = m.id), (select json_agg(json_build_array("
    "s.challenge, s.digest, s.round, s.completions, " +
    timestamptz_to_micros("s.completed_at") + ", (select coalesce(json_agg(json_build_array(" +
    timestamptz_to_micros("c.at") +
    ", c.amount, c.key, c.event_id) order by c.at), '[]') from challenge_contributions c where "
    "c.member_id = s.member_id and c.challenge = s.challenge and c.round = s.round and c.digest = "
    "s.digest and (w.since is null or c.at >= " +
    micros_to_timestamptz("w.since") +
    "))))::text from challenge_states s join unnest($4::text[], $5::bigint[]) w(challenge, since) "
    "on w.challenge = s.challenge where s.member_id = m.id), (select string_agg(coalesce((select "
    "sum(points) from ledger_entries where "
    "member_id = any(array_prepend(m.id, m.merged_ids)) and kind in ('earn', 'reverse') and "
    "event_id is not null and at >= " +
    micros_to_timestamptz("s") +
    "), 0)::text, ',' order by o) from unnest($3::bigint[]) with ordinality u(s, o)), m.xmin "
    "= (select v.xmin from members v where v.id = m.id), m.open_referral, cast(m.consents as text) "
    ", coalesce(cast(m.interest_profile as text), cast(m.interests as text)), "
    "cast(array_to_json(m.segments) as text), cast(m.limit_counts as text), (select "
    "json_object_agg(r.key, r.value) from unnest($10::text[]) k(key) cross join lateral (select "
    "key, value from rule_counters where key = k.key offset 0) r)::text from members m cross "
    "join "
    "lateral (select "
    "coalesce(sum(remaining) filter (where pending_until "
    "is null or pending_until <= t), 0) as available, coalesce(sum(remaining) filter (where "
    "pending_until > t), 0) as pending from point_lots, (select " +
    micros_to_timestamptz("$2::bigint") +
    " as t) now where member_id = m.id and remaining > 0 and (expires_at is null or expires_at "
    "> t)) b where m.id = coalesce($1, (select member_id from member_identifiers where type = $6 "
    "and value = $7)) and ($8::text is null or exists (select 1 from idempotency_keys k where "
    "k.api_key_id = $8 and k.idempotency_key = $9 and k.status_code = 0)) for update of m";

// The same read without the lock: simulate describes a member as an event would, waiting for
// no one.
const std::string kReadMemberState =
    kLockMemberState.substr(0, kLockMemberState.size() - std::string(" for update of m").size());

const std::string kRecord =
    "with ev as (" + kInsert +
    "), tl as (insert into member_timeline (member_id, type, channel, occurred_at, recorded_at, "
    "data, effects) select $2, $3, $4, " +
    micros_to_timestamptz("$7::bigint") + ", " + micros_to_timestamptz("$8::bigint") +
    ", $16::jsonb, $15::jsonb from ev), mu as (update members set tier = $17, purchases = "
    "purchases + $18::bigint, lifetime_points = lifetime_points + $19::bigint, points_balance = "
    "points_balance + $24::bigint, tags = "
    "array(select json_array_elements_text($20::json)), interest_profile = coalesce($22::json, "
    "interest_profile), interests = case when $22::json is null then interests end, segments = "
    "coalesce($23::text[], segments), limit_counts = coalesce($25::jsonb, limit_counts) where id = "
    "$2 and exists (select 1 "
    "from "
    "ev)) select count(*) from ev";

// kRecord for the commit batch: the insert fails on a duplicate order (there is no count to
// check in a pipeline).
const std::string kRecordOrFail = [] {
  std::string q = kRecord;
  const std::string conflict =
      " on conflict (channel, coalesce(store, ''), order_id) where type = 'purchase' and "
      "order_id is not null do nothing";
  q.erase(q.find(conflict), conflict.size());
  return q;
}();

const std::string kSettleInBatch = "select circolo_settle_counters($1, $2, $3, $4)";

const std::string kColumns =
    "id, member_id, type, channel, store, order_id, " + timestamptz_to_micros("occurred_at") +
    ", " + timestamptz_to_micros("recorded_at") +
    ", program_version, api_key_id, total_minor, original_event_id, points_awarded, "
    "refunded_minor, points_reversed, cast(body as text), cast(effects as text)";

const std::string kFind = "select " + kColumns + " from events where id = $1";
const std::string kRecordedCount =
    "select count(*) from events where recorded_at < " + micros_to_timestamptz("$1::bigint");
const std::string kLock = kFind + " for update";

const std::string kRefundsOf =
    "select cast(body as text) from events where original_event_id = $1 order by recorded_at, id";

const std::string kAddRefund =
    "update events set refunded_minor = refunded_minor + $2::bigint, points_reversed = "
    "points_reversed + $3::bigint where id = $1";

// Counters are looked up one key at a time (a lateral subquery the planner cannot flatten into
// a join): a generic plan for `key = any($1)` may scan the whole table (large where per-member
// limits were counted in it before migration 037). Keys come sorted (byte order, as
// `collate "C"`), the order every transaction locks them in.
// Insert the missing rows first (sorted, so inserts lock in order too), then lock them all.
const std::string kCreateCounters =
    "insert into rule_counters (key) select k from unnest($1::text[]) k order by k collate \"C\" "
    "on conflict do nothing";
const std::string kLockCounters =
    "select r.key, r.value from unnest($1::text[]) with ordinality k(key, n) cross join lateral "
    "(select key, value from rule_counters where key = k.key for update) r order by k.n";
const std::string kReadCounters =
    "select r.key, r.value from unnest($1::text[]) k(key) cross join lateral (select key, value "
    "from rule_counters where key = k.key offset 0) r";
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

MemberStateRead member_state_read(const std::optional<std::string>& id,
                                  const std::optional<engine::Identifier>& identifier,
                                  engine::TimePoint now, std::span<const engine::TimePoint> since,
                                  const std::vector<ChallengeWindow>& challenges,
                                  const std::optional<ClaimOf>& claim, bool lock,
                                  const std::vector<std::string>& counters) {
  MemberStateRead out;
  std::vector<std::string> ids;
  std::string since_of = "{";
  for (const auto& c : challenges) {
    ids.push_back(c.id);
    if (since_of.size() > 1) since_of += ',';
    since_of += c.since ? std::to_string(to_micros(*c.since)) : std::string("NULL");
  }
  // Tiers mostly share one window: each distinct start is summed once.
  out.since.assign(since.begin(), since.end());
  out.distinct = out.since;
  std::sort(out.distinct.begin(), out.distinct.end());
  out.distinct.erase(std::unique(out.distinct.begin(), out.distinct.end()), out.distinct.end());
  std::string starts = "{";
  for (const auto& t : out.distinct) {
    if (starts.size() > 1) starts += ',';
    starts += std::to_string(to_micros(t));
  }
  out.read.query = lock ? &kLockMemberState : &kReadMemberState;
  out.read.params = {id ? Value(*id) : Value(),
                     std::to_string(to_micros(now)),
                     starts + "}",
                     text_array(ids),
                     since_of + "}",
                     identifier ? Value(identifier->type) : Value(),
                     identifier ? Value(identifier->value) : Value(),
                     claim ? Value(claim->api_key_id) : Value(),
                     claim ? Value(claim->idempotency_key) : Value(),
                     text_array(counters)};
  out.counters = counters;
  return out;
}

std::optional<MemberState> member_state(soci::session& sql, const MemberStateRead& read,
                                        std::vector<Row> rows) {
  if (rows.empty()) return std::nullopt;
  // The statement waited for the row lock while another transaction changed the member: the
  // locked row is the new version, but everything else was read as of before the wait (READ
  // COMMITTED takes the snapshot when the statement starts). Read again, the lock held now.
  // By the id of the row locked: a merge that held it may have moved the identifier since (the
  // merged member then answers as merged), and this read cannot wait again.
  if (rows.front()[18] != Value("t")) {
    auto params = read.read.params;
    params[0] = rows.front()[0];
    for (std::size_t i = 5; i < 9; ++i) params[i] = Value();  // by id, no claim; counters again
    rows = fetch(sql, *read.read.query, params);
  }
  if (rows.empty()) return std::nullopt;
  const auto& row = rows.front();
  MemberState state;
  state.member = members::from_row(row);
  state.balances = {to_int(row[13]), to_int(row[14])};
  state.open_referral = row[19];
  state.member.consents = members::consents_of(row[20]);
  state.member.interests = interests::from_text(row[21]);
  for (const auto& id : nlohmann::json::parse(row[22].value_or("[]")))
    state.member.segments.push_back(id.get<std::string>());
  const auto limits = nlohmann::json::parse(row[23].value_or("{}"));
  for (const auto& [key, value] : limits.items()) state.limits[key] = value.get<std::int64_t>();
  if (!read.counters.empty()) {
    const auto found = nlohmann::json::parse(row[24].value_or("{}"));
    auto& counters = state.counters.emplace();
    for (const auto& key : read.counters) {
      const auto it = found.find(key);
      counters[key] = it == found.end() ? std::nullopt : std::optional(it->get<std::int64_t>());
    }
  }
  for (const auto& badge : nlohmann::json::parse(row[15].value_or("[]")))
    state.badges.push_back(badge.get<std::string>());
  if (row[16]) {
    for (const auto& s : nlohmann::json::parse(*row[16])) {
      auto& c = state.challenges[s[0].get<std::string>()];
      c.challenge = s[0].get<std::string>();
      c.digest = s[1].get<std::string>();
      c.round = s[2].get<int>();
      c.completions = s[3].get<int>();
      if (!s[4].is_null()) c.completed_at = from_micros(s[4].get<long long>());
      for (const auto& k : s[5])
        c.contributions.push_back({from_micros(k[0].get<long long>()), k[1].get<long long>(),
                                   k[2].get<std::string>(), k[3].get<std::string>()});
    }
  }
  std::vector<long long> sums;  // one per distinct window start
  if (row[17]) {
    std::size_t begin = 0;
    const auto& text = *row[17];
    while (begin <= text.size()) {
      const auto end = std::min(text.find(',', begin), text.size());
      sums.push_back(std::stoll(text.substr(begin, end - begin)));
      begin = end + 1;
    }
  }
  if (sums.size() != read.distinct.size())
    throw std::logic_error("member_state: one qualifying sum per window expected");
  for (const auto& t : read.since) {
    const auto at =
        std::lower_bound(read.distinct.begin(), read.distinct.end(), t) - read.distinct.begin();
    state.qualifying.push_back(sums[static_cast<std::size_t>(at)]);
  }
  return state;
}

std::optional<MemberState> lock_member_state(soci::session& sql, const std::string& id,
                                             engine::TimePoint now,
                                             std::span<const engine::TimePoint> since,
                                             const std::vector<ChallengeWindow>& challenges) {
  const auto read = member_state_read(id, std::nullopt, now, since, challenges);
  return member_state(sql, read, fetch(sql, *read.read.query, read.read.params));
}

std::optional<MemberState> lock_member_state(soci::session& sql,
                                             const engine::Identifier& identifier,
                                             engine::TimePoint now,
                                             std::span<const engine::TimePoint> since,
                                             const std::vector<ChallengeWindow>& challenges) {
  const auto read = member_state_read(std::nullopt, identifier, now, since, challenges);
  return member_state(sql, read, fetch(sql, *read.read.query, read.read.params));
}

namespace {

std::vector<Value> record_params(const Event& e, const MemberUpdate& m) {
  nlohmann::json timeline = e.body;
  timeline["event_id"] = e.id;
  return {e.id,
          e.member_id,
          e.type,
          e.channel,
          e.store,
          e.order_id,
          std::to_string(to_micros(e.occurred_at)),
          std::to_string(to_micros(e.recorded_at)),
          std::to_string(e.program_version),
          e.api_key_id,
          optional_int(e.total_minor),
          e.original_event_id,
          std::to_string(e.points_awarded),
          e.body.dump(),
          e.effects.dump(),
          timeline.dump(),
          m.tier,
          std::to_string(m.purchases_added),
          std::to_string(m.lifetime_points_added),
          nlohmann::json(m.tags).dump(),
          e.experiments.is_null() ? Value{} : Value{e.experiments.dump()},
          m.interests,
          m.segments ? Value{text_array(*m.segments)} : Value{},
          std::to_string(m.points_added),
          m.limits};
}

}  // namespace

void record(Batch& batch, const Event& e, const MemberUpdate& m,
            std::function<void(const SqlError&)> on_duplicate) {
  batch.add(kRecordOrFail, record_params(e, m),
            [on_duplicate = std::move(on_duplicate)](const SqlError& error) {
              if (error.sqlstate() == "23505" && on_duplicate) on_duplicate(error);
            });
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

std::map<std::string, long long> read_counters(soci::session& sql,
                                               const std::vector<std::string>& keys) {
  std::map<std::string, long long> out;
  if (keys.empty()) return out;
  for (const auto& row : fetch(sql, kReadCounters, {text_array(keys)}))
    out[*row[0]] = to_int(row[1]);
  return out;
}

namespace {

std::string bigint_array(const std::vector<long long>& values) {
  std::string out = "{";
  for (const auto v : values) out += (out.size() > 1 ? "," : "") + std::to_string(v);
  return out + "}";
}

}  // namespace

void settle_counters(Batch& batch, const std::map<std::string, long long>& increments,
                     const std::map<std::string, long long>& caps,
                     const std::vector<std::string>& absent) {
  if (increments.empty()) return;
  std::vector<std::string> keys;
  std::vector<long long> amounts, limits;
  for (const auto& [key, n] : increments) {
    const auto cap = caps.find(key);
    if (cap == caps.end()) throw std::logic_error("a counter without a cap: " + key);
    keys.push_back(key);
    amounts.push_back(n);
    limits.push_back(cap->second);
  }
  batch.add(kSettleInBatch,
            {text_array(keys), bigint_array(amounts), bigint_array(limits), text_array(absent)});
}

long long recorded_before(soci::session& sql, engine::TimePoint until) {
  return to_int(fetch(sql, kRecordedCount, {std::to_string(to_micros(until))}).front()[0]);
}

}  // namespace circolo::db::events
