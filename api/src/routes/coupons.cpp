// Coupons: /v1/coupons/..., /v1/redemptions/{id}/rollback, /v1/members/{id}/coupons,
// /v1/admin/coupons/...: thin handlers around api/src/coupons.cpp (rewards: rewards.cpp).
#include <algorithm>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/coupons.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/api_keys.hpp"
#include "circolo/db/coupons.hpp"
#include "circolo/db/events.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/points.hpp"
#include "circolo/db/query.hpp"
#include "circolo/engine/ledger.hpp"
#include "circolo/engine/money.hpp"
#include "coupon_requests.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

using namespace coupon_requests;

const Access kAdmin = Access::only({Role::admin});
const Access kStaff = Access::only({Role::admin, Role::touchpoint});
const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});

std::string money(long long minor, int digits) {
  return engine::format_money({minor, digits});
}

json hold_json(const db::coupons::Hold& h) {
  return {{"reservation_id", h.id},
          {"member_id", h.member_id},
          {"channel", h.channel},
          {"created_at", engine::format_rfc3339(h.created_at)},
          {"expires_at", engine::format_rfc3339(h.expires_at)}};
}

json redemption_json(const db::coupons::Redemption& r, int digits) {
  return {{"redemption_id", r.id},
          {"code", r.code},
          {"member_id", r.member_id},
          {"channel", r.channel},
          {"order_id", r.order_id ? json(*r.order_id) : json(nullptr)},
          {"event_id", r.event_id ? json(*r.event_id) : json(nullptr)},
          {"total", money(r.total_minor, digits)},
          {"discount", money(r.discount_minor, digits)},
          {"redeemed_at", engine::format_rfc3339(r.redeemed_at)},
          {"rolled_back_at",
           r.rolled_back_at ? json(engine::format_rfc3339(*r.rolled_back_at)) : json(nullptr)}};
}

}  // namespace

// A member token checking codes one after another is guessing them: a few a minute is what an
// app needs (20 at once, then one every 2 s). A touchpoint key gets far more, not unlimited.
void limit_member_guesses(App& app, const Request& request) {
  const auto& caller = request.caller();
  if (const auto* rule = coupon_check_limit(app.rate_limits(), caller.role == Role::member,
                                            caller.role == Role::touchpoint))
    app.throttle("coupons:" + caller.key_id, *rule, "coupon checks");
}

