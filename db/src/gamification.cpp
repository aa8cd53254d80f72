#include "circolo/db/gamification.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::gamification {

namespace {

// States with their current round's contributions toward the stored goal, in one round trip.
const std::string kLoad =
    "select s.challenge, s.digest, s.round, s.completions, " +
    timestamptz_to_micros("s.completed_at") + ", " + timestamptz_to_micros("c.at") +
    ", c.amount, c.key, c.event_id from challenge_states s left join challenge_contributions c on "
    "c.member_id = s.member_id and c.challenge = s.challenge and c.round = s.round and c.digest "
    "= s.digest where s.member_id = $1 and s.challenge = any($2::text[]) order by s.challenge, "
    "c.at";

const std::string kTakeBack =
    "delete from challenge_contributions c using challenge_states s where c.event_id = $2 and "
    "c.member_id = $1 and s.member_id = c.member_id and s.challenge = c.challenge and s.round = "
    "c.round returning c.challenge";

// The contributions of a refunded purchase to rounds still open, and their new amounts after a
// partial refund (engine::event decides them).
const std::string kOpenContributions =
    "select c.challenge, c.round, c.key, c.source = 'explicit', c.amount from "
    "challenge_contributions c join challenge_states s on s.member_id = c.member_id and "
    "s.challenge = c.challenge and s.round = c.round where c.member_id = $1 and c.event_id = $2 "
    "order by c.challenge, c.round, c.source, c.key";

const std::string kSetAmounts =
    "update challenge_contributions c set amount = n.amount from unnest($3::text[], $4::int[], "
    "$5::text[], $6::text[], $7::bigint[]) n(challenge, round, key, source, amount) where "
    "c.member_id = $1 and c.event_id = $2 and c.challenge = n.challenge and c.round = n.round "
    "and c.key = n.key and c.source = n.source";

const std::string kSaveState =
    "insert into challenge_states (member_id, challenge, digest, round, completions, "
    "completed_at) values ($1, $2, $3, $4::int, $5::int, " +
    micros_to_timestamptz("$6::bigint") +
    ") on conflict (member_id, challenge) do update set digest = excluded.digest, round = "
    "excluded.round, completions = excluded.completions, completed_at = excluded.completed_at";

// An event's contributions in one statement; the caller adds up those with the same key first
// (a statement may not update a row twice). A repeated event adds, saturating.
const std::string kAddContributions =
    "insert into challenge_contributions (member_id, challenge, round, digest, event_id, source, "
    "at, amount, key) select $1, u.c, u.r, u.d, u.e, u.s, " +
    micros_to_timestamptz("u.at") +
    ", u.a, u.k from unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], "
    "$7::bigint[], $8::bigint[], $9::text[]) u(c, r, d, e, s, at, a, k) on conflict (member_id, "
    "challenge, round, event_id, source, key) do update set amount = case when "
    "challenge_contributions.amount > 9223372036854775807 - excluded.amount then "
    "9223372036854775807 else challenge_contributions.amount + excluded.amount end";

const std::string kGrantBadge =
    "insert into member_badges (member_id, badge, granted_at, event_id) "
    "values ($1, $2, " +
    micros_to_timestamptz("$3::bigint") + ", $4) on conflict (member_id, badge) do nothing";

const std::string kBadges = "select badge, " + timestamptz_to_micros("granted_at") +
                            " from member_badges where member_id = $1 order by granted_at, badge";

const std::string kAddPoints =
    "insert into leaderboard_points (period, member_id, points) select p, $1, greatest($3::bigint, "
    "0) from unnest($2::text[]) p on conflict (period, member_id) do update set points = "
    "greatest(leaderboard_points.points + $3::bigint, 0)";

// The name a board shows: the display name the member chose, else the initials of its name
// ("Anna Verdi": "A. V."), never the full name to other members.
const std::string kShownName =
    "coalesce(m.display_name, (select string_agg(left(w, 1) || '.', ' ') from "
    "regexp_split_to_table(btrim(m.name), '\\s+') w where w <> ''))";

// The top of a period, read as it stands, without the members who opted out of leaderboards;
// rank() over these rows is the rank among those shown. Without the rank index (migration 036) a
// read of the period's rows: for boards whose copy in memory cannot answer.
const std::string kTop =
    "select rank() over (order by l.points desc), l.member_id, " + kShownName +
    ", l.points from (select "
    "p.member_id, p.points from leaderboard_points p join members o on o.id = p.member_id where "
    "p.period = $1 and p.points > 0 and coalesce((o.consents ->> 'leaderboards')::boolean, true) "
    "order by p.points desc, p.member_id limit $2::int) l join members m on m.id = l.member_id "
    "order by l.points desc, l.member_id";

// The board's leaders without the rank index (migration 036): the period's rows (primary key
// range) and a top-N sort; read for the in-memory copy of the board, about once a second.
const std::string kLeaders =
    "select member_id, points from leaderboard_points where period = $1 and points > 0 order by "
    "points desc, member_id limit $2::int";

// What a board shows of the members on it: listed or not (the leaderboards consent), the name.
const std::string kListings =
    "select m.id, coalesce((m.consents ->> 'leaderboards')::boolean, true), " + kShownName +
    " from members m where m.id = any($1::text[])";

const std::string kPointsOf =
    "select points from leaderboard_points where period = $1 and member_id = $2";

// One text value instead of a row per member: a hundred thousand scores in a few milliseconds.
const std::string kScores =
    "select string_agg(points::text, ',' order by points desc) from leaderboard_points where "
    "period = $1 and points > 0";

const std::string kQualifying =
    "select coalesce((select sum(points) from ledger_entries where member_id in (select "
    "unnest(array_prepend(id, merged_ids)) from members where id = $1) and kind in "
    "('earn', 'reverse') and event_id is not null and at >= " +
    micros_to_timestamptz("s") +
    "), 0) from unnest($2::bigint[]) with ordinality u(s, o) order by o";

const std::string kMembersInTiers =
    "select id from members where merged_into is null and tier is not null and tier is distinct "
    "from $1 and id > $2 order by id limit $3::int";

// $1 into, $2 from; in this order (contributions move while `into` has no state yet).
const std::vector<std::string> kMoveMember = {
    "insert into member_badges (member_id, badge, granted_at, event_id) select $1, badge, "
    "granted_at, event_id from member_badges where member_id = $2 on conflict do nothing",
    "delete from member_badges where member_id = $2 and $1 <> $2",
    "insert into leaderboard_points (period, member_id, points) select period, $1, points from "
    "leaderboard_points where member_id = $2 on conflict (period, member_id) do update set points "
    "= leaderboard_points.points + excluded.points",
    "delete from leaderboard_points where member_id = $2 and $1 <> $2",
    "update challenge_contributions c set member_id = $1 where member_id = $2 and not exists "
    "(select 1 from challenge_states t where t.member_id = $1 and t.challenge = c.challenge)",
    "update challenge_states s set member_id = $1 where member_id = $2 and not exists (select 1 "
    "from challenge_states t where t.member_id = $1 and t.challenge = s.challenge)",
    "update challenge_contributions c set member_id = $1, round = t.round from challenge_states "
    "f, challenge_states t where c.member_id = $2 and f.member_id = $2 and f.challenge = "
    "c.challenge and c.round = f.round and t.member_id = $1 and t.challenge = c.challenge and "
    "t.digest = c.digest",
    // Completions count for the one member now: a challenge either finished stays finished.
    "update challenge_states t set completions = t.completions + f.completions, completed_at = "
    "greatest(t.completed_at, f.completed_at) from challenge_states f where t.member_id = $1 and "
    "f.member_id = $2 and "
    "f.challenge = t.challenge and f.completions > 0",
};

// Keys sort like their dates ("day:2026-09-21"), so a range of one kind is a text range.
const std::string kPurgePeriods =
    "with gone as (delete from leaderboard_points where (period like 'day:%' and period < $1) or "
    "(period like 'week:%' and period < $2) returning 1) select count(*) from gone";

const std::string kSetTier = "update members set tier = $2 where id = $1";

}  // namespace

