#include "circolo/api/coupons.hpp"

#include <stdexcept>

#include "circolo/api/auth.hpp"
#include "circolo/api/http.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/db/points.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
namespace coupons = engine::coupons;

std::string money(long long minor, int digits) {
  return engine::format_money({minor, digits});
}

}  // namespace

CouponDecision decide_coupon(soci::session& sql, const CouponUse& use, engine::TimePoint now,
                             bool lock) {
  CouponDecision d;
  d.code = coupons::normalise_code(use.code);
  std::optional<db::coupons::UseState> state;
  if (coupons::check_shape(d.code) == coupons::CodeShape::ok)
    state = db::coupons::read_use(sql, d.code, use.member_id, now, lock);
  if (use.as_member && state && state->state.owner && *state->state.owner != use.member_id)
    state.reset();  // as unknown as a code nobody has
  coupons::Use asked;
  asked.member = use.member_id;
  asked.total_minor = use.total_minor;
  asked.channel = use.channel;
  asked.at = use.used_at.value_or(now);
  asked.reserving = use.reserving;
  asked.discount_limit = use.discount_limit;
  const auto decided = coupons::decide_use(d.code, state ? &state->state : nullptr,
                                           state ? state->stored.digits : 2, asked);
  d.refusal = decided.refusal;
  d.detail = decided.detail;
  d.discount_minor = decided.discount_minor;
  d.uses_left = decided.uses_left;
  if (state) {
    d.stored = std::move(state->stored);
    d.own_hold = std::move(state->own_hold);
  }
  return d;
}

void refuse_coupon(const CouponDecision& d, const std::string& field) {
  auto status = http::status::unprocessable_entity;
  if (d.refusal == "unknown_coupon") status = http::status::not_found;
  if (d.refusal == "coupon_already_redeemed") status = http::status::conflict;
  throw ApiError(status, d.refusal, d.detail, {{field, d.detail}}, {{"coupon_code", d.code}});
}

Redeemed redeem_coupon(soci::session& sql, const CouponUse& use, engine::TimePoint now,
                       const std::string& field) {
  const auto d = decide_coupon(sql, use, now, /*lock=*/true);
  if (d.refusal != "ok") refuse_coupon(d, field);
  db::coupons::Redemption r;
  r.id = new_id("rdm");
  r.code = d.code;
  r.member_id = use.member_id;
  r.channel = use.channel;
  r.order_id = use.order_id;
  r.event_id = use.event_id;
  r.total_minor = use.total_minor;
  r.discount_minor = d.discount_minor;
  r.redeemed_at = now;
  if (d.own_hold) r.hold_id = d.own_hold->id;
  db::coupons::record_redemption(sql, r, d.stored->coupon, d.stored->digits);
  return {r.id, d.code, d.stored->coupon, d.discount_minor, d.stored->digits};
}

json issue_coupon(soci::session& sql, const rules::CompiledProgram& program,
                  const std::string& coupon, const std::optional<std::string>& member_id,
                  engine::TimePoint now, const std::string& source,
                  const std::optional<std::string>& source_id) {
  const auto& templates = program.coupon_templates();
  const auto it = templates.find(coupon);
  if (it == templates.end())
    throw ApiError(http::status::not_found, "unknown_coupon_template",
                   "the active program has no coupon \"" + coupon + "\"");
  const auto& t = it->second;
  db::coupons::Issue issue;
  issue.coupon = t.id;
  issue.name = t.name;
  issue.digits = program.currency_digits();
  issue.terms = t.terms;
  issue.expires_at = program.after(t.valid, now);
  issue.uses = t.uses;
  issue.member_id = member_id;
  issue.source = source;
  issue.source_id = source_id;
  const auto code = db::coupons::issue(sql, issue, now);
  return {
      {"coupon", t.id}, {"code", code}, {"expires_at", engine::format_rfc3339(issue.expires_at)}};
}

json coupon_json(const db::coupons::Code& c) {
  json terms = json::object();
  if (c.terms.amount_minor) terms["discount"] = money(*c.terms.amount_minor, c.digits);
  if (c.terms.percent_e4) {
    // 100000 -> "10", 125000 -> "12.5"
    const auto whole = *c.terms.percent_e4 / 10000, fraction = *c.terms.percent_e4 % 10000;
    std::string text = std::to_string(whole);
    if (fraction) {
      std::string f = std::to_string(fraction);
      f = std::string(4 - f.size(), '0') + f;
      while (f.back() == '0') f.pop_back();
      text += "." + f;
    }
    terms["discount_percent"] = text;
  }
  if (c.terms.max_minor) terms["max_discount"] = money(*c.terms.max_minor, c.digits);
  if (c.terms.min_total_minor) terms["min_total"] = money(c.terms.min_total_minor, c.digits);
  terms["channels"] = c.terms.channels;
  return {{"code", c.code},
          {"coupon", c.coupon},
          {"name", c.name},
          {"terms", terms},
          {"member_id", c.member_id ? json(*c.member_id) : json(nullptr)},
          {"issued_at", engine::format_rfc3339(c.issued_at)},
          {"expires_at", engine::format_rfc3339(c.expires_at)},
          {"uses_allowed", c.uses_allowed},
          {"uses", c.uses},
          {"uses_left", c.uses_allowed - c.uses},
          {"source", c.source}};
}

}  // namespace circolo::api
