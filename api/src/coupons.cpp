#include "circolo/api/coupons.hpp"

#include <openssl/rand.h>

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

void strong_random(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
}

std::string money(long long minor, int digits) {
  return engine::format_money({minor, digits});
}

std::string refusal_detail(coupons::Refusal r, const db::coupons::Code& c) {
  switch (r) {
    case coupons::Refusal::coupon_expired:
      return "the code expired at " + engine::format_rfc3339(c.expires_at);
    case coupons::Refusal::coupon_not_owned:
      return "the code belongs to another member";
    case coupons::Refusal::coupon_already_redeemed:
      return c.uses_allowed == 1 ? "the code was already redeemed (or is reserved)"
                                 : "every use of the code was redeemed (or is reserved)";
    case coupons::Refusal::channel_not_allowed: {
      std::string list;
      for (const auto& ch : c.terms.channels) list += (list.empty() ? "" : ", ") + ch;
      return "the code can be redeemed on " + list + " only";
    }
    case coupons::Refusal::min_total_not_met:
      return "the code needs a total of at least " + money(c.terms.min_total_minor, c.digits);
    case coupons::Refusal::none:
      break;
  }
  return "";
}

}  // namespace

CouponDecision decide_coupon(soci::session& sql, const CouponUse& use, engine::TimePoint now,
                             bool lock) {
  CouponDecision d;
  d.code = coupons::normalise_code(use.code);
  const auto shape = coupons::check_shape(d.code);
  if (shape != coupons::CodeShape::ok) {
    d.refusal = "unknown_coupon";
    d.detail = shape == coupons::CodeShape::check_failed
                   ? "no such code: its check character does not match (mistyped?)"
                   : "no such code: codes look like PREFIX-XXXXXXXXXXX";
    return d;
  }
  d.stored = lock ? db::coupons::lock(sql, d.code) : db::coupons::find(sql, d.code);
  if (!d.stored) {
    d.refusal = "unknown_coupon";
    d.detail = "no such code";
    return d;
  }
  coupons::CodeState state;
  state.owner = d.stored->member_id;
  state.expires_at = d.stored->expires_at;
  state.uses_allowed = d.stored->uses_allowed;
  state.used = d.stored->uses;
  state.terms = d.stored->terms;
  for (auto& hold : db::coupons::open_holds(sql, d.code, now)) {
    if (hold.member_id == use.member_id && !d.own_hold)
      d.own_hold = std::move(hold);
    else
      ++state.held_by_others;
  }
  state.held_by_member = d.own_hold.has_value();
  const auto refusal = coupons::check(state, use.member_id, use.total_minor, use.channel,
                                      use.used_at.value_or(now), use.reserving);
  if (refusal != coupons::Refusal::none) {
    d.refusal = coupons::code_of(refusal);
    d.detail = refusal_detail(refusal, *d.stored);
    return d;
  }
  d.discount_minor = coupons::discount(d.stored->terms, use.total_minor);
  if (use.discount_limit) d.discount_minor = std::min(d.discount_minor, *use.discount_limit);
  d.uses_left = std::max(0, d.stored->uses_allowed - d.stored->uses - state.held_by_others);
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
  if (d.own_hold) {
    r.hold_id = d.own_hold->id;
    db::coupons::end_hold(sql, d.own_hold->id, r.id, now);
  }
  db::coupons::redeem(sql, r);
  db::points::publish(sql, "coupon.redeemed", use.member_id, now,
                      {{"code", d.code},
                       {"coupon", d.stored->coupon},
                       {"redemption_id", r.id},
                       {"discount", money(d.discount_minor, d.stored->digits)},
                       {"order_id", use.order_id ? json(*use.order_id) : json(nullptr)},
                       {"event_id", use.event_id ? json(*use.event_id) : json(nullptr)}});
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
  db::coupons::NewCode fresh;
  fresh.terms_id = db::coupons::terms_id(sql, t.id, t.name, program.currency_digits(), t.terms);
  fresh.member_id = member_id;
  fresh.issued_at = now;
  fresh.expires_at = program.after(t.valid, now);
  fresh.uses_allowed = t.uses;
  fresh.source = source;
  fresh.source_id = source_id;
  const std::string prefix = coupons::normalise_prefix(t.id).value_or("");
  // About 2^48 codes per prefix: a collision is rare; another draw settles it.
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto code = coupons::make_code(prefix, strong_random);
    if (!db::coupons::insert(sql, code, fresh)) continue;
    json out{
        {"coupon", t.id}, {"code", code}, {"expires_at", engine::format_rfc3339(fresh.expires_at)}};
    if (member_id) {
      db::points::publish(sql, "coupon.issued", member_id, now,
                          {{"coupon", t.id},
                           {"code", code},
                           {"expires_at", out["expires_at"]},
                           {"source", source},
                           {"source_id", source_id ? json(*source_id) : json(nullptr)}});
    }
    return out;
  }
  throw std::runtime_error("could not draw an unused coupon code");
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