std::map<std::string, ChallengeState> load(soci::session& sql, const std::string& member_id,
                                           const std::vector<std::string>& challenges) {
  std::map<std::string, ChallengeState> out;
  if (challenges.empty()) return out;
  for (const auto& row : fetch(sql, kLoad, {member_id, text_array(challenges)})) {
    auto& state = out[*row[0]];
    if (state.challenge.empty()) {
      state.challenge = *row[0];
      state.digest = *row[1];
      state.round = static_cast<int>(to_int(row[2]));
      state.completions = static_cast<int>(to_int(row[3]));
      if (row[4]) state.completed_at = from_micros(to_int(row[4]));
    }
    if (!row[5]) continue;  // no contribution in this round yet
    engine::challenges::Contribution c;
    c.at = from_micros(to_int(row[5]));
    c.amount = to_int(row[6]);
    c.key = row[7].value_or("");
    c.event_id = row[8].value_or("");
    state.contributions.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> take_back(soci::session& sql, const std::string& member_id,
                                   const std::string& event_id) {
  std::vector<std::string> out;
  for (const auto& row : fetch(sql, kTakeBack, {member_id, event_id})) {
    if (std::find(out.begin(), out.end(), *row[0]) == out.end()) out.push_back(*row[0]);
  }
  return out;
}

std::vector<engine::event::OpenContribution> open_contributions(soci::session& sql,
                                                                const std::string& member_id,
                                                                const std::string& event_id) {
  std::vector<engine::event::OpenContribution> out;
  for (const auto& row : fetch(sql, kOpenContributions, {member_id, event_id}))
    out.push_back(
        {*row[0], static_cast<int>(to_int(row[1])), *row[2], row[3] == Value("t"), to_int(row[4])});
  return out;
}

void set_amounts(soci::session& sql, const std::string& member_id, const std::string& event_id,
                 const std::vector<engine::event::OpenContribution>& contributions) {
  if (contributions.empty()) return;
  std::vector<std::string> challenges, rounds, keys, sources, amounts;
  for (const auto& c : contributions) {
    challenges.push_back(c.challenge);
    rounds.push_back(std::to_string(c.round));
    keys.push_back(c.key);
    sources.push_back(c.explicit_progress ? "explicit" : "event");
    amounts.push_back(std::to_string(c.amount));
  }
  fetch(sql, kSetAmounts,
        {member_id, event_id, text_array(challenges), text_array(rounds), text_array(keys),
         text_array(sources), text_array(amounts)});
}

void save_state(Batch& batch, const std::string& member_id, const ChallengeState& state) {
  batch.add(kSaveState,
            {member_id, state.challenge, state.digest, std::to_string(state.round),
             std::to_string(state.completions),
             state.completed_at ? Value(std::to_string(to_micros(*state.completed_at))) : Value()});
}

void add_contributions(Batch& batch, const std::string& member_id,
                       const std::vector<NewContribution>& contributions) {
  if (contributions.empty()) return;
  using Key = std::tuple<std::string, int, std::string, bool, std::string>;  // primary key
  std::map<Key, NewContribution> merged;  // one row per primary key, amounts added (saturating)
  for (const auto& c : contributions) {
    const Key key{c.challenge, c.round, c.event_id, c.explicit_progress, c.key};
    auto [it, fresh] = merged.try_emplace(key, c);
    if (fresh) continue;
    auto& amount = it->second.amount;
    amount = amount > std::numeric_limits<long long>::max() - c.amount
                 ? std::numeric_limits<long long>::max()
                 : amount + c.amount;
  }
  std::vector<std::string> challenges, rounds, digests, events, sources, ats, amounts, keys;
  for (const auto& [key, c] : merged) {
    challenges.push_back(c.challenge);
    rounds.push_back(std::to_string(c.round));
    digests.push_back(c.digest);
    events.push_back(c.event_id);
    sources.push_back(c.explicit_progress ? "explicit" : "event");
    ats.push_back(std::to_string(to_micros(c.at)));
    amounts.push_back(std::to_string(c.amount));
    keys.push_back(c.key);
  }
  batch.add(kAddContributions, {member_id, text_array(challenges), text_array(rounds),
                                text_array(digests), text_array(events), text_array(sources),
                                text_array(ats), text_array(amounts), text_array(keys)});
}

void grant_badge(Batch& batch, const std::string& member_id, const std::string& badge,
                 engine::TimePoint at, const std::string& event_id) {
  batch.add(kGrantBadge, {member_id, badge, std::to_string(to_micros(at)), event_id});
}

std::vector<Badge> badges_of(soci::session& sql, const std::string& member_id) {
  std::vector<Badge> out;
  for (const auto& row : fetch(sql, kBadges, {member_id}))
    out.push_back({*row[0], from_micros(to_int(row[1]))});
  return out;
}

void add_points(Batch& batch, const std::string& member_id, const std::vector<std::string>& periods,
                long long points) {
  if (points == 0 || periods.empty()) return;
  batch.add(kAddPoints, {member_id, text_array(periods), std::to_string(points)});
}

std::vector<Ranked> top(soci::session& sql, const std::string& period, int limit) {
  std::vector<Ranked> out;
  for (const auto& row : fetch(sql, kTop, {period, std::to_string(limit)}))
    out.push_back({to_int(row[0]), *row[1], row[2], to_int(row[3])});
  return out;
}

std::vector<engine::leaderboard::Leader> leaders(soci::session& sql, const std::string& period,
                                                 int limit) {
  std::vector<engine::leaderboard::Leader> out;
  for (const auto& row : fetch(sql, kLeaders, {period, std::to_string(limit)}))
    out.push_back({*row[0], to_int(row[1])});
  return out;
}

std::map<std::string, Listing> listings(soci::session& sql, const std::vector<std::string>& ids) {
  std::map<std::string, Listing> out;
  if (ids.empty()) return out;
  for (const auto& row : fetch(sql, kListings, {text_array(ids)}))
    out[*row[0]] = {*row[1] == "t", row[2]};
  return out;
}

long long points_of(soci::session& sql, const std::string& period, const std::string& member_id) {
  const auto rows = fetch(sql, kPointsOf, {period, member_id});
  return rows.empty() ? 0 : to_int(rows.front()[0]);
}

std::vector<long long> scores(soci::session& sql, const std::string& period) {
  std::vector<long long> out;
  const auto rows = fetch(sql, kScores, {period});
  if (rows.empty() || !rows.front()[0]) return out;
  const std::string& text = *rows.front()[0];
  out.reserve(text.size() / 4);
  long long value = 0;
  for (const char c : text) {
    if (c == ',') {
      out.push_back(value);
      value = 0;
    } else {
      value = value * 10 + (c - '0');
    }
  }
  out.push_back(value);
  return out;
}

void move_member(soci::session& sql, const std::string& into, const std::string& from) {
  for (const auto& statement : kMoveMember) fetch(sql, statement, {into, from});
}

long long purge_periods(soci::session& sql, const std::string& first_day,
                        const std::string& first_week) {
  return to_int(fetch(sql, kPurgePeriods, {first_day, first_week}).at(0)[0]);
}

std::vector<long long> qualifying_points(soci::session& sql, const std::string& member_id,
                                         const std::vector<engine::TimePoint>& since) {
  std::string starts = "{";
  for (const auto& t : since) {
    if (starts.size() > 1) starts += ',';
    starts += std::to_string(to_micros(t));
  }
  std::vector<long long> out;
  for (const auto& row : fetch(sql, kQualifying, {member_id, starts + "}"}))
    out.push_back(to_int(row[0]));
  return out;
}

std::vector<std::string> members_in_tiers(soci::session& sql,
                                          const std::optional<std::string>& except,
                                          const std::string& after, int limit) {
  std::vector<std::string> out;
  for (const auto& row : fetch(sql, kMembersInTiers, {except, after, std::to_string(limit)}))
    out.push_back(*row[0]);
  return out;
}

void set_tier(soci::session& sql, const std::string& member_id,
              const std::optional<std::string>& tier) {
  fetch(sql, kSetTier, {member_id, tier});
}

}  // namespace circolo::db::gamification
