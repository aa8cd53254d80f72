// What a member is interested in: GET /v1/members/{id}/interests.
#include "circolo/api/interests.hpp"

#include <cmath>

#include "circolo/api/app.hpp"
#include "circolo/api/audit.hpp"
#include "circolo/api/members.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/engine/consent.hpp"
#include "circolo/engine/interests.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
namespace interests = engine::interests;

const Access kAnyone = Access::only({Role::admin, Role::touchpoint, Role::member});
constexpr std::size_t kShown = 10;

json ranked(const interests::Profile& p, interests::Kind kind) {
  json out = json::array();
  for (const auto& [key, share] : interests::top(p, kind, kShown))
    out.push_back({{"key", key}, {"affinity", std::round(share * 1e4) / 1e4}});
  return out;
}

json optional_text(const std::optional<std::string>& s) {
  return s ? json(*s) : json(nullptr);
}

}  // namespace

json interests_json(const db::Member& m, int digits, engine::TimePoint now) {
  const auto& p = m.interests;
  const auto money = [&](int days) {
    return engine::format_money({interests::spend_within(p, days, now), digits});
  };
  const auto days = interests::days_since_purchase(p, now);
  return {{"member_id", m.id},
          {"profiling", m.consents.granted(engine::consent::Purpose::profiling)},
          {"as_of", p.empty() ? json(nullptr) : json(engine::format_rfc3339(p.as_of))},
          {"categories", ranked(p, interests::Kind::category)},
          {"brands", ranked(p, interests::Kind::brand)},
          {"products", ranked(p, interests::Kind::product)},
          {"preferred_channel", optional_text(interests::preferred_channel(p))},
          {"preferred_store", optional_text(interests::preferred_store(p))},
          {"last_purchase_at",
           p.last_purchase ? json(engine::format_rfc3339(*p.last_purchase)) : json(nullptr)},
          {"days_since_purchase", days ? json(*days) : json(nullptr)},
          {"spend", {{"days_30", money(30)}, {"days_90", money(90)}, {"days_365", money(365)}}}};
}

void register_interest_routes(App& app, const ProgramStore& store) {
  auto& s = app.services();
  // The store sees the customer in front of it; the app shows the member what it is thought to
  // like (and the member can stop it: consent to profiling).
  app.router().add({http::verb::get, "/v1/members/{id}/interests", kAnyone,
                    [&s, &store](Request& request) -> asio::awaitable<Response> {
                      const std::string id = request.param("id");
                      check_scope(request.caller(), id);
                      const auto now = s.clock.now();
                      const auto active = store.for_request();
                      const int digits =
                          active && active->program ? active->program->currency_digits() : 2;
                      co_return co_await s.db.run([&](soci::session& sql) {
                        auto body = interests_json(require_member(sql, id), digits, now);
                        audit_admin_read(sql, request, now, id, "interests");
                        return json_response(http::status::ok, body);
                      });
                    }});
}

}  // namespace circolo::api
