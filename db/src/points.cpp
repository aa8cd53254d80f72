#include "circolo/db/points.hpp"

#include <set>

#include <stdexcept>

#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"

namespace circolo::db::points {

namespace {

using engine::ledger::Draw;
using engine::ledger::Lot;

const std::string kLotColumns = "id, points, remaining, reversed, " +
                                timestamptz_to_micros("earned_at") + ", " +
                                timestamptz_to_micros("pending_until") + ", " +
                                timestamptz_to_micros("expires_at") + ", source_event_id";

const std::string kActiveLots =
    "select " + kLotColumns + " from point_lots where member_id = $1 and remaining > 0";

// engine::ledger::balances, summed by the database (a member may hold thousands of active lots):
// expired lots count nowhere, pending ones as pending. Tested against the engine's.
const std::string kBalances =
    "select coalesce(sum(remaining) filter (where pending_until is null or pending_until <= t), "
    "0), coalesce(sum(remaining) filter (where pending_until > t), 0) from point_lots, (select " +
    micros_to_timestamptz("$2::bigint") +
    " as t) now where member_id = $1 and remaining > 0 and (expires_at is null or expires_at > t)";

// The rewards of challenges completed by an event: booked with its id (they qualify for tiers),
// but a refund of the event does not take them back.
const std::string kChallengeRewardLots =
    "select lot_id from ledger_entries where member_id in (select unnest(array_prepend(id, "
    "merged_ids)) from members where id = $1) and event_id = $2 and kind = 'earn' "
    "and reason like 'challenge:%' and lot_id is not null";

// Found by the event's ledger entries (the member's ledger, its merged members' included: a
// refund is rare next to the lots every award writes, which carry no index on their event).
const std::string kSourceLots =
    "select " + kLotColumns +
    " from point_lots where id in (select lot_id from ledger_entries where member_id in (select "
    "unnest(array_prepend(id, merged_ids)) from members where id = $1) and event_id = $2 and "
    "lot_id is not null) and member_id = $1 and source_event_id = $2 and remaining = 0";

const std::string kInsertLot =
    "insert into point_lots (member_id, points, remaining, earned_at, pending_until, expires_at, "
    "source_event_id, "
    "campaign, rule) values (:member, :points, :points2, " +
    micros_to_timestamptz(":earned") + ", " + micros_to_timestamptz(":pending") + ", " +
    micros_to_timestamptz(":expires") + ", :event, :campaign, :rule) returning id";

const std::string kDraw =
    "update point_lots set remaining = remaining - :points where id = :id and remaining >= "
    ":points2";

const std::string kBook = "update point_lots set reversed = reversed + :points where id = :id";

const std::string kAddBalance =
    "update members set points_balance = points_balance + :points where id = :id returning "
    "points_balance";

const std::string kInsertEntry =
    "insert into ledger_entries (member_id, kind, points, balance_after, at, campaign, rule, "
    "event_id, lot_id, "
    "expires_at, reason, counterparty) values (:member, :kind, :points, :balance, " +
    micros_to_timestamptz(":at") + ", :campaign, :rule, :event, :lot, " +
    micros_to_timestamptz(":expires") + ", :reason, :counterparty) returning id";

const std::string kLedgerColumns = "id, member_id, kind, points, balance_after, " +
                                   timestamptz_to_micros("at") +
                                   ", campaign, rule, event_id, lot_id, " +
                                   timestamptz_to_micros("expires_at") + ", reason, counterparty";

const std::string kLedgerPage =
    "select " + kLedgerColumns +
    " from ledger_entries where member_id = $1 and ($2::bigint is null or id < $2) "
    "order by id desc limit $3";

const std::string kDueMembers =
    "select distinct member_id from point_lots where remaining > 0 and expires_at <= " +
    micros_to_timestamptz("$1::bigint") + " limit $2";

const std::string kPublish = "insert into outbox (type, member_id, at, data) values ($1, $2, " +
                             micros_to_timestamptz("$3::bigint") + ", $4::jsonb) returning id";

// Many awards in one round trip: lots, the balance, ledger entries (with running balances) and
// points.earned events. Ids come from the sequences up front so that rows match by position.
const std::string kEarnMany =
    "with input as materialized (select i.*, nextval('point_lots_id_seq') as lot_id, "
    "nextval('ledger_entries_id_seq') as entry_id, sum(i.points) over (order by i.n) as running "
    "from unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::text[], $10::text[]) with ordinality as i(points, pending_us, expires_us, "
    "expires_text, event_id, campaign, rule, reason, kind, n)), "
    "total as (select sum(points) as points from input), "
    "balance as (update members set points_balance = points_balance + (select points from "
    "total) where id = $1 returning points_balance - (select points from total) as before), "
    "lots as (insert into point_lots (id, member_id, points, remaining, earned_at, "
    "pending_until, expires_at, source_event_id, campaign, rule) select lot_id, $1, points, "
    "points, " +
    micros_to_timestamptz("$11::bigint") + ", " + micros_to_timestamptz("pending_us") + ", " +
    micros_to_timestamptz("expires_us") +
    ", event_id, campaign, rule from input), "
    "entries as (insert into ledger_entries (id, member_id, kind, points, balance_after, at, "
    "campaign, rule, event_id, lot_id, expires_at, reason) select entry_id, $1, kind, points, "
    "b.before + running, " +
    micros_to_timestamptz("$11::bigint") + ", campaign, rule, event_id, lot_id, " +
    micros_to_timestamptz("expires_us") +
    ", reason from input, balance b), "
    "events as (insert into outbox (type, member_id, at, data) select 'points.earned', $1, " +
    micros_to_timestamptz("$11::bigint") +
    ", jsonb_strip_nulls(jsonb_build_object('points', points, 'balance', b.before + running, "
    "'kind', kind, 'ledger_entry_id', entry_id::text, 'reason', reason, 'campaign', campaign, "
    "'event_id', event_id, 'expires_at', expires_text)) from input, balance b order by n) "
    "select entry_id, b.before + running, lot_id from input, balance b order by n";

// kEarnMany for an event: all its awards in one statement, which also writes the event's one
// outbox row (migration 034) from $12, the event's outgoing events in order, [{"type", "data"}
// or {"award": n}, ...]: the n-th award's points.earned event is made here, with its running
// balance and ledger entry id. The balance is read, not written: the event's record adds the
// points (events::MemberUpdate::points_added), so that an event writes one new version of the
// member row, not two.
const std::string kEarnEvent = [] {
  std::string q = kEarnMany;
  const std::string update =
      "balance as (update members set points_balance = points_balance + (select points from "
      "total) where id = $1 returning points_balance - (select points from total) as before)";
  const auto at = q.find(update);
  if (at == std::string::npos) throw std::logic_error("kEarnEvent: no balance update");
  q.replace(at, update.size(),
            "balance as (select points_balance as before from members where id = $1)");
  const std::string per_award =
      "events as (insert into outbox (type, member_id, at, data) select 'points.earned', $1, ";
  const auto events = q.find(per_award);
  const auto data = q.find("jsonb_strip_nulls(", events);
  const auto from = q.find(" from input, balance b order by n)", data);
  if (events == std::string::npos || data == std::string::npos || from == std::string::npos)
    throw std::logic_error("kEarnEvent: no outbox insert");
  const std::string earned = q.substr(data, from - data);  // an award's points.earned data
  q.replace(events, from + std::string(" from input, balance b order by n)").size() - events,
            "evs as (select jsonb_agg(case when t.value ? 'award' then jsonb_build_object("
            "'type', 'points.earned', 'data', " +
                earned +
                ") else t.value end order by t.i) as events from jsonb_array_elements($12::jsonb) "
                "with ordinality t(value, i) left join input on input.n = (t.value ->> "
                "'award')::bigint cross join balance b), row as (insert into outbox (type, "
                "member_id, at, data, events) select events -> 0 ->> 'type', $1, " +
                micros_to_timestamptz("$11::bigint") +
                ", events -> 0 -> 'data', case when jsonb_array_length(events) > 1 then events "
                "end from evs)");
  return q;
}();

// Binds an optional string as NULL when absent. Kept alive by the caller for the statement.
struct OptionalText {
  explicit OptionalText(const std::optional<std::string>& v)
      : value(v.value_or("")), indicator(v ? soci::i_ok : soci::i_null) {}
  std::string value;
  soci::indicator indicator;
};
struct OptionalMicros {
  explicit OptionalMicros(const std::optional<engine::TimePoint>& v)
      : value(v ? to_micros(*v) : 0), indicator(v ? soci::i_ok : soci::i_null) {}
  long long value;
  soci::indicator indicator;
};

std::vector<Lot> read_lots(const std::vector<Row>& rows) {
  std::vector<Lot> lots;
  lots.reserve(rows.size());
  for (const auto& row : rows) {
    Lot lot;
    lot.id = to_int(row[0]);
    lot.points = to_int(row[1]);
    lot.remaining = to_int(row[2]);
    lot.reversed = to_int(row[3]);
    lot.earned_at = from_micros(to_int(row[4]));
    if (row[5]) lot.pending_until = from_micros(to_int(row[5]));
    if (row[6]) lot.expires_at = from_micros(to_int(row[6]));
    lot.source_event_id = row[7];
    lots.push_back(std::move(lot));
  }
  return lots;
}

long long insert_lot(soci::session& sql, const std::string& member_id, const Award& a,
                     engine::TimePoint now) {
  OptionalMicros pending(a.pending_until), expires(a.expires_at);
  OptionalText event(a.event_id), campaign(a.campaign), rule(a.rule);
  const long long earned = to_micros(now);
  long long id = 0;
  sql << kInsertLot, soci::use(member_id), soci::use(a.points), soci::use(a.points),
      soci::use(earned), soci::use(pending.value, pending.indicator),
      soci::use(expires.value, expires.indicator), soci::use(event.value, event.indicator),
      soci::use(campaign.value, campaign.indicator), soci::use(rule.value, rule.indicator),
      soci::into(id);
  return id;
}

void apply_draws(soci::session& sql, const std::vector<Draw>& draws) {
  for (const auto& d : draws) {
    soci::statement st =
        (sql.prepare << kDraw, soci::use(d.points), soci::use(d.lot_id), soci::use(d.points));
    st.execute(true);
    // The member lock makes this impossible; refuse to write an inconsistent ledger if it happens.
    if (st.get_affected_rows() != 1) throw std::logic_error("lot changed under the member lock");
  }
}

// Moves the balance and appends the matching entry; returns it complete.
LedgerEntry post(soci::session& sql, LedgerEntry e) {
  sql << kAddBalance, soci::use(e.points), soci::use(e.member_id), soci::into(e.balance_after);
  OptionalText campaign(e.campaign), rule(e.rule), event(e.event_id), reason(e.reason),
      counterparty(e.counterparty);
  OptionalMicros expires(e.expires_at);
  const long long at = to_micros(e.at);
  const long long lot = e.lot_id.value_or(0);
  soci::indicator lot_i = e.lot_id ? soci::i_ok : soci::i_null;
  sql << kInsertEntry, soci::use(e.member_id), soci::use(e.kind), soci::use(e.points),
      soci::use(e.balance_after), soci::use(at), soci::use(campaign.value, campaign.indicator),
      soci::use(rule.value, rule.indicator), soci::use(event.value, event.indicator),
      soci::use(lot, lot_i), soci::use(expires.value, expires.indicator),
      soci::use(reason.value, reason.indicator),
      soci::use(counterparty.value, counterparty.indicator), soci::into(e.id);
  return e;
}

nlohmann::json entry_event_data(const LedgerEntry& e) {
  nlohmann::json data{{"points", e.points < 0 ? -e.points : e.points},
                      {"balance", e.balance_after},
                      {"kind", e.kind},
                      {"ledger_entry_id", std::to_string(e.id)}};
  if (e.reason) data["reason"] = *e.reason;
  if (e.campaign) data["campaign"] = *e.campaign;
  if (e.event_id) data["event_id"] = *e.event_id;
  if (e.counterparty) data["counterparty"] = *e.counterparty;
  if (e.expires_at) data["expires_at"] = engine::format_rfc3339(*e.expires_at);
  return data;
}

}  // namespace

std::vector<Lot> active_lots(soci::session& sql, const std::string& member_id) {
  return read_lots(fetch(sql, kActiveLots, {member_id}));
}

engine::ledger::Balances balances(soci::session& sql, const std::string& member_id,
                                  engine::TimePoint now) {
  const auto rows = fetch(sql, kBalances, {member_id, std::to_string(to_micros(now))});
  return {to_int(rows.front()[0]), to_int(rows.front()[1])};
}

LedgerEntry earn(soci::session& sql, const std::string& member_id, const Award& award,
                 engine::TimePoint now) {
  if (award.points <= 0) throw std::invalid_argument("an award must be positive");
  const long long lot_id = insert_lot(sql, member_id, award, now);
  LedgerEntry e;
  e.member_id = member_id;
  e.kind = award.kind;
  e.points = award.points;
  e.at = now;
  e.campaign = award.campaign;
  e.rule = award.rule;
  e.event_id = award.event_id;
  e.reason = award.reason;
  e.counterparty = award.counterparty;
  e.lot_id = lot_id;
  e.expires_at = award.expires_at;
  e = post(sql, e);
  publish(sql, "points.earned", member_id, now, entry_event_data(e));
  return e;
}

namespace {

// The parameters of kEarnMany: the member, one array per column, the time.
std::vector<Value> earn_many_params(const std::string& member_id, const std::vector<Award>& awards,
                                    engine::TimePoint now) {
  // PostgreSQL array literals of the columns, NULL for what an award leaves out.
  std::vector<std::string> columns(9, "{");
  auto add = [&](std::size_t column, const std::optional<std::string>& value, bool quote) {
    auto& c = columns[column];
    if (c.size() > 1) c += ',';
    if (!value) {
      c += "NULL";
      return;
    }
    if (!quote) {
      c += *value;
      return;
    }
    c += '"';
    for (char ch : *value) {
      if (ch == '"' || ch == '\\') c += '\\';
      c += ch;
    }
    c += '"';
  };
  auto micros = [](const std::optional<engine::TimePoint>& t) {
    return t ? std::optional<std::string>(std::to_string(to_micros(*t))) : std::nullopt;
  };
  for (const auto& a : awards) {
    if (a.points <= 0) throw std::invalid_argument("an award must be positive");
    add(0, std::to_string(a.points), false);
    add(1, micros(a.pending_until), false);
    add(2, micros(a.expires_at), false);
    add(3,
        a.expires_at ? std::optional<std::string>(engine::format_rfc3339(*a.expires_at))
                     : std::nullopt,
        true);
    add(4, a.event_id, true);
    add(5, a.campaign, true);
    add(6, a.rule, true);
    add(7, a.reason, true);
    add(8, a.kind, true);
  }
  std::vector<Value> params{member_id};
  for (auto& c : columns) params.push_back(c + "}");
  params.push_back(std::to_string(to_micros(now)));
  return params;
}

}  // namespace

std::vector<LedgerEntry> earn_many(soci::session& sql, const std::string& member_id,
                                   const std::vector<Award>& awards, engine::TimePoint now) {
  std::vector<LedgerEntry> out;
  if (awards.empty()) return out;
  const auto params = earn_many_params(member_id, awards, now);
  const auto rows = fetch(sql, kEarnMany, params);
  if (rows.size() != awards.size()) throw std::logic_error("earn_many: member missing");
  for (std::size_t i = 0; i < awards.size(); ++i) {
    const auto& a = awards[i];
    LedgerEntry e;
    e.id = to_int(rows[i][0]);
    e.member_id = member_id;
    e.kind = a.kind;
    e.points = a.points;
    e.balance_after = to_int(rows[i][1]);
    e.at = now;
    e.campaign = a.campaign;
    e.rule = a.rule;
    e.event_id = a.event_id;
    e.reason = a.reason;
    e.lot_id = to_int(rows[i][2]);
    e.expires_at = a.expires_at;
    out.push_back(std::move(e));
  }
  return out;
}

void earn_event(Batch& batch, const std::string& member_id, const std::vector<Award>& awards,
                engine::TimePoint now, const nlohmann::json& outgoing) {
  if (awards.empty()) throw std::invalid_argument("earn_event: no awards");
  auto params = earn_many_params(member_id, awards, now);
  params.push_back(outgoing.dump());
  batch.add(kEarnEvent, params);
}

LedgerEntry apply_spend(soci::session& sql, const std::string& member_id, const Debit& debit,
                        const std::vector<Draw>& draws, engine::TimePoint now) {
  apply_draws(sql, draws);
  LedgerEntry e;
  e.member_id = member_id;
  e.kind = debit.kind;
  e.points = -debit.points;
  e.at = now;
  e.reason = debit.reason;
  e.counterparty = debit.counterparty;
  e.event_id = debit.event_id;
  e = post(sql, e);
  publish(sql, "points.spent", member_id, now, entry_event_data(e));
  return e;
}

TransferResult apply_transfer(soci::session& sql, const std::string& from, const std::string& to,
                              Points points, const std::vector<Draw>& draws,
                              engine::TimePoint now) {
  apply_draws(sql, draws);
  for (const auto& draw : draws) {
    Award a;
    a.points = draw.points;
    a.expires_at = draw.expires_at;
    insert_lot(sql, to, a, now);
  }
  TransferResult r;
  r.out.member_id = from;
  r.out.kind = "transfer";
  r.out.points = -points;
  r.out.at = now;
  r.out.counterparty = to;
  r.out = post(sql, r.out);
  r.in.member_id = to;
  r.in.kind = "transfer";
  r.in.points = points;
  r.in.at = now;
  r.in.counterparty = from;
  r.in = post(sql, r.in);
  publish(sql, "points.spent", from, now, entry_event_data(r.out));
  publish(sql, "points.earned", to, now, entry_event_data(r.in));
  return r;
}

std::vector<engine::ledger::Lot> reversal_lots(soci::session& sql, const std::string& member_id,
                                               const std::string& event_id) {
  // The event's lots that are used up still carry its earned total and earlier reversals.
  auto lots = active_lots(sql, member_id);
  for (auto& lot : read_lots(fetch(sql, kSourceLots, {member_id, event_id})))
    lots.push_back(std::move(lot));
  std::set<long long> rewards;
  for (const auto& row : fetch(sql, kChallengeRewardLots, {member_id, event_id}))
    rewards.insert(to_int(row[0]));
  for (auto& lot : lots) {
    if (rewards.count(lot.id)) lot.source_event_id.reset();
  }
  return lots;
}

std::optional<LedgerEntry> apply_reversal(soci::session& sql, const std::string& member_id,
                                          const std::string& event_id,
                                          const engine::ledger::Reversal& plan,
                                          engine::TimePoint now) {
  apply_draws(sql, plan.draws);
  for (const auto& booked : plan.booked_on_source) {
    sql << kBook, soci::use(booked.points), soci::use(booked.lot_id);
  }
  if (plan.taken <= 0) return std::nullopt;
  LedgerEntry e;
  e.member_id = member_id;
  e.kind = "reverse";
  e.points = -plan.taken;
  e.at = now;
  e.event_id = event_id;
  e = post(sql, e);
  auto data = entry_event_data(e);
  data["unrecovered"] = plan.unrecovered;
  publish(sql, "points.reversed", member_id, now, data);
  return e;
}

ReversalResult reverse(soci::session& sql, const std::string& member_id,
                       const std::string& event_id, Points points, engine::TimePoint now) {
  ReversalResult r;
  r.plan =
      engine::ledger::plan_reversal(reversal_lots(sql, member_id, event_id), event_id, points, now);
  r.entry = apply_reversal(sql, member_id, event_id, r.plan, now);
  return r;
}

std::vector<LedgerEntry> expire_member(soci::session& sql, const std::string& member_id,
                                       engine::TimePoint now) {
  const auto lots = active_lots(sql, member_id);
  const auto due = engine::ledger::plan_expiry(lots, now);
  apply_draws(sql, due);
  std::vector<LedgerEntry> out;
  for (const auto& draw : due) {
    LedgerEntry e;
    e.member_id = member_id;
    e.kind = "expire";
    e.points = -draw.points;
    e.at = now;
    e.lot_id = draw.lot_id;
    e.expires_at = draw.expires_at;
    e = post(sql, e);
    publish(sql, "points.expired", member_id, now, entry_event_data(e));
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> members_with_due_lots(soci::session& sql, engine::TimePoint now,
                                               int limit) {
  std::vector<std::string> out;
  for (const auto& row :
       fetch(sql, kDueMembers, {std::to_string(to_micros(now)), std::to_string(limit)})) {
    out.push_back(*row[0]);
  }
  return out;
}

std::vector<LedgerEntry> ledger_page(soci::session& sql, const std::string& member_id,
                                     std::optional<long long> before_id, int limit) {
  std::vector<LedgerEntry> out;
  const auto rows = fetch(
      sql, kLedgerPage,
      {member_id, before_id ? Value(std::to_string(*before_id)) : Value(), std::to_string(limit)});
  for (const auto& row : rows) {
    LedgerEntry e;
    e.id = to_int(row[0]);
    e.member_id = *row[1];
    e.kind = *row[2];
    e.points = to_int(row[3]);
    e.balance_after = to_int(row[4]);
    e.at = from_micros(to_int(row[5]));
    e.campaign = row[6];
    e.rule = row[7];
    e.event_id = row[8];
    e.lot_id = to_optional_int(row[9]);
    if (row[10]) e.expires_at = from_micros(to_int(row[10]));
    e.reason = row[11];
    e.counterparty = row[12];
    out.push_back(std::move(e));
  }
  return out;
}

std::string publish(soci::session& sql, const std::string& type,
                    const std::optional<std::string>& member_id, engine::TimePoint at,
                    const nlohmann::json& data) {
  const auto rows =
      fetch(sql, kPublish, {type, member_id, std::to_string(to_micros(at)), data.dump()});
  return *rows.front()[0];
}

}  // namespace circolo::db::points
