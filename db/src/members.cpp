#include "circolo/db/members.hpp"
#include "circolo/db/coupons.hpp"
#include "circolo/db/gamification.hpp"
#include "circolo/db/interests.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::members {

namespace {

const std::string kInsertMember =
    "insert into members (id, name, email, phone, birthday, attributes, joined_at, tier, "
    "display_name) values (:id, :name, :email, :phone, cast(:birthday as date), cast(:attributes "
    "as jsonb), " +
    micros_to_timestamptz(":joined") + ", :tier, :display_name)";

const std::string kUpdateProfile =
    "update members set name = $2, display_name = $3, email = $4, phone = $5, birthday = "
    "$6::date, attributes = $7::jsonb where id = $1";

const std::string kInsertIdentifier =
    "insert into member_identifiers (type, value, member_id, linked_at) values (:type, :value, "
    ":member, " +
    micros_to_timestamptz(":at") + ") on conflict do nothing returning 1";

const std::string kFindMember =
    "select id, name, email, phone, cast(birthday as text), cast(attributes as text), "
    "cast(array_to_json(tags) as text), " +
    timestamptz_to_micros("joined_at") +
    ", points_balance, merged_into, tier, purchases, lifetime_points, display_name, " +
    timestamptz_to_micros("erased_at") +
    ", cast(consents as text), coalesce(cast(interest_profile as text), cast(interests as text)), "
    "cast(array_to_json(segments) as text) "
    "from members "
    "where id = $1";

const std::string kLock = "select id from members where id = $1 for update";
const std::string kLockPair = "select id from members where id in ($1, $2) order by id for update";

const std::string kFindByIdentifier =
    "select member_id from member_identifiers where type = $1 and value = $2";
const std::string kIdentifiers =
    "select type, value from member_identifiers where member_id = $1 order by linked_at, "
    "type, value";

const std::string kTimelineAppend =
    "insert into member_timeline (member_id, type, channel, occurred_at, recorded_at, data, "
    "effects) values "
    "($1, $2, $3, " +
    micros_to_timestamptz("$4::bigint") + ", " + micros_to_timestamptz("$5::bigint") +
    ", $6::jsonb, $7::jsonb)";

const std::string kTimelineColumns =
    "id, member_id, type, channel, " + timestamptz_to_micros("occurred_at") + ", " +
    timestamptz_to_micros("recorded_at") + ", cast(data as text), cast(effects as text)";

const std::string kTimelinePage =
    "select " + kTimelineColumns +
    " from member_timeline where member_id = $1 and ($2::bigint is null or "
    "(occurred_at, id) < (" +
    micros_to_timestamptz("$2::bigint") +
    ", $3::bigint)) order by occurred_at desc, id desc limit $4";

// The owners of several identifiers at once: one row per (type, value) somebody owns.
const std::string kOwners =
    "select i.type, i.value, i.member_id from member_identifiers i join unnest($1::text[], "
    "$2::text[]) n(type, value) on i.type = n.type and i.value = n.value";
const std::string kUnlink =
    "delete from member_identifiers where member_id = $1 and type = $2 and value = $3 returning 1";

const std::string kInsertLinkCode =
    "insert into member_link_codes (code_digest, member_id, created_at, expires_at, created_by) "
    "values ($1, $2, " +
    micros_to_timestamptz("$3::bigint") + ", " + micros_to_timestamptz("$4::bigint") +
    ", $5) on conflict do nothing returning 1";
const std::string kLockLinkCode =
    "select member_id, " + timestamptz_to_micros("expires_at") +
    ", used_at is not null from member_link_codes where code_digest = $1 for update";
const std::string kUseLinkCode =
    "update member_link_codes set used_at = " + micros_to_timestamptz("$2::bigint") +
    ", used_by = $3, used_event_id = $4 where code_digest = $1";
// Codes are useless an hour after they expire: kept that long to tell "expired" from "unknown".
const std::string kPurgeLinkCodes = "delete from member_link_codes where expires_at < " +
                                    micros_to_timestamptz("$1::bigint") + " - interval '1 hour'";

// What a merge of $1 would move: open lots, coupons, badges, challenge states, events.
const std::string kMergePreview =
    "select (select count(*) from point_lots where member_id = $1 and remaining > 0), (select "
    "count(*) from coupon_codes where member_id = $1), (select coalesce(json_agg(badge order by "
    "badge), '[]')::text from member_badges where member_id = $1), (select count(*) from "
    "challenge_states where member_id = $1), (select count(*) from events where member_id = $1)";

// The survivor inherits the ids merged into the member it absorbs.
const std::string kMergeIds =
    "update members m set merged_ids = array(select distinct unnest(m.merged_ids || f.id || "
    "f.merged_ids) order by 1) from members f where m.id = :into and f.id = :from";

const std::string kMoveIdentifiers =
    "update member_identifiers set member_id = :into where member_id = :from";
const std::string kMoveLots = "update point_lots set member_id = :into where member_id = :from";
const std::string kMoveTimeline =
    "update member_timeline set member_id = :into where member_id = :from";
const std::string kMoveEvents = "update events set member_id = :into where member_id = :from";
const std::string kMergeCounts =
    "update members m set purchases = m.purchases + f.purchases, lifetime_points = "
    "m.lifetime_points + f.lifetime_points from (select purchases, lifetime_points from members "
    "where id = :from) f where m.id = :into";
// The member's own limit counts go to the survivor, re-keyed to it and added to its own: a
// "limit 1 per member" either of them used is used by the survivor (no reward twice by a merge).
const std::string kMergeLimits =
    "update members m set limit_counts = coalesce((select jsonb_object_agg(k, n) from (select k, "
    "sum(v) as n from (select key as k, value::bigint as v from jsonb_each_text(m.limit_counts) "
    "union all select replace(key, '/member:' || f.id || '/', '/member:' || m.id || '/'), "
    "value::bigint from jsonb_each_text(f.limit_counts)) c group by k) s), '{}') from members f "
    "where m.id = :into and f.id = :from";
// Both members' consents, the most careful word per purpose: a "no" given on either stands
// (a leaderboard or profiling opt-out is not lost to the survivor's defaults).
const std::string kMergeConsents =
    "update members m set consents = (select coalesce(jsonb_object_agg(c.key, c.granted), '{}') "
    "from (select key, bool_and(value::boolean) as granted from (select * from "
    "jsonb_each_text(m.consents) union all select * from jsonb_each_text(f.consents)) a group by "
    "key) c) from members f where m.id = :into and f.id = :from";
const std::string kDropUnconsentedInterests =
    "update members set interests = null, interest_profile = null where id = :into and (consents "
    "->> 'profiling') is "
    "distinct from 'true'";
const std::string kMarkMerged =
    "update members set merged_into = :into, merged_at = " + micros_to_timestamptz(":at") +
    ", points_balance = 0, segments = '{}' where id = :from";
const std::string kAddBalance =
    "update members set points_balance = points_balance + :points where id = :id returning "
    "points_balance";
const std::string kMergeEntry =
    "insert into ledger_entries (member_id, kind, points, balance_after, at, counterparty, reason) "
    "values "
    "(:member, 'merge', :points, :balance, " +
    micros_to_timestamptz(":at") + ", :counterparty, 'member merge')";

// Erasure, for the member and every member merged into it: the profile, identifiers (free for
// others from now on), link codes and member tokens go; the timeline and recorded events keep
// what happened without who (identifier values, notes, profiles); ledger, lots and counters stay.
const std::string kEraseMembers =
    "update members set name = null, email = null, phone = null, birthday = null, display_name = "
    "null, attributes = '{}', consents = '{\"leaderboards\": false}', interests = null, "
    "interest_profile = null, segments = '{}', token_generation = "
    "token_generation + 1, erased_at "
    "= coalesce("
    "erased_at, " +
    micros_to_timestamptz("$2::bigint") +
    ") where id = $1 or id = any(select unnest(merged_ids) from members where id = $1) returning "
    "id";
// Staff notes (free text that may name the customer) in its ledger and outgoing events; the
// amounts stay.
const std::string kEraseLedgerNotes =
    "update ledger_entries set reason = null where member_id = any($1::text[]) and reason is not "
    "null";
// An event's row (migration 034) holds its outgoing events in `events`, each one's reason taken
// out in place (the array keeps its length: the publisher numbered its events by it).
const std::string kEraseOutboxNotes =
    "update outbox set data = data - 'reason', events = (select jsonb_agg(case when e.v -> 'data' "
    "? 'reason' then jsonb_set(e.v, '{data}', (e.v -> 'data') - 'reason') else e.v end order by "
    "e.i) from jsonb_array_elements(events) with ordinality e(v, i)) where member_id = "
    "any($1::text[]) and (data ? 'reason' or jsonb_path_exists(events, '$[*].data.reason'))";
const std::string kEraseConsents = "delete from member_consents where member_id = any($1::text[])";
const std::string kEraseIdentifiers =
    "delete from member_identifiers where member_id = any($1::text[])";
const std::string kEraseLinkCodes =
    "delete from member_link_codes where member_id = any($1::text[])";
const std::string kEraseTimeline =
    "update member_timeline set data = (data - 'identifiers' - 'reason' - 'profile' - "
    "'identifier') || case when data ? 'member' then jsonb_build_object('member', "
    "jsonb_build_object('id', member_id)) else '{}' end where member_id = any($1::text[]) and "
    "(data ? 'identifiers' or data ? 'reason' or data ? 'profile' or data ? 'identifier' or data "
    "? 'member')";
const std::string kEraseEvents =
    "update events set body = (body - 'profile') || jsonb_build_object('member', "
    "jsonb_build_object('id', member_id)) where member_id = any($1::text[]) and (body ? 'profile' "
    "or body->'member' ? 'identifier' or body->'member' ? 'identifiers' or body->'member' ? "
    "'link_code')";

}  // namespace