void register_coupon_routes(App& app, ProgramStore& store, const CouponSettings& settings) {
  auto& s = app.services();
  auto& r = app.router();

  // Validate: the answer a checkout shows before paying; changes nothing.
  r.add({http::verb::post, "/v1/coupons/validate", kAnyone,
         [&app, &s, &store](Request& request) -> asio::awaitable<Response> {
           limit_member_guesses(app, request);
           const auto active = active_program(store);
           const auto& program = *active->program;
           const auto body = request.json_body();
           const auto in =
               parse_use(body, program.currency_digits(), true, false, request.caller().member_id);
           check_currency(body, program);
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             CouponUse use;
             use.as_member = request.caller().role == Role::member;
             use.code = in.code;
             use.member_id = resolve_member(sql, request, in.member);
             use.total_minor = in.total_minor;
             use.channel = use_channel(sql, request, body);
             const auto d = decide_coupon(sql, use, now, /*lock=*/false);
             if (d.refusal != "ok")
               return json_response(http::status::ok,
                                    {{"valid", false}, {"code", d.refusal}, {"detail", d.detail}});
             return json_response(http::status::ok,
                                  {{"valid", true},
                                   {"coupon", d.stored->coupon},
                                   {"discount", money(d.discount_minor, d.stored->digits)},
                                   {"expires_at", engine::format_rfc3339(d.stored->expires_at)},
                                   {"uses_left", d.uses_left}});
           });
         }});

  r.add({http::verb::post, "/v1/coupons/redeem", kAnyone,
         [&app, &s, &store](Request& request) -> asio::awaitable<Response> {
           limit_member_guesses(app, request);
           const auto active = active_program(store);
           const auto& program = *active->program;
           const auto body = request.json_body();
           const auto in =
               parse_use(body, program.currency_digits(), true, true, request.caller().member_id);
           check_currency(body, program);
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             CouponUse use;
             use.as_member = request.caller().role == Role::member;
             use.code = in.code;
             use.member_id = resolve_member(sql, request, in.member);
             use.total_minor = in.total_minor;
             use.channel = use_channel(sql, request, body);
             use.order_id = in.order_id;
             // Member first, then the code: the order events and merges lock them in.
             db::members::lock(sql, use.member_id);
             const auto done = redeem_coupon(sql, use, now);
             return json_response(http::status::created,
                                  {{"redemption_id", done.redemption_id},
                                   {"code", done.code},
                                   {"coupon", done.coupon},
                                   {"member_id", use.member_id},
                                   {"discount", money(done.discount_minor, done.digits)}});
           });
         },
         /*idempotency_required=*/true});

  r.add({http::verb::post, "/v1/coupons/reserve", kAnyone,
         [&app, &s, &store, settings](Request& request) -> asio::awaitable<Response> {
           limit_member_guesses(app, request);
           const auto active = active_program(store);
           const auto body = request.json_body();
           std::vector<FieldError> errors;
           only_fields(body, {"code", "member", "ttl_seconds", "channel"}, errors);
           auto ttl = settings.default_hold;
           if (body.contains("ttl_seconds")) {
             const auto& t = body["ttl_seconds"];
             if (!t.is_number_integer() || t.get<long long>() < 1 ||
                 t.get<long long>() > settings.max_hold.count())
               errors.push_back({"ttl_seconds", "must be a whole number of seconds from 1 to " +
                                                    std::to_string(settings.max_hold.count())});
             else
               ttl = std::chrono::seconds(t.get<long long>());
           }
           const auto code = code_field(body, errors);
           const auto member = parse_member_ref(body, errors, request.caller().member_id);
           if (!errors.empty()) throw_validation(std::move(errors));
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             // No basket yet: the minimum total is checked when the hold is redeemed.
             CouponUse use;
             use.as_member = request.caller().role == Role::member;
             use.code = *code;
             use.member_id = resolve_member(sql, request, *member);
             use.total_minor = std::numeric_limits<long long>::max();
             use.channel = use_channel(sql, request, body);
             use.reserving = true;
             db::members::lock(sql, use.member_id);  // member, then code, as everywhere
             auto d = decide_coupon(sql, use, now, /*lock=*/true);
             if (d.refusal == "coupon_already_redeemed" && d.own_hold) {
               // Its own hold takes the last use: asking again renews it.
               d.refusal = "ok";
             }
             if (d.refusal != "ok") refuse_coupon(d);
             db::coupons::Hold hold;
             if (d.own_hold) {
               // Asked again (the app's checkout restarted): the same hold, for longer.
               hold = *d.own_hold;
               hold.expires_at = now + ttl;
               db::coupons::renew_hold(sql, hold.id, hold.expires_at);
             } else {
               hold = {new_id("hld"), d.code, use.member_id, use.channel, now, now + ttl};
               db::coupons::insert_hold(sql, hold);
             }
             auto out = hold_json(hold);
             out["code"] = d.code;
             out["coupon"] = d.stored->coupon;
             return json_response(http::status::created, out);
           });
         }});

  r.add({http::verb::post, "/v1/redemptions/{id}/rollback", kStaff,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           const auto now = s.clock.now();
           co_return co_await transact(s, request, [&](soci::session& sql) {
             auto redemption = db::coupons::lock_redemption(sql, id);
             if (!redemption)
               throw ApiError(http::status::not_found, "unknown_redemption", "no redemption " + id);
             // A touchpoint undoes what happened on its own channel (the till that took the
             // code); another channel's redemption is an admin's to roll back.
             const auto& caller = request.caller();
             if (caller.role == Role::touchpoint && caller.channel != redemption->channel)
               throw ApiError(http::status::forbidden, "forbidden",
                              "redemption " + id + " was made on the " + redemption->channel +
                                  " channel: a touchpoint of that channel, or an admin, rolls it "
                                  "back");
             if (redemption->rolled_back_at)
               throw ApiError(http::status::conflict, "redemption_rolled_back",
                              "redemption " + id + " was already rolled back at " +
                                  engine::format_rfc3339(*redemption->rolled_back_at));
             db::coupons::lock(sql, redemption->code);
             db::coupons::roll_back(sql, *redemption, now);
             const auto code = db::coupons::find(sql, redemption->code);
             audit(
                 sql, request, now, "redemption.rolled_back", redemption->member_id,
                 {{"redemption", id}, {"coupon", code->coupon}, {"channel", redemption->channel}});
             redemption->rolled_back_at = now;
             auto out = redemption_json(*redemption, code->digits);
             out["uses_left"] = code->uses_allowed - code->uses;
             return json_response(http::status::ok, out);
           });
         }});

  r.add({http::verb::get, "/v1/members/{id}/coupons", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             resolve_member(sql, request, MemberRef{id, std::nullopt});
             json items = json::array();
             for (const auto& c : db::coupons::usable_of(sql, id, now))
               items.push_back(coupon_json(c));
             return json_response(http::status::ok, {{"items", items}, {"next_cursor", nullptr}});
           });
         }});

  r.add({http::verb::get, "/v1/admin/coupons/codes/{code}", kStaff,
         [&s](Request& request) -> asio::awaitable<Response> {
           const auto code = engine::coupons::normalise_code(request.param("code"));
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             const auto found = db::coupons::find(sql, code);
             if (!found) throw ApiError(http::status::not_found, "unknown_coupon", "no such code");
             auto out = coupon_json(*found);
             json holds = json::array(), redemptions = json::array();
             for (const auto& h : db::coupons::open_holds(sql, code, now))
               holds.push_back(hold_json(h));
             for (const auto& x : db::coupons::redemptions_of(sql, code))
               redemptions.push_back(redemption_json(x, found->digits));
             out["reservations"] = holds;
             out["redemptions"] = redemptions;
             out["expired"] = found->expires_at <= now;
             return json_response(http::status::ok, out);
           });
         }});

  // Bulk generation: all codes stored in one transaction (COPY), then sent; as CSV with
  // Accept: text/csv.
  r.add(
      {http::verb::post, "/v1/admin/coupons/{coupon}/codes", kAdmin,
       [&s, &store, settings](Request& request) -> asio::awaitable<Response> {
         const auto active = active_program(store);
         const auto& program = *active->program;
         const std::string coupon = request.param("coupon");
         const auto it = program.coupon_templates().find(coupon);
         if (it == program.coupon_templates().end())
           throw ApiError(http::status::not_found, "unknown_coupon_template",
                          "the active program has no coupon \"" + coupon + "\"");
         const auto body = request.json_body();
         std::vector<FieldError> errors;
         only_fields(body, {"count", "member", "prefix"}, errors);
         long long count = 0;
         if (!body.contains("count") || !body["count"].is_number_integer() ||
             body["count"].get<long long>() < 1 ||
             body["count"].get<long long>() > static_cast<long long>(settings.max_generate))
           errors.push_back({"count", "must be a whole number from 1 to " +
                                          std::to_string(settings.max_generate)});
         else
           count = body["count"].get<long long>();
         std::optional<MemberRef> member;
         if (body.contains("member")) {
           member = parse_member_ref(body, errors);
           // Each of a member's codes is announced (coupon.issued): a wallet, not a print run.
           if (count > 1000)
             errors.push_back({"count", "codes for one member: at most 1000 at a time"});
         }
         std::string prefix = engine::coupons::normalise_prefix(coupon).value_or("");
         if (body.contains("prefix")) {
           const auto p = body["prefix"].is_string()
                              ? engine::coupons::normalise_prefix(body["prefix"].get<std::string>())
                              : std::nullopt;
           if (!p)
             errors.push_back({"prefix", "must be 1 to 20 letters, digits or inner hyphens"});
           else
             prefix = *p;
         }
         if (!errors.empty()) throw_validation(std::move(errors));
         const bool csv =
             request.header(http::field::accept).find("text/csv") != std::string_view::npos;
         const auto now = s.clock.now();
         const auto& t = it->second;
         // The terms row first, on its own (rows of terms never change): a long generation
         // must not hold the unique index entry that events issuing this template need.
         const long long terms = co_await s.db.run([&t, &program](soci::session& sql) {
           return db::coupons::terms_id(sql, t.id, t.name, program.currency_digits(), t.terms);
         });
         co_return co_await transact(s, request, [&](soci::session& sql) {
           db::coupons::NewCode fresh;
           if (member) fresh.member_id = resolve_member(sql, request, *member);
           fresh.terms_id = terms;
           fresh.issued_at = now;
           fresh.expires_at = program.after(t.valid, now);
           fresh.uses_allowed = t.uses;
           fresh.source = "admin";
           fresh.source_id = new_id("gen");
           // Random bytes drawn 64 KiB at a time: one OpenSSL call per few thousand codes.
           std::vector<unsigned char> pool(1 << 16);
           std::size_t pooled = 0;
           const engine::coupons::RandomBytes random = [&](unsigned char* out, std::size_t n) {
             for (std::size_t i = 0; i < n; ++i) {
               if (pooled == 0) {
                 db::coupons::strong_random(pool.data(), pool.size());
                 pooled = pool.size();
               }
               out[i] = pool[--pooled];
             }
           };
           std::vector<std::pair<std::int64_t, std::string>> drawn;
           const auto by_number = [](const auto& a, const auto& b) { return a.first < b.first; };
           const auto same_number = [](const auto& a, const auto& b) { return a.first == b.first; };
           drawn.reserve(static_cast<std::size_t>(count));
           for (int attempt = 0;; ++attempt) {
             if (attempt == 5) throw std::runtime_error("could not draw unused coupon codes");
             // In key order (the primary key's B-tree then fills page after page), without
             // repeats: draw, sort, drop duplicates, draw what is missing.
             while (drawn.size() < static_cast<std::size_t>(count)) {
               while (drawn.size() < static_cast<std::size_t>(count)) {
                 std::int64_t number = 0;
                 auto code = engine::coupons::make_code(prefix, random, &number);
                 drawn.emplace_back(number, std::move(code));
               }
               std::sort(drawn.begin(), drawn.end(), by_number);
               drawn.erase(std::unique(drawn.begin(), drawn.end(), same_number), drawn.end());
             }
             if (db::coupons::insert_many(sql, drawn, fresh)) break;
             // A clash with a stored code stored nothing: drop the clashing ones, draw again.
             const auto taken = db::coupons::existing(sql, drawn);
             std::erase_if(drawn, [&](const auto& d) { return taken.count(d.first) > 0; });
           }
           // Codes issued by hand: who, for which member (or a print run), how many. The codes
           // themselves stay out of the trail: they are bearer secrets.
           audit(sql, request, now, "coupon.codes_issued", fresh.member_id,
                 {{"coupon", t.id}, {"count", drawn.size()}, {"generation_id", *fresh.source_id}});
           std::vector<std::string> codes;
           codes.reserve(drawn.size());
           for (auto& d : drawn) codes.push_back(std::move(d.second));
           if (fresh.member_id) {
             for (const auto& code : codes)
               db::points::publish(sql, "coupon.issued", fresh.member_id, now,
                                   {{"coupon", t.id},
                                    {"code", code},
                                    {"expires_at", engine::format_rfc3339(fresh.expires_at)},
                                    {"source", "admin"},
                                    {"source_id", *fresh.source_id}});
           }
           Response response;
           response.status = http::status::created;
           if (csv) {
             response.content_type = "text/csv";
             std::string out;
             out.reserve(codes.size() * (codes.front().size() + 1));
             for (const auto& code : codes) {
               out += code;
               out += '\n';
             }
             response.body = std::move(out);
           } else {
             response = json_response(
                 http::status::created,
                 {{"coupon", t.id},
                  {"generation_id", *fresh.source_id},
                  {"count", codes.size()},
                  {"member_id", fresh.member_id ? json(*fresh.member_id) : json(nullptr)},
                  {"expires_at", engine::format_rfc3339(fresh.expires_at)},
                  {"codes", codes}});
           }
           return response;
         });
       }});

  r.add({http::verb::post, "/v1/admin/coupons/expiring", kAdmin,
         [&s, settings](Request&) -> asio::awaitable<Response> {
           const auto n = co_await announce_expiring_coupons(s, settings.expiring_notice);
           co_return json_response(http::status::ok, {{"announced", n}});
         }});
}

asio::awaitable<long long> announce_expiring_coupons(Services& services,
                                                     std::chrono::seconds notice) {
  long long announced = 0;
  for (;;) {
    const auto now = services.clock.now();
    const auto n = co_await services.db.run([now, notice](soci::session& sql) {
      soci::transaction tx(sql);
      const auto due = db::coupons::take_expiring(sql, now, now + notice, 200);
      for (const auto& c : due) {
        db::points::publish(sql, "coupon.expiring", c.member_id, now,
                            {{"coupon", c.coupon},
                             {"code", c.code},
                             {"expires_at", engine::format_rfc3339(c.expires_at)},
                             {"uses_left", c.uses_allowed - c.uses}});
      }
      tx.commit();
      return static_cast<long long>(due.size());
    });
    announced += n;
    if (n < 200) break;
  }
  co_return announced;
}

}  // namespace circolo::api
