// The 1,000 rules of bench/rules_bench.cpp, evaluated against the same purchase by the two most
// used JavaScript rule engines: json-rules-engine and @gorules/zen-engine (its precompiled
// decision). Prints one JSON line per engine: microseconds per event and rules fired, which must
// equal Circolo's. Run by scripts/bench.sh with the packages installed in bench/.node:
//   node bench/js/compare.mjs bench/.node [circolo microseconds per event]
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.argv[2], "node_modules", "x.js"));
const { Engine } = require("json-rules-engine");
const { ZenEngine } = require("@gorules/zen-engine");

const categories = ["shoes", "bags", "coffee", "shirts", "socks", "hats", "jeans", "books", "toys", "tea"];
const channels = ["store", "app", "web"];
const tiers = ["member", "silver", "gold"];
const weekend = ["sat", "sun"], weekdays = ["mon", "tue", "wed", "thu", "fri"];

// Rule i: channel == C and total >= T and weekday in [...] and any item of category K and tier == R.
const rules = [];
for (let i = 0; i < 1000; i++) {
  rules.push({
    id: `c${Math.floor(i / 10)}/r${i % 10}`,
    channel: channels[i % 3],
    total: 10 + (i % 90),
    days: i % 2 ? weekend : weekdays,
    category: categories[i % 10],
    tier: tiers[Math.floor(i / 3) % 3],
  });
}

// The same purchase: Saturday, in store, 184.50, ten items of ten categories, a gold member.
// The engines get the weekday and the list of categories precomputed (Circolo computes both).
const facts = { channel: "store", total: 184.5, weekday: "sat", categories, tier: "gold" };

function time(label, runOnce, expectedFired) {
  return (async () => {
    let fired = await runOnce();
    const start = process.hrtime.bigint();
    let runs = 0;
    while (process.hrtime.bigint() - start < 3_000_000_000n) {
      fired = await runOnce();
      runs++;
    }
    const us = Number(process.hrtime.bigint() - start) / 1000 / runs;
    const circolo = Number(process.argv[3] || 0);
    const line = { engine: label, us_per_event: Number(us.toFixed(1)), runs, fired, expected: expectedFired };
    if (circolo > 0) line.circolo_speedup = Number((us / circolo).toFixed(0));
    console.log(JSON.stringify(line));
  })();
}

const expected = rules.filter(
  (r) => r.channel === facts.channel && facts.total >= r.total && r.days.includes(facts.weekday) &&
         facts.categories.includes(r.category) && r.tier === facts.tier).length;

// json-rules-engine: one rule object per rule, all conditions under "all".
const engine = new Engine([], { allowUndefinedFacts: true });
for (const r of rules) {
  engine.addRule({
    name: r.id,
    conditions: {
      all: [
        { fact: "channel", operator: "equal", value: r.channel },
        { fact: "total", operator: "greaterThanInclusive", value: r.total },
        { fact: "weekday", operator: "in", value: r.days },
        { fact: "categories", operator: "contains", value: r.category },
        { fact: "tier", operator: "equal", value: r.tier },
      ],
    },
    event: { type: "award", params: { rule: r.id } },
  });
}
await time("json-rules-engine", async () => (await engine.run(facts)).events.length, expected);

// ZEN: a decision table with a "collect" hit policy, one row per rule, compiled once.
const quote = (s) => JSON.stringify(s);
const content = {
  nodes: [
    { id: "request", type: "inputNode", name: "request", position: { x: 0, y: 0 } },
    {
      id: "table", type: "decisionTableNode", name: "rules", position: { x: 200, y: 0 },
      content: {
        hitPolicy: "collect",
        inputs: [
          { id: "channel", name: "channel", field: "channel" },
          { id: "total", name: "total", field: "total" },
          { id: "weekday", name: "weekday", field: "weekday" },
          { id: "categories", name: "categories", field: "categories" },
          { id: "tier", name: "tier", field: "tier" },
        ],
        outputs: [{ id: "rule", name: "rule", field: "rule" }],
        rules: rules.map((r, i) => ({
          _id: `row${i}`,
          channel: quote(r.channel),
          total: `>= ${r.total}`,
          weekday: r.days.map(quote).join(", "),
          categories: `contains($, ${quote(r.category)})`,
          tier: quote(r.tier),
          rule: quote(r.id),
        })),
      },
    },
    { id: "response", type: "outputNode", name: "response", position: { x: 400, y: 0 } },
  ],
  edges: [
    { id: "e1", sourceId: "request", targetId: "table", type: "edge" },
    { id: "e2", sourceId: "table", targetId: "response", type: "edge" },
  ],
};
const zen = new ZenEngine();
const decision = zen.createDecision(Buffer.from(JSON.stringify(content)));
await time("@gorules/zen-engine", async () => {
  const result = await decision.evaluate(facts);
  return Array.isArray(result.result) ? result.result.length : 0;
}, expected);
