// GET /v1/admin/campaigns: the active program's campaigns, with their state, budget use and last
// firing.
#include "circolo/db/campaigns.hpp"
#include "circolo/api/app.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/engine/campaigns.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;

json optional_time(const std::optional<engine::TimePoint>& t) {
  return t ? json(engine::format_rfc3339(*t)) : json(nullptr);
}

}  // namespace

void register_campaign_routes(App& app, ProgramStore& store) {
  auto& s = app.services();
  app.router().add(
      {http::verb::get, "/v1/admin/campaigns", Access::only({Role::admin}),
       [&s, &store](Request&) -> asio::awaitable<Response> {
         const auto active = store.for_request();
         const auto now = s.clock.now();
         json items = json::array();
         if (!active || !active->program)
           co_return json_response(http::status::ok, {{"program_version", nullptr},
                                                      {"as_of", engine::format_rfc3339(now)},
                                                      {"items", items}});
         const auto& campaigns = active->program->campaigns();
         std::vector<std::string> ids;
         for (const auto& c : campaigns) ids.push_back(c.id);
         const auto rows = co_await s.db.run(
             [&ids](soci::session& sql) { return db::campaigns::activity(sql, ids); });
         for (std::size_t i = 0; i < campaigns.size() && i < rows.size(); ++i) {
           const auto& c = campaigns[i];
           const auto& row = rows[i];
           // Paused as the database says now (the store catches up within milliseconds).
           const auto state =
               engine::campaigns::state(row.paused_at.has_value(), c.from, c.until, now);
           json budget = nullptr;
           if (c.budget)
             budget = {{"points", *c.budget},
                       {"remaining", std::max<long long>(0, *c.budget - row.budget_used)}};
           items.push_back({{"id", c.id},
                            {"name", c.name},
                            {"state", engine::campaigns::name(state)},
                            {"from", optional_time(c.from)},
                            {"until", optional_time(c.until)},
                            {"paused_at", optional_time(row.paused_at)},
                            {"paused_by", row.paused_by ? json(*row.paused_by) : json(nullptr)},
                            {"budget", budget},
                            {"budget_used", row.budget_used},
                            {"last_fired_at", optional_time(row.last_fired_at)}});
         }
         co_return json_response(http::status::ok, {{"program_version", active->version},
                                                    {"as_of", engine::format_rfc3339(now)},
                                                    {"items", items}});
       }});
}

}  // namespace circolo::api