std::optional<engine::Identifier> insert(soci::session& sql, const Member& member,
                                         const std::vector<engine::Identifier>& identifiers,
                                         engine::TimePoint now) {
  const auto& p = member.profile;
  soci::indicator name_i = p.name ? soci::i_ok : soci::i_null,
                  email_i = p.email ? soci::i_ok : soci::i_null,
                  phone_i = p.phone ? soci::i_ok : soci::i_null,
                  birthday_i = p.birthday ? soci::i_ok : soci::i_null;
  const std::string name = p.name.value_or(""), email = p.email.value_or(""),
                    phone = p.phone.value_or(""), birthday = p.birthday.value_or(""),
                    attributes = p.attributes.dump();
  const long long joined = to_micros(member.joined_at);
  const std::string tier = member.tier.value_or("");
  soci::indicator tier_i = member.tier ? soci::i_ok : soci::i_null;
  const std::string display_name = p.display_name.value_or("");
  soci::indicator display_name_i = p.display_name ? soci::i_ok : soci::i_null;
  sql << kInsertMember, soci::use(member.id), soci::use(name, name_i), soci::use(email, email_i),
      soci::use(phone, phone_i), soci::use(birthday, birthday_i), soci::use(attributes),
      soci::use(joined), soci::use(tier, tier_i), soci::use(display_name, display_name_i);
  for (const auto& identifier : identifiers) {
    if (link(sql, member.id, identifier, now) != LinkResult::linked) return identifier;
  }
  return std::nullopt;
}

