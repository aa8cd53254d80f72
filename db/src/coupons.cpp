#include "circolo/db/coupons.hpp"

#include <stdexcept>

#include <openssl/rand.h>

#include "circolo/db/connection_pool.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/query.hpp"
#include "circolo/db/time.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::db::coupons {

namespace {

using nlohmann::json;

const std::string kTermsId =
    "with found as (select id from coupon_terms where coupon = $1 and name = $2 and digits = "
    "$3::smallint and terms = $4::jsonb), made as (insert into coupon_terms (coupon, name, "
    "digits, terms) select $1, $2, $3::smallint, $4::jsonb where not exists (select 1 from "
    "found) on conflict do nothing returning id) select id from found union all select id from "
    "made";

const std::string kInsertCode =
    "insert into coupon_codes (id, code, terms_id, member_id, issued_at, expires_at, "
    "uses_allowed, source, source_id) values ($9, $1, $2, $3, " +
    micros_to_timestamptz("$4::bigint") + ", " + micros_to_timestamptz("$5::bigint") +
    ", $6, $7, $8) on conflict (id) do nothing returning 1";

const std::string kCopyCodes =
    "copy coupon_codes (id, code, terms_id, member_id, issued_at, expires_at, uses_allowed, "
    "source, "
    "source_id) from stdin";

const std::string kExisting =
    "select c.id from coupon_codes c join unnest($1::bigint[]) n(id) on n.id = c.id";

const std::string kCodeColumns =
    "c.code, t.coupon, t.name, t.digits, cast(t.terms as text), c.member_id, " +
    timestamptz_to_micros("c.issued_at") + ", " + timestamptz_to_micros("c.expires_at") +
    ", c.uses_allowed, c.uses, c.source, c.source_id";
const std::string kFind = "select " + kCodeColumns +
                          " from coupon_codes c join coupon_terms t on t.id = c.terms_id where "
                          "c.id = $1 and c.code = $2";
const std::string kLock = kFind + " for update of c";
const std::string kUsableOf =
    "select " + kCodeColumns +
    " from coupon_codes c join coupon_terms t on t.id = c.terms_id where c.member_id = $1 and "
    "c.expires_at > " +
    micros_to_timestamptz("$2::bigint") +
    " and c.uses < c.uses_allowed order by c.expires_at, c.code limit 200";

const std::string kOpenHolds =
    "select id, code, member_id, channel, " + timestamptz_to_micros("created_at") + ", " +
    timestamptz_to_micros("expires_at") +
    " from coupon_holds where code_id = $1 and ended_at is null and expires_at > " +
    micros_to_timestamptz("$2::bigint") + " order by created_at";
const std::string kInsertHold =
    "insert into coupon_holds (id, code_id, code, member_id, channel, created_at, expires_at) "
    "values ($1, $7, $2, $3, $4, " +
    micros_to_timestamptz("$5::bigint") + ", " + micros_to_timestamptz("$6::bigint") + ")";
const std::string kRenewHold =
    "update coupon_holds set expires_at = " + micros_to_timestamptz("$2::bigint") +
    " where id = $1";
const std::string kEndHold =
    "update coupon_holds set ended_at = " + micros_to_timestamptz("$3::bigint") +
    ", redemption_id = $2 where id = $1";

const std::string kRedeem =
    "with r as (insert into coupon_redemptions (id, code_id, code, member_id, channel, order_id, "
    "event_id, total_minor, discount_minor, hold_id, redeemed_at) values ($1, $11, $2, $3, $4, "
    "$5, $6, $7, $8, $9, " +
    micros_to_timestamptz("$10::bigint") +
    ") returning code_id) update coupon_codes c set uses = uses + 1, member_id = "
    "coalesce(member_id, $3) from r where c.id = r.code_id";
const std::string kRedemptionColumns =
    "id, code, member_id, channel, order_id, event_id, hold_id, total_minor, discount_minor, " +
    timestamptz_to_micros("redeemed_at") + ", " + timestamptz_to_micros("rolled_back_at");
const std::string kLockRedemption =
    "select " + kRedemptionColumns + " from coupon_redemptions where id = $1 for update";
const std::string kRedemptionsOf = "select " + kRedemptionColumns +
                                   " from coupon_redemptions where code_id = $1 order by "
                                   "redeemed_at, id";
const std::string kRollBack =
    "with r as (update coupon_redemptions set rolled_back_at = " +
    micros_to_timestamptz("$2::bigint") +
    " where id = $1 and rolled_back_at is null returning code_id) update coupon_codes c set uses "
    "= uses - 1 from r where c.id = r.code_id";

const std::string kTakeExpiring =
    "with due as (select id from coupon_codes where not expiring_notified and member_id is not "
    "null and uses < uses_allowed and expires_at > " +
    micros_to_timestamptz("$1::bigint") +
    " and expires_at <= " + micros_to_timestamptz("$2::bigint") +
    " order by expires_at limit $3 for update skip locked), marked as (update coupon_codes c set "
    "expiring_notified = true from due where c.id = due.id returning c.*) select " +
    kCodeColumns +
    " from marked c join coupon_terms t on t.id = c.terms_id order by c.expires_at, c.code";

const std::string kInsertClaim =
    "insert into reward_claims (id, reward, member_id, points, code_id, code, claimed_at) values "
    "($1, $2, $3, $4, $7, $5, " +
    micros_to_timestamptz("$6::bigint") + ")";

const std::string kTakeStock =
    "insert into rule_counters (key, value) values ($1, 1) on conflict (key) do update set value "
    "= rule_counters.value + 1 returning value";

const std::string kMoveCodes = "update coupon_codes set member_id = $1 where member_id = $2";
const std::string kMoveHolds = "update coupon_holds set member_id = $1 where member_id = $2";
const std::string kMoveRedemptions =
    "update coupon_redemptions set member_id = $1 where member_id = $2";

engine::coupons::Terms terms_from(const std::string& text) {
  const auto j = json::parse(text);
  engine::coupons::Terms t;
  if (j.contains("amount_minor")) t.amount_minor = j["amount_minor"].get<std::int64_t>();
  if (j.contains("percent_e4")) t.percent_e4 = j["percent_e4"].get<std::int64_t>();
  if (j.contains("max_minor")) t.max_minor = j["max_minor"].get<std::int64_t>();
  t.min_total_minor = j.value("min_total_minor", std::int64_t{0});
  if (j.contains("channels")) t.channels = j["channels"].get<std::vector<std::string>>();
  return t;
}

Code code_from(const Row& r) {
  Code c;
  c.code = *r[0];
  c.coupon = *r[1];
  c.name = *r[2];
  c.digits = static_cast<int>(to_int(r[3]));
  c.terms = terms_from(*r[4]);
  c.member_id = r[5];
  c.issued_at = from_micros(to_int(r[6]));
  c.expires_at = from_micros(to_int(r[7]));
  c.uses_allowed = static_cast<int>(to_int(r[8]));
  c.uses = static_cast<int>(to_int(r[9]));
  c.source = *r[10];
  c.source_id = r[11];
  return c;
}

Redemption redemption_from(const Row& r) {
  Redemption x;
  x.id = *r[0];
  x.code = *r[1];
  x.member_id = *r[2];
  x.channel = *r[3];
  x.order_id = r[4];
  x.event_id = r[5];
  x.hold_id = r[6];
  x.total_minor = to_int(r[7]);
  x.discount_minor = to_int(r[8]);
  x.redeemed_at = from_micros(to_int(r[9]));
  if (r[10]) x.rolled_back_at = from_micros(to_int(r[10]));
  return x;
}

std::string micros(engine::TimePoint t) {
  return std::to_string(to_micros(t));
}

// The key of a code the server made (well-formed by construction).
std::string number_of(const std::string& code) {
  const auto n = engine::coupons::code_number(code);
  if (!n) throw std::logic_error("not a coupon code: " + code);
  return std::to_string(*n);
}

}  // namespace

