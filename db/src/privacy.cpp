#include "circolo/db/privacy.hpp"

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::privacy {

namespace {

// $1: the member. ids: it and the members merged into it (their rows moved or kept their ids).
const std::string kExport = R"(
with ids as (
  select $1::text as id
  union select unnest(merged_ids) from members where id = $1
)
select json_build_object(
  'member', (select row_to_json(m) from (select id, name, display_name, email, phone, birthday,
             attributes, tags, tier, joined_at, points_balance, merged_ids, erased_at,
             coalesce(interest_profile, interests::json) as interests,
             segments
             from members where id = $1) m),
  'identifiers', (select coalesce(json_agg(i order by i.linked_at), '[]') from member_identifiers i
                  where i.member_id in (select id from ids)),
  'ledger_entries', (select coalesce(json_agg(l order by l.id), '[]') from ledger_entries l
                     where l.member_id in (select id from ids)),
  'point_lots', (select coalesce(json_agg(p), '[]') from point_lots p
                 where p.member_id in (select id from ids)),
  'member_timeline', (select coalesce(json_agg(t order by t.id), '[]') from member_timeline t
                      where t.member_id in (select id from ids)),
  'events', (select coalesce(json_agg(json_build_object('id', e.id, 'type', e.type,
             'channel', e.channel, 'store', e.store, 'order_id', e.order_id,
             'occurred_at', e.occurred_at, 'recorded_at', e.recorded_at, 'body', e.body,
             'effects', e.effects) order by e.recorded_at, e.id), '[]') from events e
             where e.member_id in (select id from ids)),
  'coupon_codes', (select coalesce(json_agg(c), '[]') from coupon_codes c
                   where c.member_id in (select id from ids)),
  'coupon_holds', (select coalesce(json_agg(h), '[]') from coupon_holds h
                   where h.member_id in (select id from ids)),
  'coupon_redemptions', (select coalesce(json_agg(r), '[]') from coupon_redemptions r
                         where r.member_id in (select id from ids)),
  'reward_claims', (select coalesce(json_agg(r), '[]') from reward_claims r
                    where r.member_id in (select id from ids)),
  'challenge_states', (select coalesce(json_agg(s), '[]') from challenge_states s
                       where s.member_id in (select id from ids)),
  'member_badges', (select coalesce(json_agg(b), '[]') from member_badges b
                    where b.member_id in (select id from ids)),
  'referral_codes', (select coalesce(json_agg(r), '[]') from referral_codes r
                     where r.member_id in (select id from ids)),
  'referrals', (select coalesce(json_agg(r), '[]') from referrals r
                where r.referrer_id in (select id from ids) or r.referee_id in (select id from ids)),
  'consents', (select consents from members where id = $1),
  'consent_history', (select coalesce(json_agg(c order by c.id), '[]') from member_consents c
                      where c.member_id in (select id from ids)),
  'audit_log', (select coalesce(json_agg(a order by a.id), '[]') from audit_log a
                where a.target in (select id from ids))
)::text)";

// $2: the changes as a JSON object; each one a row of the history too. Withdrawing profiling
// drops the interest profile learnt so far.
const std::string kRecordConsents =
    "with m as (update members set consents = consents || $2::jsonb, interests = case when "
    "($2::jsonb ->> 'profiling') = 'false' then null else interests end, interest_profile = "
    "case when ($2::jsonb ->> 'profiling') = 'false' then null else interest_profile end where id "
    "= $1 returning "
    "id) "
    "insert into member_consents (member_id, purpose, granted, source, key_id, recorded_at) "
    "select m.id, c.key, c.value::boolean, $3, $4, " +
    micros_to_timestamptz("$5::bigint") + " from m, jsonb_each_text($2::jsonb) c";

const std::string kLatestConsents =
    "select distinct on (purpose) purpose, granted::text, source, key_id, " +
    timestamptz_to_micros("recorded_at") +
    " from member_consents where member_id = $1 order by purpose, id desc";

// Inactive: held personal data, joined before the cutoff, and nothing since from it or the
// members merged into it: no timeline entry (events, staff's and its own changes), no ledger
// movement (spends, transfers, adjustments), no coupon redeemed, nothing in the audit trail
// about it (tokens minted for its app, rewards claimed, consents, link codes).
const std::string kInactiveCondition =
    "m.erased_at is null and m.merged_into is null and m.joined_at < " +
    micros_to_timestamptz("$1::bigint") +
    " and not exists (select 1 from member_timeline t where t.member_id = any(array_prepend(m.id, "
    "m.merged_ids)) and t.recorded_at >= " +
    micros_to_timestamptz("$1::bigint") +
    ") and not exists (select 1 from ledger_entries l where l.member_id = any(array_prepend(m.id, "
    "m.merged_ids)) and l.at >= " +
    micros_to_timestamptz("$1::bigint") +
    ") and not exists (select 1 from coupon_redemptions r where r.member_id = any(array_prepend("
    "m.id, m.merged_ids)) and r.redeemed_at >= " +
    micros_to_timestamptz("$1::bigint") +
    ") and not exists (select 1 from audit_log a where a.target = m.id and a.action in "
    "('token.minted', 'reward.claimed', 'consent.changed', 'link_code.created') and a.at >= " +
    micros_to_timestamptz("$1::bigint") + ")";
const std::string kInactiveMembers = "select m.id from members m where " + kInactiveCondition +
                                     " and m.id > $2 order by m.id limit $3::int";
const std::string kInactiveSince =
    "select 1 from members m where m.id = $2 and " + kInactiveCondition;

}  // namespace

std::vector<std::string> inactive_members(soci::session& sql, engine::TimePoint cutoff,
                                          const std::string& after, int limit) {
  std::vector<std::string> ids;
  for (const auto& row : fetch(sql, kInactiveMembers,
                               {std::to_string(to_micros(cutoff)), after, std::to_string(limit)}))
    ids.push_back(*row[0]);
  return ids;
}

bool inactive_since(soci::session& sql, const std::string& member_id, engine::TimePoint cutoff) {
  return !fetch(sql, kInactiveSince, {std::to_string(to_micros(cutoff)), member_id}).empty();
}

nlohmann::json export_member(soci::session& sql, const std::string& member_id) {
  soci::transaction tx(sql);
  sql << "set transaction isolation level repeatable read, read only";
  const auto rows = fetch_unprepared(sql, kExport, {member_id});
  tx.commit();
  return nlohmann::json::parse(rows.at(0).at(0).value_or("{}"));
}

void record_consents(soci::session& sql, const std::string& member_id,
                     const std::map<std::string, bool>& changes, const std::string& source,
                     const std::optional<std::string>& key_id, engine::TimePoint now) {
  if (changes.empty()) return;
  const nlohmann::json object(changes);
  fetch(sql, kRecordConsents,
        {member_id, object.dump(), source, key_id, std::to_string(to_micros(now))});
}

std::vector<ConsentRecord> latest_consents(soci::session& sql, const std::string& member_id) {
  std::vector<ConsentRecord> out;
  for (const auto& row : fetch(sql, kLatestConsents, {member_id}))
    out.push_back({*row[0], row[1] == Value("true"), *row[2], row[3], from_micros(to_int(row[4]))});
  return out;
}

}  // namespace circolo::db::privacy