std::optional<Member> find(soci::session& sql, const std::string& id) {
  const auto rows = fetch(sql, kFindMember, {id});
  if (rows.empty()) return std::nullopt;
  auto member = from_row(rows.front());
  member.profile.display_name = rows.front()[13];  // not among from_row's columns
  if (rows.front()[14]) member.erased_at = from_micros(to_int(rows.front()[14]));
  member.consents = consents_of(rows.front()[15]);
  member.interests = interests::from_text(rows.front()[16]);
  for (const auto& s : nlohmann::json::parse(rows.front()[17].value_or("[]")))
    member.segments.push_back(s.get<std::string>());
  return member;
}

std::vector<std::string> erase(soci::session& sql, const std::string& id, engine::TimePoint now) {
  std::vector<std::string> ids;
  for (const auto& row : fetch(sql, kEraseMembers, {id, std::to_string(to_micros(now))}))
    ids.push_back(*row[0]);
  const auto array = text_array(ids);
  fetch(sql, kEraseIdentifiers, {array});
  fetch(sql, kEraseLinkCodes, {array});
  fetch(sql, kEraseConsents, {array});
  fetch(sql, kEraseTimeline, {array});
  fetch(sql, kEraseEvents, {array});
  fetch(sql, kEraseLedgerNotes, {array});
  fetch(sql, kEraseOutboxNotes, {array});
  return ids;
}