json terms_json(const engine::coupons::Terms& terms) {
  json j = json::object();
  if (terms.amount_minor) j["amount_minor"] = *terms.amount_minor;
  if (terms.percent_e4) j["percent_e4"] = *terms.percent_e4;
  if (terms.max_minor) j["max_minor"] = *terms.max_minor;
  if (terms.min_total_minor) j["min_total_minor"] = terms.min_total_minor;
  if (!terms.channels.empty()) j["channels"] = terms.channels;
  return j;
}

long long terms_id(soci::session& sql, const std::string& coupon, const std::string& name,
                   int digits, const engine::coupons::Terms& terms) {
  const std::vector<Value> params{coupon, name, std::to_string(digits), terms_json(terms).dump()};
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto rows = fetch(sql, kTermsId, params);
    if (!rows.empty()) return to_int(rows.front()[0]);
    // Another transaction stored the same terms between our read and insert: read again.
  }
  throw RetryTransaction("coupon terms stored concurrently");
}

bool insert(soci::session& sql, const std::string& code, const NewCode& c) {
  return !fetch(sql, kInsertCode,
                {code, std::to_string(c.terms_id), c.member_id, micros(c.issued_at),
                 micros(c.expires_at), std::to_string(c.uses_allowed), c.source, c.source_id,
                 number_of(code)})
              .empty();
}

