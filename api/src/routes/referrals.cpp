// Referrals: a member's code and referrals, and the report of referrals per period.
#include "circolo/api/referrals.hpp"

#include <openssl/rand.h>

#include "circolo/api/app.hpp"
#include "circolo/api/auth.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/api/reports.hpp"
#include "circolo/db/members.hpp"
#include "circolo/db/referrals.hpp"
#include "circolo/engine/referrals.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});

std::string draw_code() {
  std::uint64_t bits = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&bits), sizeof bits) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return engine::referrals::make_code(bits);
}

void require_current(soci::session& sql, const std::string& id) {
  const auto member = db::members::find(sql, id);
  if (!member) throw ApiError(http::status::not_found, "unknown_member", "no member " + id);
  if (member->merged_into) {
    throw ApiError(http::status::gone, "member_merged",
                   "member " + id + " was merged into " + *member->merged_into, {},
                   {{"merged_into", *member->merged_into}});
  }
}

}  // namespace

std::optional<std::string> start_referral(soci::session& sql, const std::string& code,
                                          const std::string& member_id, bool enrolled,
                                          const std::string& channel, const std::string& key_id,
                                          const std::optional<std::string>& event_id,
                                          engine::TimePoint now) {
  const auto referrer = db::referrals::owner_of_code(sql, code);
  if (!referrer) {
    throw ApiError(http::status::unprocessable_entity, "unknown_referral_code",
                   "no member has the referral code " + code + " (mistyped?)",
                   {{"referral_code", "is not a member's referral code"}});
  }
  // Sent twice (two keys, or a retry that now finds the member): recorded once.
  if (const auto earlier = db::referrals::recorded(sql, member_id, referrer->member_id)) {
    if (earlier->state == "started") return earlier->id;
    return std::nullopt;
  }
  const auto refusal = engine::referrals::refusal_at_start(
      {referrer->member_id, member_id, enrolled, referrer->merged_ids,
       db::referrals::shares_identifier(sql, *referrer, member_id)});
  const auto referral = db::referrals::start(sql, new_id("ref"), code, *referrer, member_id,
                                             refusal, channel, key_id, event_id, now);
  if (refusal) return std::nullopt;
  return referral.id;
}

void register_referral_routes(App& app, const ProgramStore& store) {
  auto& s = app.services();
  auto& r = app.router();

  // The member's code (made when first asked for) and how its referrals stand.
  r.add({http::verb::get, "/v1/members/{id}/referral", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           const auto now = s.clock.now();
           co_return co_await s.db.run([&](soci::session& sql) {
             soci::transaction tx(sql);
             require_current(sql, id);
             const auto code = db::referrals::code_of(sql, id, now, draw_code);
             json counts{
                 {"started", 0}, {"completed", 0}, {"reversed", 0}, {"refused", 0}, {"expired", 0}};
             for (const auto& [state, n] : db::referrals::counts(sql, id)) counts[state] = n;
             tx.commit();
             return json_response(http::status::ok,
                                  {{"member_id", id}, {"code", code}, {"referrals", counts}});
           });
         }});

  // The member's referrals, as referrer and as referee (newest first).
  r.add({http::verb::get, "/v1/members/{id}/referrals", kAnyone,
         [&s](Request& request) -> asio::awaitable<Response> {
           const std::string id = request.param("id");
           check_scope(request.caller(), id);
           co_return co_await s.db.run([&](soci::session& sql) {
             require_current(sql, id);
             json items = json::array();
             for (const auto& referral : db::referrals::of_member(sql, id)) {
               auto item = db::referrals::to_json(referral);
               item["role"] = referral.referrer_id == id ? "referrer" : "referee";
               items.push_back(std::move(item));
             }
             return json_response(http::status::ok, {{"member_id", id}, {"items", items}});
           });
         }});

  r.add({http::verb::get, "/v1/admin/reports/referrals", Access::only({Role::admin}),
         [&s, &store](Request& request) -> asio::awaitable<Response> {
           const auto now = s.clock.now();
           const auto active = store.for_request();
           const rules::CompiledProgram* program =
               active && active->program ? active->program.get() : nullptr;
           const auto until = report_bound(request.query("until"), now, program, "until");
           const auto from = report_bound(request.query("from"),
                                          until - std::chrono::hours(24 * 30), program, "from");
           if (from >= until) {
             throw ApiError(http::status::bad_request, "invalid_query",
                            "from must be before until");
           }
           std::optional<engine::TimePoint> expired_before;
           if (program && program->referral() && program->referral()->within)
             expired_before = program->window_start(*program->referral()->within, now);
           const std::string zone = program ? program->timezone() : "UTC";
           auto report = co_await s.db.run([&](soci::session& sql) {
             return db::referrals::report(sql, from, until, expired_before, zone);
           });
           report["from"] = engine::format_rfc3339(from);
           report["until"] = engine::format_rfc3339(until);
           co_return json_response(http::status::ok, std::move(report));
         }});
}

}  // namespace circolo::api