void update_profile(soci::session& sql, const std::string& id, const Profile& p) {
  fetch(sql, kUpdateProfile,
        {id, p.name, p.display_name, p.email, p.phone, p.birthday, p.attributes.dump()});
}

engine::consent::Consents consents_of(const std::optional<std::string>& stored) {
  engine::consent::Consents out;
  if (!stored) return out;
  const auto object = nlohmann::json::parse(*stored);
  for (const auto& [purpose, granted] : object.items())
    if (granted.is_boolean()) out.given[purpose] = granted.get<bool>();
  return out;
}

Member from_row(const Row& row) {
  Member m;
  m.id = *row[0];
  m.profile.name = row[1];
  m.profile.email = row[2];
  m.profile.phone = row[3];
  m.profile.birthday = row[4];
  m.profile.attributes = nlohmann::json::parse(*row[5]);
  for (const auto& tag : nlohmann::json::parse(*row[6])) m.tags.push_back(tag.get<std::string>());
  m.joined_at = from_micros(to_int(row[7]));
  m.points_balance = to_int(row[8]);
  m.merged_into = row[9];
  m.tier = row[10];
  m.purchases = to_int(row[11]);
  m.lifetime_points = to_int(row[12]);
  return m;
}

bool lock(soci::session& sql, const std::string& id) {
  return !fetch(sql, kLock, {id}).empty();
}

void lock_pair(soci::session& sql, const std::string& a, const std::string& b) {
  fetch(sql, kLockPair, {a, b});
}

std::optional<std::string> find_by_identifier(soci::session& sql,
                                              const engine::Identifier& identifier) {
  const auto rows = fetch(sql, kFindByIdentifier, {identifier.type, identifier.value});
  if (rows.empty()) return std::nullopt;
  return rows.front()[0];
}

std::vector<engine::Identifier> identifiers(soci::session& sql, const std::string& member_id) {
  std::vector<engine::Identifier> out;
  for (const auto& row : fetch(sql, kIdentifiers, {member_id})) out.push_back({*row[0], *row[1]});
  return out;
}

LinkResult link(soci::session& sql, const std::string& member_id,
                const engine::Identifier& identifier, engine::TimePoint now) {
  const long long at = to_micros(now);
  int inserted = 0;
  sql << kInsertIdentifier, soci::use(identifier.type), soci::use(identifier.value),
      soci::use(member_id), soci::use(at), soci::into(inserted);
  if (sql.got_data()) return LinkResult::linked;
  const auto owner = find_by_identifier(sql, identifier);
  return owner == member_id ? LinkResult::already_linked : LinkResult::taken;
}

std::vector<std::optional<std::string>> owners(soci::session& sql,
                                               const std::vector<engine::Identifier>& named) {
  std::vector<std::string> types, values;
  for (const auto& i : named) {
    types.push_back(i.type);
    values.push_back(i.value);
  }
  std::vector<std::optional<std::string>> out(named.size());
  for (const auto& row : fetch(sql, kOwners, {text_array(types), text_array(values)})) {
    for (std::size_t i = 0; i < named.size(); ++i) {
      if (named[i].type == *row[0] && named[i].value == *row[1]) out[i] = row[2];
    }
  }
  return out;
}

MergePreview merge_preview(soci::session& sql, const std::string& from) {
  const auto row = fetch(sql, kMergePreview, {from}).at(0);
  MergePreview p;
  p.lots = std::stoll(*row[0]);
  p.coupons = std::stoll(*row[1]);
  for (const auto& badge : nlohmann::json::parse(*row[2])) p.badges.push_back(badge);
  p.challenges = std::stoll(*row[3]);
  p.events = std::stoll(*row[4]);
  return p;
}

bool unlink(soci::session& sql, const std::string& member_id,
            const engine::Identifier& identifier) {
  return !fetch(sql, kUnlink, {member_id, identifier.type, identifier.value}).empty();
}

bool create_link_code(soci::session& sql, const std::string& digest, const std::string& member_id,
                      engine::TimePoint now, engine::TimePoint expires_at,
                      const std::string& created_by) {
  fetch(sql, kPurgeLinkCodes, {std::to_string(to_micros(now))});
  return !fetch(sql, kInsertLinkCode,
                {digest, member_id, std::to_string(to_micros(now)),
                 std::to_string(to_micros(expires_at)), created_by})
              .empty();
}