void strong_random(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
}

std::string issue(soci::session& sql, const Issue& issue, engine::TimePoint now) {
  NewCode fresh;
  fresh.terms_id = terms_id(sql, issue.coupon, issue.name, issue.digits, issue.terms);
  fresh.member_id = issue.member_id;
  fresh.issued_at = now;
  fresh.expires_at = issue.expires_at;
  fresh.uses_allowed = issue.uses;
  fresh.source = issue.source;
  fresh.source_id = issue.source_id;
  const std::string prefix = engine::coupons::normalise_prefix(issue.coupon).value_or("");
  // About 2^48 codes per prefix: a collision is rare; another draw settles it.
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto code = engine::coupons::make_code(prefix, strong_random);
    if (!insert(sql, code, fresh)) continue;
    if (issue.member_id) {
      points::publish(sql, "coupon.issued", issue.member_id, now,
                      {{"coupon", issue.coupon},
                       {"code", code},
                       {"expires_at", engine::format_rfc3339(fresh.expires_at)},
                       {"source", issue.source},
                       {"source_id", issue.source_id ? nlohmann::json(*issue.source_id)
                                                     : nlohmann::json(nullptr)}});
    }
    return code;
  }
  throw std::runtime_error("could not draw an unused coupon code");
}

bool insert_many(soci::session& sql, const std::vector<std::pair<std::int64_t, std::string>>& codes,
                 const NewCode& c) {
  // Text fields here are made by the server (codes, ids, times): nothing to escape.
  std::string common =
      "\t" + std::to_string(c.terms_id) + "\t" + c.member_id.value_or("\\N") + "\t" +
      engine::format_rfc3339(c.issued_at) + "\t" + engine::format_rfc3339(c.expires_at) + "\t" +
      std::to_string(c.uses_allowed) + "\t" + c.source + "\t" + c.source_id.value_or("\\N") + "\n";
  std::string data;
  data.reserve(codes.size() * (24 + common.size()));
  for (const auto& [number, code] : codes) {
    data += std::to_string(number);
    data += '\t';
    data += code;
    data += common;
  }
  execute_script(sql, "savepoint circolo_codes");
  try {
    copy_in(sql, kCopyCodes, data);
  } catch (const SqlError& e) {
    if (e.sqlstate() != "23505") throw;
    execute_script(sql, "rollback to savepoint circolo_codes");
    return false;
  }
  execute_script(sql, "release savepoint circolo_codes");
  return true;
}

std::set<std::int64_t> existing(soci::session& sql,
                                const std::vector<std::pair<std::int64_t, std::string>>& codes) {
  std::string numbers = "{";
  for (const auto& [number, code] : codes) {
    if (numbers.size() > 1) numbers += ',';
    numbers += std::to_string(number);
  }
  numbers += '}';
  std::set<std::int64_t> out;
  for (const auto& r : fetch(sql, kExisting, {numbers})) out.insert(to_int(r[0]));
  return out;
}

std::optional<Code> find(soci::session& sql, const std::string& code) {
  const auto n = engine::coupons::code_number(code);
  if (!n) return std::nullopt;
  const auto rows = fetch(sql, kFind, {std::to_string(*n), code});
  if (rows.empty()) return std::nullopt;
  return code_from(rows.front());
}

std::optional<Code> lock(soci::session& sql, const std::string& code) {
  const auto n = engine::coupons::code_number(code);
  if (!n) return std::nullopt;
  const auto rows = fetch(sql, kLock, {std::to_string(*n), code});
  if (rows.empty()) return std::nullopt;
  return code_from(rows.front());
}

std::vector<Code> usable_of(soci::session& sql, const std::string& member_id,
                            engine::TimePoint now) {
  std::vector<Code> out;
  for (const auto& r : fetch(sql, kUsableOf, {member_id, micros(now)})) out.push_back(code_from(r));
  return out;
}

