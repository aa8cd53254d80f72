// Reports for finance and marketing: GET /v1/admin/reports/liability (outstanding points) and
// GET /v1/admin/reports/campaigns[/{id}] (what campaigns did, with a budget forecast).
#include "circolo/api/reports.hpp"

#include <algorithm>

#include "circolo/api/app.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/programs.hpp"
#include "circolo/db/reports.hpp"
#include "circolo/engine/campaigns.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

// The forecast looks at the points awarded in the last week.
constexpr int kRecentDays = 7;

json figures_json(const db::reports::ActivityFigures& f) {
  return {{"firings", f.firings},
          {"members", f.members},
          {"points_awarded", f.points},
          {"coupons_issued", f.coupons_issued}};
}

// One campaign's report: what it did in the period, and its budget with the forecast.
json campaign_json(const std::string& id, const db::reports::CampaignActivity& a,
                   const rules::CompiledProgram* program, const std::vector<std::string>& paused,
                   engine::TimePoint now) {
  const rules::CompiledProgram::Campaign* declared = nullptr;
  if (program) {
    for (const auto& c : program->campaigns())
      if (c.id == id) declared = &c;
  }
  json out = figures_json(a.total);
  out["id"] = id;
  out["name"] = declared ? json(declared->name) : json(nullptr);
  out["state"] = declared ? std::string(engine::campaigns::name(engine::campaigns::state(
                                std::find(paused.begin(), paused.end(), id) != paused.end(),
                                declared->from, declared->until, now)))
                          : "removed";
  out["points_reversed"] = a.points_reversed;
  out["coupons_redeemed"] = a.coupons_redeemed;
  out["budget"] = declared && declared->budget ? json(*declared->budget) : json(nullptr);
  out["budget_used"] = a.budget_used;
  out["budget_left"] = nullptr;
  out["budget_runs_out_on"] = nullptr;
  out["recent_points_per_day"] = a.recent_points / kRecentDays;
  if (declared && declared->budget) {
    const long long left = std::max<long long>(*declared->budget - a.budget_used, 0);
    out["budget_left"] = left;
    if (const auto days = engine::campaigns::days_until_spent(left, a.recent_points, kRecentDays)) {
      // The local day it runs out on (the program's time zone), unless the campaign ends first.
      const auto at = now + std::chrono::hours(24) * *days;
      const bool ends_first = declared->until && *declared->until <= at;
      if (!ends_first && program) {
        if (const auto day = program->calendar_period("day", at))
          out["budget_runs_out_on"] = day->key.substr(4);  // "day:2026-12-20"
      }
    }
  }
  const auto series = [](const std::map<std::string, db::reports::ActivityFigures>& by,
                         const char* key) {
    json items = json::array();
    for (const auto& [name, f] : by) {
      auto item = figures_json(f);
      item[key] = name;
      items.push_back(std::move(item));
    }
    return items;
  };
  out["rules"] = series(a.rules, "id");
  out["days"] = series(a.days, "date");
  out["channels"] = series(a.channels, "channel");
  return out;
}

asio::awaitable<Response> campaigns_report(Services& s, const ProgramStore& store, Request& request,
                                           std::optional<std::string> only) {
  const auto now = s.clock.now();
  const auto active = store.for_request();
  const rules::CompiledProgram* program =
      active && active->program ? active->program.get() : nullptr;
  const auto until = report_bound(request.query("until"), now, program, "until");
  const auto from =
      report_bound(request.query("from"), until - std::chrono::hours(24 * 30), program, "from");
  if (from >= until)
    throw ApiError(http::status::bad_request, "invalid_query", "from must be before until");
  std::vector<std::string> known;
  if (program) {
    for (const auto& c : program->campaigns()) known.push_back(c.id);
  }
  const std::string zone = program ? program->timezone() : "UTC";
  const auto recent_from = now - std::chrono::hours(24 * kRecentDays);
  auto [activity, paused] = co_await s.db.run([&](soci::session& sql) {
    return std::make_pair(
        db::reports::campaign_activity(sql, from, until, zone, only, known, recent_from, now),
        db::programs::paused(sql));
  });
  if (only && !activity.count(*only))
    throw ApiError(
        http::status::not_found, "unknown_campaign",
        "the active program has no campaign \"" + *only + "\" and none fired in the period");
  json campaigns = json::array();
  for (const auto& [id, a] : activity)
    campaigns.push_back(campaign_json(id, a, program, paused, now));
  json head{{"from", engine::format_rfc3339(from)},
            {"until", engine::format_rfc3339(until)},
            {"as_of", engine::format_rfc3339(now)}};
  if (only) {
    auto one = campaigns.front();
    one.update(head);
    co_return json_response(http::status::ok, std::move(one));
  }
  head["campaigns"] = std::move(campaigns);
  co_return json_response(http::status::ok, std::move(head));
}

}  // namespace

engine::TimePoint report_bound(const std::optional<std::string>& text, engine::TimePoint fallback,
                               const rules::CompiledProgram* program, const char* name) {
  if (!text) return fallback;
  if (auto t = engine::parse_rfc3339(*text)) return *t;
  if (auto noon = engine::parse_rfc3339(*text + "T12:00:00Z")) {
    if (!program) return *noon - std::chrono::hours(12);
    if (auto day = program->calendar_period("day", *noon)) return day->from;
  }
  throw ApiError(http::status::bad_request, "invalid_query",
                 std::string(name) + " must be a date (2026-11-01) or an RFC 3339 time");
}

void register_report_routes(App& app, const ProgramStore& store) {
  auto& s = app.services();
  app.router().add({http::verb::get, "/v1/admin/reports/liability", Access::only({Role::admin}),
                    [&s](Request&) -> asio::awaitable<Response> {
                      const auto now = s.clock.now();
                      auto rows = co_await s.db.run(
                          [now](soci::session& sql) { return db::reports::liability(sql, now); });
                      json by_tier = json::array();
                      long long members = 0, available = 0, pending = 0;
                      for (const auto& r : rows) {
                        by_tier.push_back({{"tier", r.tier ? json(*r.tier) : json(nullptr)},
                                           {"members", r.members},
                                           {"available", r.available},
                                           {"pending", r.pending},
                                           {"outstanding", r.available + r.pending}});
                        members += r.members;
                        available += r.available;
                        pending += r.pending;
                      }
                      co_return json_response(http::status::ok,
                                              {{"as_of", engine::format_rfc3339(now)},
                                               {"total",
                                                {{"members", members},
                                                 {"available", available},
                                                 {"pending", pending},
                                                 {"outstanding", available + pending}}},
                                               {"by_tier", by_tier}});
                    }});
  app.router().add({http::verb::get, "/v1/admin/reports/campaigns", Access::only({Role::admin}),
                    [&s, &store](Request& request) -> asio::awaitable<Response> {
                      co_return co_await campaigns_report(s, store, request, std::nullopt);
                    }});
  app.router().add({http::verb::get, "/v1/admin/reports/campaigns/{id}",
                    Access::only({Role::admin}),
                    [&s, &store](Request& request) -> asio::awaitable<Response> {
                      co_return co_await campaigns_report(s, store, request, request.param("id"));
                    }});
}

}  // namespace circolo::api
