// GET /healthz, /readyz, /metrics: for load balancers and Prometheus, no key needed.
#include "circolo/api/app.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/db/migrations.hpp"

namespace circolo::api {

void register_operations_routes(App& app, const ProgramStore& programs) {
  auto& services = app.services();

  app.router().add(
      {http::verb::get, "/healthz", Access::open(), [](Request&) -> asio::awaitable<Response> {
         co_return json_response(http::status::ok, {{"status", "ok"}});
       }});

  app.router().add({http::verb::get, "/readyz", Access::open(),
                    [&services, &programs](Request&) -> asio::awaitable<Response> {
                      bool current = false;
                      try {
                        current = co_await services.db.run([](soci::session& sql) {
                          return db::migrations_current(sql, db::embedded_migrations());
                        });
                      } catch (const std::exception&) {
                        throw ApiError(http::status::service_unavailable, "not_ready",
                                       "the database cannot be reached");
                      }
                      if (!current) {
                        throw ApiError(http::status::service_unavailable, "not_ready",
                                       "database migrations are pending");
                      }
                      if (!programs.loaded()) {
                        throw ApiError(http::status::service_unavailable, "not_ready",
                                       "the active program is loading");
                      }
                      co_return json_response(http::status::ok, {{"status", "ready"}});
                    }});

  app.router().add(
      {http::verb::get, "/metrics", Access::open(),
       [&services](Request&) -> asio::awaitable<Response> {
         const auto pool = services.db.stats();
         Response r;
         r.content_type = "text/plain; version=0.0.4";
         r.body = services.metrics.render({pool.size, pool.in_use, pool.idle, pool.reconnects});
         co_return r;
       }});
}

}  // namespace circolo::api