std::vector<Hold> open_holds(soci::session& sql, const std::string& code, engine::TimePoint now) {
  std::vector<Hold> out;
  for (const auto& r : fetch(sql, kOpenHolds, {number_of(code), micros(now)})) {
    out.push_back(
        {*r[0], *r[1], *r[2], *r[3], from_micros(to_int(r[4])), from_micros(to_int(r[5]))});
  }
  return out;
}

void insert_hold(soci::session& sql, const Hold& h) {
  fetch(sql, kInsertHold,
        {h.id, h.code, h.member_id, h.channel, micros(h.created_at), micros(h.expires_at),
         number_of(h.code)});
}

void renew_hold(soci::session& sql, const std::string& id, engine::TimePoint expires_at) {
  fetch(sql, kRenewHold, {id, micros(expires_at)});
}

void end_hold(soci::session& sql, const std::string& id, const std::string& redemption_id,
              engine::TimePoint at) {
  fetch(sql, kEndHold, {id, redemption_id, micros(at)});
}

void redeem(soci::session& sql, const Redemption& r) {
  fetch(
      sql, kRedeem,
      {r.id, r.code, r.member_id, r.channel, r.order_id, r.event_id, std::to_string(r.total_minor),
       std::to_string(r.discount_minor), r.hold_id, micros(r.redeemed_at), number_of(r.code)});
}

void record_redemption(soci::session& sql, const Redemption& r, const std::string& coupon,
                       int digits) {
  if (r.hold_id) end_hold(sql, *r.hold_id, r.id, r.redeemed_at);
  redeem(sql, r);
  points::publish(sql, "coupon.redeemed", r.member_id, r.redeemed_at,
                  {{"code", r.code},
                   {"coupon", coupon},
                   {"redemption_id", r.id},
                   {"discount", engine::format_money({r.discount_minor, digits})},
                   {"order_id", r.order_id ? nlohmann::json(*r.order_id) : nlohmann::json()},
                   {"event_id", r.event_id ? nlohmann::json(*r.event_id) : nlohmann::json()}});
}

std::optional<UseState> read_use(soci::session& sql, const std::string& code,
                                 const std::string& member_id, engine::TimePoint now,
                                 bool lock_row) {
  auto stored = lock_row ? lock(sql, code) : find(sql, code);
  if (!stored) return std::nullopt;
  UseState out;
  out.state.owner = stored->member_id;
  out.state.expires_at = stored->expires_at;
  out.state.uses_allowed = stored->uses_allowed;
  out.state.used = stored->uses;
  out.state.terms = stored->terms;
  for (auto& hold : open_holds(sql, code, now)) {
    if (hold.member_id == member_id && !out.own_hold)
      out.own_hold = std::move(hold);
    else
      ++out.state.held_by_others;
  }
  out.state.held_by_member = out.own_hold.has_value();
  out.stored = std::move(*stored);
  return out;
}

std::optional<Redemption> lock_redemption(soci::session& sql, const std::string& id) {
  const auto rows = fetch(sql, kLockRedemption, {id});
  if (rows.empty()) return std::nullopt;
  return redemption_from(rows.front());
}

std::vector<Redemption> redemptions_of(soci::session& sql, const std::string& code) {
  std::vector<Redemption> out;
  for (const auto& r : fetch(sql, kRedemptionsOf, {number_of(code)}))
    out.push_back(redemption_from(r));
  return out;
}

void roll_back(soci::session& sql, const Redemption& r, engine::TimePoint at) {
  fetch(sql, kRollBack, {r.id, micros(at)});
}

std::vector<Code> take_expiring(soci::session& sql, engine::TimePoint now, engine::TimePoint until,
                                int limit) {
  std::vector<Code> out;
  for (const auto& r :
       fetch(sql, kTakeExpiring, {micros(now), micros(until), std::to_string(limit)}))
    out.push_back(code_from(r));
  return out;
}

void insert_claim(soci::session& sql, const std::string& id, const std::string& reward,
                  const std::string& member_id, long long points, const std::string& code,
                  engine::TimePoint at) {
  fetch(sql, kInsertClaim,
        {id, reward, member_id, std::to_string(points), code, micros(at), number_of(code)});
}

long long take_stock(soci::session& sql, const std::string& counter_key) {
  return to_int(fetch(sql, kTakeStock, {counter_key}).front()[0]);
}

void move_member(soci::session& sql, const std::string& into, const std::string& from) {
  fetch(sql, kMoveCodes, {into, from});
  fetch(sql, kMoveHolds, {into, from});
  fetch(sql, kMoveRedemptions, {into, from});
}

}  // namespace circolo::db::coupons
