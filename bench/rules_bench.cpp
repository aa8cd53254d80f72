// Evaluation speed of the rules language: one purchase event with 10 items against 1,000 active
// rules of realistic shape (channel, total, weekday, category filter, tier). The same program is
// written by bench/js/rules_program.mjs for the JavaScript engines compared in bench/README.md.
#include <benchmark/benchmark.h>

#include <iostream>

#include "circolo/rules/evaluate.hpp"

using namespace circolo;
using namespace circolo::rules;

namespace {

const char* kCategories[] = {"shoes", "bags",  "coffee", "shirts", "socks",
                             "hats",  "jeans", "books",  "toys",   "tea"};
const char* kChannels[] = {"store", "app", "web"};
const char* kTiers[] = {"member", "silver", "gold"};

// Rule i: channel == C and total >= T and weekday in [...] and any(items, category == K) and tier
// == R.
std::string program_text(int rules) {
  std::string out = "program {\n  currency \"EUR\"\n  timezone \"Europe/Rome\"\n}\n";
  for (int c = 0; c < rules / 10; ++c) {
    out += "campaign \"c" + std::to_string(c) + "\" {\n";
    for (int r = 0; r < 10; ++r) {
      const int i = c * 10 + r;
      out += "  rule \"r" + std::to_string(r) +
             "\" {\n    on purchase\n    when event.channel == \"" + std::string(kChannels[i % 3]) +
             "\" and event.total >= " + std::to_string(10 + i % 90) +
             ".00 and weekday(event.time) in [" + (i % 2 ? "sat, sun" : "mon, tue, wed, thu, fri") +
             "] and any(event.items, category == \"" + kCategories[i % 10] +
             "\") and member.tier == \"" + kTiers[(i / 3) % 3] +
             "\"\n    then award floor(event.total) points\n  }\n";
    }
    out += "}\n";
  }
  return out;
}

Event purchase() {
  Event e;
  e.type = "purchase";
  e.channel = "store";
  e.time = *engine::parse_rfc3339("2026-12-05T10:15:00+01:00");  // a Saturday
  e.total = {18450, 2};
  for (int i = 0; i < 10; ++i)
    e.items.push_back({"SKU" + std::to_string(i), kCategories[i], "brand", 1, {1845, 2}, {}});
  return e;
}

void BM_Evaluate1000Rules(benchmark::State& state) {
  const auto compiled = compile({"bench.rules", program_text(1000)});
  if (!compiled.program) {
    std::cerr << render_all({"bench.rules", program_text(1000)}, compiled.diagnostics);
    state.SkipWithError("the bench program does not compile");
    return;
  }
  const auto event = purchase();
  MemberSnapshot member;
  member.id = "mem_bench";
  member.tier = "gold";
  const Counters counters;
  const bool trace = state.range(0) != 0;
  std::size_t fired = 0;
  for (auto _ : state) {
    auto evaluation = compiled.program->evaluate(event, member, counters, trace);
    fired = evaluation.effects.size();
    benchmark::DoNotOptimize(evaluation);
  }
  state.counters["rules"] = 1000;
  state.counters["fired"] = static_cast<double>(fired);
}
// Arg 0: effects only (the event path); arg 1: with the trace of every rule (simulate).
BENCHMARK(BM_Evaluate1000Rules)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_Compile1000Rules(benchmark::State& state) {
  const auto text = program_text(1000);
  for (auto _ : state) benchmark::DoNotOptimize(compile({"bench.rules", text}));
}
BENCHMARK(BM_Compile1000Rules)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
