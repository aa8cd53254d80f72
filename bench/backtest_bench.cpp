// The replay of a backtest without the database: recorded purchases shaped like
// scripts/bench-backtest.sh's (10,000 members; one item each; a purchase every 2.6 s over 30
// days) replayed with the demo program. Counts what the decision and the figures cost per event;
// bench-backtest.sh measures the whole job (reading the events from PostgreSQL included).
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "circolo/engine/backtest.hpp"

using namespace circolo;

namespace {

const rules::CompiledProgram& demo() {
  static const auto compiled = [] {
    std::ifstream in(CIRCOLO_DEMO_RULES);
    std::stringstream text;
    text << in.rdbuf();
    auto result = rules::compile({"demo.rules", text.str()});
    if (!result.program) throw std::runtime_error("examples/demo.rules does not compile");
    return result.program;
  }();
  return *compiled;
}

const char* kCategories[] = {"shoes", "bags",  "coffee", "shirts",
                             "jeans", "socks", "hats",   "belts"};

std::vector<engine::backtest::Recorded> purchases(int n) {
  const auto start = *engine::parse_rfc3339("2026-11-10T00:00:00Z");
  const auto step = std::chrono::microseconds(30LL * 86'400'000'000 / n);
  std::vector<engine::backtest::Recorded> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int g = 1; g <= n; ++g) {
    engine::backtest::Recorded r;
    r.event_id = "ev_bench_" + std::to_string(g);
    r.member_id = "mem_ev_" + std::to_string(1 + g % 10000);
    r.api_key_id = "key_bench";
    r.recorded_at = start + g * step;
    const std::int64_t total = 1000 + (static_cast<std::int64_t>(g) * 7919) % 9000;
    r.total_minor = total;
    auto& e = r.event;
    e.type = "purchase";
    e.channel = "store";
    e.store = "milano-01";
    e.time = r.recorded_at;
    e.total = e.subtotal = rules::Decimal{total, 2};
    rules::Item item;
    item.sku = "SKU-" + std::to_string(g % 500);
    item.category = kCategories[g % 8];
    item.brand = "brand-" + std::to_string(1 + g % 20);
    item.quantity = 1;
    item.price = rules::Decimal{total, 2};
    e.items.push_back(std::move(item));
    r.refunded_later = false;  // as the database reader says of purchases never refunded
    r.effects.push_back(
        {"base-earn", "earn", engine::backtest::CountedEffect::Kind::points, total / 100});
    out.push_back(std::move(r));
  }
  return out;
}

void BM_ReplayDemoProgram(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();  // the events as the database reader hands them over
    auto events = purchases(static_cast<int>(state.range(0)));
    const auto from = events.front().recorded_at;
    const auto until = events.back().recorded_at + std::chrono::hours(1);
    state.ResumeTiming();
    engine::backtest::Replay replay(demo(), from, until);
    for (auto& e : events) replay.add(std::move(e));
    benchmark::DoNotOptimize(replay.result());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ReplayDemoProgram)
    ->Arg(200'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
