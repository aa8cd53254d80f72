// GET /v1/admin/reports/liability: outstanding points in total and by tier.
#include "circolo/db/reports.hpp"
#include "circolo/api/app.hpp"
#include "circolo/api/problem.hpp"

namespace circolo::api {

void register_report_routes(App& app) {
  auto& s = app.services();
  app.router().add(
      {http::verb::get, "/v1/admin/reports/liability", Access::only({Role::admin}),
       [&s](Request&) -> asio::awaitable<Response> {
         const auto now = s.clock.now();
         auto rows = co_await s.db.run(
             [now](soci::session& sql) { return db::reports::liability(sql, now); });
         nlohmann::json by_tier = nlohmann::json::array();
         long long members = 0, available = 0, pending = 0;
         for (const auto& r : rows) {
           by_tier.push_back({{"tier", r.tier ? nlohmann::json(*r.tier) : nlohmann::json(nullptr)},
                              {"members", r.members},
                              {"available", r.available},
                              {"pending", r.pending},
                              {"outstanding", r.available + r.pending}});
           members += r.members;
           available += r.available;
           pending += r.pending;
         }
         co_return json_response(http::status::ok, {{"as_of", engine::format_rfc3339(now)},
                                                    {"total",
                                                     {{"members", members},
                                                      {"available", available},
                                                      {"pending", pending},
                                                      {"outstanding", available + pending}}},
                                                    {"by_tier", by_tier}});
       }});
}

}  // namespace circolo::api