std::optional<engine::identity::LinkCode> lock_link_code(soci::session& sql,
                                                         const std::string& digest) {
  const auto rows = fetch(sql, kLockLinkCode, {digest});
  if (rows.empty()) return std::nullopt;
  return engine::identity::LinkCode{*rows[0][0], from_micros(std::stoll(*rows[0][1])),
                                    *rows[0][2] == "t"};
}

void use_link_code(soci::session& sql, const std::string& digest, engine::TimePoint now,
                   const std::string& used_by, const std::string& event_id) {
  fetch(sql, kUseLinkCode, {digest, std::to_string(to_micros(now)), used_by, event_id});
}

LinkResult link_recorded(soci::session& sql, const std::string& member_id,
                         const engine::Identifier& identifier, const LinkedBy& by,
                         engine::TimePoint now) {
  const auto result = link(sql, member_id, identifier, now);
  if (result != LinkResult::linked) return result;
  TimelineEntry entry;
  entry.member_id = member_id;
  entry.type = "identifier.linked";
  entry.channel = by.channel;
  entry.occurred_at = now;
  entry.recorded_at = now;
  entry.data = {{"identifier", {{"type", identifier.type}, {"value", identifier.value}}},
                {"key", by.key_id}};
  if (by.event_id) entry.data["event_id"] = *by.event_id;
  timeline_append(sql, entry);
  return result;
}

void timeline_append(soci::session& sql, const TimelineEntry& e) {
  fetch(sql, kTimelineAppend,
        {e.member_id, e.type, e.channel, std::to_string(to_micros(e.occurred_at)),
         std::to_string(to_micros(e.recorded_at)), e.data.dump(), e.effects.dump()});
}

std::vector<TimelineEntry> timeline_page(soci::session& sql, const std::string& member_id,
                                         const std::optional<TimelineCursor>& after, int limit) {
  std::vector<TimelineEntry> out;
  const auto rows =
      fetch(sql, kTimelinePage,
            {member_id, after ? Value(std::to_string(to_micros(after->occurred_at))) : Value(),
             after ? Value(std::to_string(after->id)) : Value(), std::to_string(limit)});
  for (const auto& row : rows) {
    TimelineEntry e;
    e.id = to_int(row[0]);
    e.member_id = *row[1];
    e.type = *row[2];
    e.channel = row[3];
    e.occurred_at = from_micros(to_int(row[4]));
    e.recorded_at = from_micros(to_int(row[5]));
    e.data = nlohmann::json::parse(*row[6]);
    e.effects = nlohmann::json::parse(*row[7]);
    out.push_back(std::move(e));
  }
  return out;
}

long long merge(soci::session& sql, const std::string& into, const std::string& from,
                engine::TimePoint now) {
  long long moved = 0;
  sql << "select points_balance from members where id = :id", soci::use(from), soci::into(moved);
  const long long at = to_micros(now);
  sql << kMoveIdentifiers, soci::use(into), soci::use(from);
  sql << kMoveLots, soci::use(into), soci::use(from);
  sql << kMoveTimeline, soci::use(into), soci::use(from);
  sql << kMoveEvents, soci::use(into), soci::use(from);
  sql << kMergeCounts, soci::use(from), soci::use(into);
  sql << kMergeLimits, soci::use(into), soci::use(from);
  coupons::move_member(sql, into, from);       // the survivor keeps the coupons
  gamification::move_member(sql, into, from);  // and the badges, scores and challenges
  if (moved > 0) {
    long long into_balance = 0;
    sql << kAddBalance, soci::use(moved), soci::use(into), soci::into(into_balance);
    sql << kMergeEntry, soci::use(into), soci::use(moved), soci::use(into_balance), soci::use(at),
        soci::use(from);
    const long long out_points = -moved, zero = 0;
    sql << kMergeEntry, soci::use(from), soci::use(out_points), soci::use(zero), soci::use(at),
        soci::use(into);
  }
  sql << kMergeIds, soci::use(into), soci::use(from);
  sql << kMergeConsents, soci::use(into), soci::use(from);
  sql << kDropUnconsentedInterests, soci::use(into);
  sql << kMarkMerged, soci::use(into), soci::use(at), soci::use(from);
  return moved;
}

}  // namespace circolo::db::members
