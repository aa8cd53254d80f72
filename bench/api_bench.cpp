// Micro-benchmarks of the request path's pure parts: routing, JSON limits, problem rendering.
#include <benchmark/benchmark.h>

#include "circolo/api/auth.hpp"
#include "circolo/api/http.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/router.hpp"
#include "circolo/engine/digest.hpp"

using namespace circolo::api;

namespace {

Router realistic_router() {
  Router r;
  auto noop = [](Request&) -> boost::asio::awaitable<Response> { co_return Response{}; };
  for (const char* p : {"/v1/members",
                        "/v1/members/lookup",
                        "/v1/members/{id}",
                        "/v1/members/{id}/wallet",
                        "/v1/members/{id}/ledger",
                        "/v1/members/{id}/timeline",
                        "/v1/members/{id}/identifiers",
                        "/v1/members/{id}/merge",
                        "/v1/members/{id}/points/spend",
                        "/v1/members/{id}/points/adjust",
                        "/v1/members/{id}/points/transfer",
                        "/v1/events",
                        "/v1/coupons/validate",
                        "/v1/coupons/redeem",
                        "/v1/coupons/reserve",
                        "/v1/redemptions/{id}/rollback",
                        "/v1/rewards",
                        "/v1/rewards/{id}/claim",
                        "/v1/challenges",
                        "/v1/leaderboards/points",
                        "/v1/feed",
                        "/v1/admin/program",
                        "/v1/admin/keys",
                        "/v1/admin/keys/{id}",
                        "/healthz",
                        "/readyz"}) {
    r.add({http::verb::get, p, {}, noop});
    r.add({http::verb::post, p, {}, noop});
  }
  return r;
}

void BM_RouteMatch(benchmark::State& state) {
  const auto router = realistic_router();
  const std::vector<std::string> segments{"v1", "members", "mem_7k2p9x", "points", "spend"};
  for (auto _ : state) benchmark::DoNotOptimize(router.match(http::verb::post, segments));
}
BENCHMARK(BM_RouteMatch);

void BM_ParsePurchaseJson(benchmark::State& state) {
  const std::string body =
      R"({"type":"purchase","member":{"identifier":{"type":"card","value":"0400123456789"}},)"
      R"("occurred_at":"2026-12-05T10:15:00+01:00","store":"milano-01","order_id":"R-1234","total":"84.50",)"
      R"("currency":"EUR","items":[{"sku":"A1","category":"shoes","brand":"x","quantity":1,"price":"59.90"},)"
      R"({"sku":"B2","category":"socks","brand":"y","quantity":2,"price":"12.30"}],"coupons":["SHOES10-7XK2P9"]})";
  for (auto _ : state) benchmark::DoNotOptimize(parse_json_limited(body));
}
BENCHMARK(BM_ParsePurchaseJson);

void BM_ProblemBody(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(problem_body(
        http::status::unprocessable_entity, "validation_failed", "2 fields are invalid",
        {{"total", "is not a decimal number"}, {"currency", "must be EUR"}},
        "req_abcdefghijklmnopqrstuvwxyz"));
  }
}
BENCHMARK(BM_ProblemBody);

void BM_KeyHash(benchmark::State& state) {
  const auto secret = new_key_secret();
  for (auto _ : state) benchmark::DoNotOptimize(circolo::engine::sha256_hex(secret));
}
BENCHMARK(BM_KeyHash);

}  // namespace

BENCHMARK_MAIN();
