// Unit tests per stage of the rules language, and the formatter's round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "circolo/rules/checker.hpp"
#include "circolo/rules/diff.hpp"
#include "circolo/rules/evaluate.hpp"
#include "circolo/rules/format.hpp"
#include "circolo/rules/lexer.hpp"
#include "circolo/rules/parser.hpp"

using namespace circolo::rules;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Lexer, NumbersDatesPercentsStrings) {
  const auto t = lex(R"(1_000_000 20.50 10% 2026-12-01 "a\"b\u{E9}" 12days)");
  ASSERT_GE(t.size(), 7u);
  EXPECT_EQ(t[0].kind, TokenKind::integer);
  EXPECT_EQ(t[0].integer, 1000000);
  EXPECT_EQ(t[1].kind, TokenKind::decimal);
  EXPECT_EQ(t[1].integer, 2050);
  EXPECT_EQ(t[1].scale, 2);
  EXPECT_EQ(t[2].kind, TokenKind::percent);
  EXPECT_EQ(t[3].kind, TokenKind::date);
  EXPECT_EQ(t[3].month, 12);
  EXPECT_EQ(t[4].kind, TokenKind::string);
  EXPECT_EQ(t[4].text, "a\"b\xC3\xA9");
  EXPECT_EQ(t[5].kind, TokenKind::error);  // 12days
  EXPECT_EQ(t[6].kind, TokenKind::end);
}

TEST(Lexer, PositionsAreLineAndColumn) {
  const auto t = lex("program {\n  currency \"EUR\"\n}");
  EXPECT_EQ(t[2].range.begin.line, 2u);
  EXPECT_EQ(t[2].range.begin.column, 3u);
  EXPECT_EQ(t[3].range.begin.column, 12u);
}

TEST(Lexer, RefusesBadInput) {
  for (const char* bad :
       {"1__0", "99999999999999999999", "\"\\q\"", "2026-02-30", "@", "\"\\u{D800}\""}) {
    const auto t = lex(bad);
    EXPECT_EQ(t[0].kind, TokenKind::error) << bad;
  }
}

TEST(Parser, LimitsStopHostileInput) {
  Limits limits;
  limits.max_depth = 16;
  const std::string deep = "campaign \"c\" { rule \"r\" { on purchase when " +
                           std::string(40, '(') + "true" + std::string(40, ')') +
                           " then award 1 points } }";
  const auto r = parse({"deep.rules", deep}, limits);
  ASSERT_FALSE(r.diagnostics.empty());
  EXPECT_NE(r.diagnostics.back().message.find("deeper"), std::string::npos)
      << r.diagnostics.back().message;

  limits.max_source_bytes = 10;
  EXPECT_FALSE(parse({"big.rules", "program { currency \"EUR\" }"}, limits).diagnostics.empty());

  Limits few;
  few.max_errors = 3;
  std::string many;
  for (int i = 0; i < 20; ++i) many += "oops" + std::to_string(i) + "\n";
  EXPECT_LE(parse({"many.rules", many}, few).diagnostics.size(), 4u);
}

TEST(Checker, TypesOfExpressions) {
  const auto r = parse({"t.rules",
                        "campaign \"c\" { rule \"r\" { on purchase when event.total / 2 > 1 "
                        "then award floor(event.total * member.multiplier) points } }"});
  ASSERT_TRUE(r.diagnostics.empty());
  const auto c = check(r.file);
  EXPECT_TRUE(c.ok()) << render_all({"t.rules", ""}, c.diagnostics);
  const auto* when = r.file.campaigns[0].rules[0].when.get();
  EXPECT_EQ(c.types.at(when).type, Type::boolean);
  EXPECT_EQ(c.types.at(when->args[0].get()).type, Type::decimal);  // '/' always gives decimal
  const auto* amount = r.file.campaigns[0].rules[0].then[0].amount.get();
  EXPECT_EQ(c.types.at(amount->args[0].get()).type, Type::money);
}

// A discounted purchase: event.subtotal and event.discount are money like event.total, and a
// misspelling of any of them is suggested.
TEST(Checker, AmountsOfADiscountedPurchaseAreMoney) {
  const auto r = parse({"t.rules",
                        "campaign \"c\" { rule \"r\" { on purchase when event.discount > 0 "
                        "then award floor(event.subtotal - event.discount) points } }"});
  ASSERT_TRUE(r.diagnostics.empty());
  const auto c = check(r.file);
  EXPECT_TRUE(c.ok()) << render_all({"t.rules", ""}, c.diagnostics);
  const auto* when = r.file.campaigns[0].rules[0].when.get();
  EXPECT_EQ(c.types.at(when->args[0].get()).type, Type::money);
  const auto* amount = r.file.campaigns[0].rules[0].then[0].amount.get();
  EXPECT_EQ(c.types.at(amount->args[0].get()).type, Type::money);

  for (const auto& [typo, meant] : {std::pair{"discont", "discount"},
                                    std::pair{"subtotl", "subtotal"}, std::pair{"totl", "total"}}) {
    const std::string text = std::string("campaign \"c\" { rule \"r\" { on purchase when event.") +
                             typo + " > 1 then award 1 points } }";
    const auto typed = parse({"t.rules", text});
    ASSERT_TRUE(typed.diagnostics.empty()) << typo;
    std::vector<Diagnostic> errors;
    for (const auto& d : check(typed.file).diagnostics) {
      if (d.severity == Severity::error) errors.push_back(d);
    }
    ASSERT_EQ(errors.size(), 1u) << typo;
    EXPECT_EQ(errors[0].message, std::string("event has no field '") + typo + "'");
    EXPECT_EQ(errors[0].suggestion, std::string("did you mean '") + meant + "'?");
  }
}

TEST(Diagnostics, RenderWithCaret) {
  const Source s{"p.rules", "program {\n  timezon \"x\"\n}\n"};
  const auto r = parse(s);
  ASSERT_FALSE(r.diagnostics.empty());
  const auto text = render(s, r.diagnostics[0]);
  EXPECT_NE(text.find("p.rules:2:3: error:"), std::string::npos) << text;
  EXPECT_NE(text.find(" 2 |   timezon \"x\""), std::string::npos) << text;
  EXPECT_NE(text.find("   |   ^~~~~~~"), std::string::npos) << text;
  EXPECT_NE(text.find("did you mean 'timezone'?"), std::string::npos) << text;
}

// parse(format(p)) == p for every golden program, and format is a fixed point.
TEST(Format, RoundTripsEveryGoldenFile) {
  for (const auto& entry : std::filesystem::directory_iterator(CIRCOLO_GOLDEN_DIR)) {
    const Source source{entry.path().filename().string(), read(entry.path().string())};
    const auto first = parse(source);
    if (!first.diagnostics.empty()) continue;  // files about syntax errors
    const auto text = format(first.file);
    const auto second = parse({"formatted", text});
    EXPECT_TRUE(second.diagnostics.empty()) << source.name << "\n"
                                            << render_all({"formatted", text}, second.diagnostics);
    EXPECT_TRUE(same(first.file, second.file)) << source.name << "\n" << text;
    EXPECT_EQ(format(second.file), text) << source.name;
  }
}

// Found by the fuzzer: nested unary minus was printed as -(-(...)), each pair of parentheses a
// level deeper, so a source within max_depth formatted to text beyond it.
TEST(Format, NestedMinusStaysAsShallowAsItsSource) {
  std::string minus(40, '-');
  const Source source{"minus.rules",
                      "campaign \"c\" {\n  rule \"e\" {\n    on purchase\n    then "
                      "award " +
                          minus + "x points\n  }\n}\n"};
  Limits limits;
  limits.max_depth = 48;
  const auto first = parse(source, limits);
  ASSERT_TRUE(first.diagnostics.empty()) << render_all(source, first.diagnostics);
  const auto text = format(first.file);
  EXPECT_NE(text.find("award - - -"), std::string::npos) << text;
  const auto second = parse({"formatted", text}, limits);
  EXPECT_TRUE(second.diagnostics.empty()) << render_all({"formatted", text}, second.diagnostics);
  EXPECT_TRUE(same(first.file, second.file)) << text;
  EXPECT_EQ(format(second.file), text);
}

// Property: random expressions print to text that parses back to the same tree.
TEST(Format, RandomExpressionsRoundTrip) {
  std::mt19937 rng(7);
  const std::vector<std::string> atoms{
      "1",    "-2",  "3.50",       "-0.25",  "event.total",        "member.points",     "\"s\"",
      "true", "mon", "2026-12-01", "[1, 2]", "floor(event.total)", "count(event.items)"};
  const std::vector<std::string> ops{
      "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or", "in"};
  std::function<std::string(int)> gen = [&](int depth) -> std::string {
    if (depth == 0 || rng() % 3 == 0) return atoms[rng() % atoms.size()];
    switch (rng() % 4) {
      case 0:
        return "not " + gen(depth - 1);
      case 1:
        return "-(" + gen(depth - 1) + ")";
      case 2:
        return "(" + gen(depth - 1) + ")";
      default:
        return gen(depth - 1) + " " + ops[rng() % ops.size()] + " " + gen(depth - 1);
    }
  };
  int checked = 0;
  for (int i = 0; i < 500; ++i) {
    const std::string program =
        "campaign \"c\" { rule \"r\" { on purchase when " + gen(4) + " then award 1 points } }";
    const auto first = parse({"gen", program});
    if (!first.diagnostics.empty()) continue;  // e.g. chained comparisons
    const auto text = format(first.file);
    const auto second = parse({"formatted", text});
    ASSERT_TRUE(second.diagnostics.empty()) << program << "\n" << text;
    EXPECT_TRUE(same(first.file, second.file)) << program << "\n" << text;
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

TEST(Diff, CreatedChangedRemovedIgnoringFormatting) {
  const auto before = parse({"a", R"(
    program { currency "EUR" }
    coupon "A" { discount 5.00 valid 30 days }
    coupon "B" { discount 10% valid 30 days }
    campaign "c" { rule "r" { on purchase then award 1 points } })"});
  const auto after = parse({"b", R"(
    program { currency "EUR" }
    coupon "A" {
      discount 5.00        # reformatted, same object
      valid 30 days
    }
    coupon "C" { discount 2.50 valid 7 days }
    campaign "c" { rule "r" { on purchase then award 2 points } })"});
  ASSERT_TRUE(before.diagnostics.empty());
  ASSERT_TRUE(after.diagnostics.empty());
  const auto changes = diff(before.file, after.file);
  std::vector<std::string> summary;
  for (const auto& c : changes) {
    const char* kind = c.kind == Change::Kind::created   ? "created"
                       : c.kind == Change::Kind::changed ? "changed"
                                                         : "removed";
    summary.push_back(std::string(kind) + " " + c.object + " " + c.id);
  }
  EXPECT_EQ(summary, (std::vector<std::string>{"created coupon C", "removed coupon B",
                                               "changed campaign c"}));
  EXPECT_NE(changes[2].before.find("award 1 points"), std::string::npos);
  EXPECT_NE(changes[2].after.find("award 2 points"), std::string::npos);
  EXPECT_TRUE(diff(after.file, after.file).empty());
}

TEST(Format, KeepsCommentsOrRefusesToDropThem) {
  const Source source{"c.rules",
                      "# header\n\n# about the campaign\ncampaign \"c\" { rule \"r\" { on visit "
                      "then award 1 points } }\n"
                      "# about the tier\ntier \"a\" { name \"A\" threshold 0 }\n# the end\n"};
  const auto parsed = parse(source);
  ASSERT_TRUE(parsed.diagnostics.empty());
  const auto result = format_keeping_comments(source, parsed.file);
  ASSERT_TRUE(result.dropped.empty());
  // Every comment survives; each stays above its declaration, which moved (tiers come first).
  EXPECT_EQ(result.text.find("# header\n\n# about the tier\ntier \"a\""), 0u) << result.text;
  EXPECT_NE(result.text.find("# about the campaign\ncampaign \"c\""), std::string::npos)
      << result.text;
  EXPECT_NE(result.text.find("# the end\n"), std::string::npos);
  // Formatting the result again changes nothing, and the program is the same.
  const auto again =
      format_keeping_comments({"c.rules", result.text}, parse({"c.rules", result.text}).file);
  EXPECT_EQ(again.text, result.text);
  EXPECT_TRUE(same(parsed.file, parse({"c.rules", result.text}).file));

  const Source inside{"i.rules",
                      "tier \"a\" {\n  name \"A\"  # the display name\n  threshold 0\n}\n"};
  const auto refused = format_keeping_comments(inside, parse(inside).file);
  ASSERT_EQ(refused.dropped.size(), 1u);
  EXPECT_EQ(refused.dropped[0].range.begin.line, 2u);
  EXPECT_EQ(refused.dropped[0].range.begin.column, 13u);
}

namespace {

std::shared_ptr<const CompiledProgram> compiled(const std::string& text) {
  auto result = compile({"t.rules", text});
  EXPECT_TRUE(result.program) << (result.diagnostics.empty() ? "" : result.diagnostics[0].message);
  return result.program;
}

circolo::engine::TimePoint utc(const std::string& text) {
  return *circolo::engine::parse_rfc3339(text);
}

}  // namespace

TEST(Challenges, EventsCountByTriggerConditionAndActivePeriod) {
  const auto program = compiled(R"(program { currency "EUR" timezone "Europe/Rome" }
challenge "explorer" {
  on purchase when event.total >= 10.00
  goal distinct event.channel reaches 3
  within 30 days
  active from 2026-12-01 until 2027-03-01
  then award 500 points grant badge "explorer" notify "All {event.channel}!"
}
challenge "spend" {
  on purchase
  goal sum event.total reaches 100.5
  then tag member "spender"
}
challenge "qty" {
  on purchase
  goal sum sum(event.items, quantity) reaches 10
  repeatable
  then award floor(event.total) points
}
challenge "visits" {
  on visit
  goal streak 4 weeks
  then grant badge "regular"
}
)");
  ASSERT_TRUE(program);
  Event e;
  e.type = "purchase";
  e.channel = "web";
  e.time = utc("2026-12-01T00:30:00Z");  // 01:30 in Rome: inside "from" (Rome's midnight)
  e.total = Decimal{1234, 2};
  e.items.push_back({"S", "shoes", "", 3, Decimal{400, 2}, {}});
  MemberSnapshot m;
  m.id = "mem_1";
  const auto hits = program->challenge_hits(e, m);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].challenge, "explorer");
  EXPECT_EQ(hits[0].key, "web");
  EXPECT_EQ(hits[1].challenge, "spend");
  EXPECT_EQ(hits[1].amount, 1234) << "money in minor units";
  EXPECT_EQ(hits[2].challenge, "qty");
  EXPECT_EQ(hits[2].amount, 300) << "a count in the same scale";
  EXPECT_EQ(program->challenge("spend")->goal.target, 10050);
  EXPECT_EQ(program->challenge("qty")->goal.target, 1000);
  EXPECT_EQ(program->challenge("explorer")->goal_text, "distinct event.channel reaches 3");
  EXPECT_EQ(program->challenge("explorer")->on_text, "purchase when event.total >= 10.00");
  EXPECT_TRUE(program->challenge("qty")->repeatable);

  // Before Rome's midnight of the first day, and under 10.00: explorer does not count.
  e.time = utc("2026-11-30T22:59:59Z");
  EXPECT_EQ(program->challenge_hits(e, m).size(), 2u);
  e.time = utc("2026-12-01T00:30:00Z");
  e.total = Decimal{999, 2};
  EXPECT_EQ(program->challenge_hits(e, m)[0].challenge, "spend");

  // Explicit progress: whole units for sums, the goal's value for distinct goals.
  EXPECT_EQ(program->explicit_hit("spend", 2, e, m)->amount, 200);
  EXPECT_EQ(program->explicit_hit("explorer", 5, e, m)->key, "web");
  EXPECT_FALSE(program->explicit_hit("spend", 0, e, m));
  EXPECT_FALSE(program->explicit_hit("nope", 1, e, m));

  // Completing: the `then` actions for this event.
  e.total = Decimal{1234, 2};
  const auto effects = program->completion_effects("explorer", e, m);
  ASSERT_EQ(effects.size(), 3u);
  EXPECT_EQ(effects[0].kind, EffectKind::award);
  EXPECT_EQ(effects[0].points, 500);
  EXPECT_EQ(effects[0].challenge, "explorer");
  EXPECT_EQ(effects[1].kind, EffectKind::grant_badge);
  EXPECT_EQ(effects[2].message, "All web!");
}

TEST(Challenges, ProgressKeyChangesOnlyWithTheGoalOrWhatCounts) {
  auto digest = [](const std::string& name, const std::string& goal, const std::string& when) {
    const auto p = compiled("challenge \"c\" {\n  name \"" + name + "\"\n  on purchase" + when +
                            "\n  goal " + goal + "\n  then grant badge \"b\"\n}\n");
    return p ? p->challenge("c")->digest : std::string();
  };
  const auto base = digest("A", "count reaches 3", "");
  EXPECT_EQ(digest("B", "count reaches 3", ""), base) << "a new name keeps progress";
  EXPECT_NE(digest("A", "count reaches 4", ""), base);
  EXPECT_NE(digest("A", "count reaches 3", " when event.total > 5"), base);
}

TEST(Challenges, CalendarPeriodsInTheProgramTimeZone) {
  const auto program = compiled(R"(program { timezone "Europe/Rome" }
campaign "c" { rule "r" { on visit then award 1 points } }
)");
  ASSERT_TRUE(program);
  // 2026-03-29 is the spring change in Rome: a 23-hour day, in the week of Monday 23 March.
  const auto day = program->calendar_period("day", utc("2026-03-29T12:00:00Z"));
  EXPECT_EQ(day->key, "day:2026-03-29");
  EXPECT_EQ(circolo::engine::format_rfc3339(day->from), "2026-03-28T23:00:00Z");
  EXPECT_EQ(circolo::engine::format_rfc3339(day->until), "2026-03-29T22:00:00Z");
  const auto week = program->calendar_period("week", utc("2026-03-29T21:59:59Z"));
  EXPECT_EQ(week->key, "week:2026-03-23");
  EXPECT_EQ(program->calendar_period("week", utc("2026-03-29T22:00:00Z"))->key, "week:2026-03-30");
  const auto month = program->calendar_period("month", utc("2026-12-31T23:30:00Z"));
  EXPECT_EQ(month->key, "month:2027-01") << "already January in Rome";
  EXPECT_EQ(program->calendar_period("year", utc("2026-12-31T23:30:00Z"))->key, "year:2027");
  EXPECT_FALSE(program->calendar_period("decade", utc("2026-12-31T23:30:00Z")));
  // Streak periods: consecutive local days and Monday weeks.
  EXPECT_EQ(program->period_index(Unit::days, utc("2026-03-29T22:30:00Z")) -
                program->period_index(Unit::days, utc("2026-03-28T23:30:00Z")),
            1);
  EXPECT_EQ(program->period_index(Unit::weeks, utc("2026-03-29T21:59:59Z")) + 1,
            program->period_index(Unit::weeks, utc("2026-03-29T22:00:00Z")));
}

// event "NAME" { name "..." }: parsed, formatted last in canonical order, diffed as kind "event",
// and with the custom types of rules and challenges, what the compiled program accepts.
TEST(EventTypes, DeclaredFormattedDiffedAndCompiled) {
  const Source source{"e.rules", R"(event "product_viewed" { name "Product viewed" }
campaign "c" { rule "r" { on event "review" then award 1 points } }
challenge "x" { on event "article_read" goal count reaches 2 then award 1 points }
event "newsletter.opened" {}
)"};
  const auto parsed = parse(source);
  ASSERT_TRUE(parsed.diagnostics.empty()) << render_all(source, parsed.diagnostics);
  ASSERT_EQ(parsed.file.events.size(), 2u);
  EXPECT_EQ(parsed.file.events[0].id, "product_viewed");
  EXPECT_EQ(parsed.file.events[0].name.value_or(""), "Product viewed");
  EXPECT_FALSE(parsed.file.events[1].name.has_value());
  const auto text = format(parsed.file);
  EXPECT_NE(text.find("campaign \"c\" {"), std::string::npos);
  EXPECT_GT(text.find("event \"product_viewed\" {\n  name \"Product viewed\"\n}\n"),
            text.find("campaign \"c\""))
      << text;
  EXPECT_NE(text.find("event \"newsletter.opened\" {\n}\n"), std::string::npos) << text;
  const auto again = parse({"formatted", text});
  EXPECT_TRUE(same(parsed.file, again.file)) << text;

  const auto compiled = compile(source);
  ASSERT_TRUE(compiled.program) << render_all(source, compiled.diagnostics);
  EXPECT_EQ(
      compiled.program->event_types(),
      (std::vector<std::string>{"article_read", "newsletter.opened", "product_viewed", "review"}));
  EXPECT_TRUE(compiled.program->names_event_type("review"));
  EXPECT_FALSE(compiled.program->names_event_type("Review"));
  EXPECT_FALSE(compiled.program->names_event_type("purchase"));

  // A plan names the kind "event"; a name change is a change, a reformatting none.
  const auto renamed =
      parse({"r.rules", R"(event "product_viewed" { name "Viewed" } event "cart_abandoned" {})"});
  std::vector<std::string> summary;
  for (const auto& c : diff(parsed.file, renamed.file)) {
    const char* kind = c.kind == Change::Kind::created   ? "created"
                       : c.kind == Change::Kind::changed ? "changed"
                                                         : "removed";
    if (c.object == "event") summary.push_back(std::string(kind) + " " + c.id);
  }
  EXPECT_EQ(summary, (std::vector<std::string>{"created cart_abandoned", "changed product_viewed",
                                               "removed newsletter.opened"}));
  EXPECT_TRUE(diff(parsed.file, again.file).empty());

  // Settings other than name and interest, and a missing id, are syntax errors with a hint.
  const auto wrong = parse({"w.rules", "event \"x\" { colour \"red\" }\nevent { }\n"});
  ASSERT_EQ(wrong.diagnostics.size(), 2u) << render_all({"w.rules", ""}, wrong.diagnostics);
  EXPECT_EQ(wrong.diagnostics[0].message, "'colour' is not a setting of event");
  EXPECT_EQ(wrong.diagnostics[0].suggestion, "settings here: name, interest");
  EXPECT_NE(wrong.diagnostics[1].message.find("as in event \"product_viewed\""), std::string::npos)
      << wrong.diagnostics[1].message;
}

// referral { ... }: what the compiled program tells the engine, and whether an event qualifies.
TEST(Referrals, QualifyByTriggerAndCondition) {
  const auto program = compiled(R"(program { currency "EUR" timezone "Europe/Rome" }
referral {
  name "Bring a friend"
  qualify on purchase when event.total >= 20.00 and 100 / event.attributes.share >= 1
  within 30 days
  hold 14 days
  limit 5 per referrer per month
}
)");
  ASSERT_TRUE(program);
  ASSERT_TRUE(program->referral());
  const auto& r = *program->referral();
  EXPECT_EQ(r.name, "Bring a friend");
  EXPECT_EQ(r.on_text, "purchase when event.total >= 20.00 and 100 / event.attributes.share >= 1");
  ASSERT_TRUE(r.within);
  EXPECT_EQ(r.within->amount, 30);
  EXPECT_EQ(r.within->unit, Unit::days);
  ASSERT_TRUE(r.hold);
  EXPECT_EQ(r.hold->amount, 14);
  EXPECT_EQ(r.hold->unit, Unit::days);
  EXPECT_EQ(r.limit, 5);
  EXPECT_EQ(r.limit_period, LimitPeriod::month);

  Event e;
  e.type = "purchase";
  e.channel = "store";
  e.time = utc("2026-12-05T10:00:00Z");
  e.total = Decimal{2500, 2};
  e.attributes["share"] = std::int64_t{2};
  MemberSnapshot m;
  m.id = "mem_referee";
  EXPECT_TRUE(program->referral_qualifies(e, m)) << "trigger and condition";
  e.total = Decimal{1999, 2};
  EXPECT_FALSE(program->referral_qualifies(e, m)) << "the condition is false";
  e.total = Decimal{2500, 2};
  e.attributes["share"] = std::int64_t{0};
  EXPECT_FALSE(program->referral_qualifies(e, m)) << "division by zero: a runtime error";
  e.attributes["share"] = std::string("two");
  EXPECT_FALSE(program->referral_qualifies(e, m)) << "a dyn of the wrong kind";
  e.attributes["share"] = std::int64_t{2};
  for (const char* other : {"visit", "refund", "referral_completed", "Purchase"}) {
    e.type = other;
    EXPECT_FALSE(program->referral_qualifies(e, m)) << other << ": another trigger";
  }

  // Without `when`, limit or durations: the trigger alone, no limit, ever.
  const auto plain = compiled("referral { qualify on event \"first_visit\" }\n");
  ASSERT_TRUE(plain && plain->referral());
  EXPECT_EQ(plain->referral()->name, "");
  EXPECT_EQ(plain->referral()->on_text, "event \"first_visit\"");
  EXPECT_FALSE(plain->referral()->within);
  EXPECT_FALSE(plain->referral()->hold);
  EXPECT_FALSE(plain->referral()->limit);
  EXPECT_EQ(plain->referral()->limit_period, LimitPeriod::ever);
  e.type = "first_visit";
  EXPECT_TRUE(plain->referral_qualifies(e, m));
  // The referral's custom type is one touchpoints may send.
  EXPECT_TRUE(plain->names_event_type("first_visit"));

  // A program without a referral declaration: nothing qualifies.
  const auto none = compiled("campaign \"c\" { rule \"r\" { on purchase then award 1 points } }\n");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->referral());
  e.type = "purchase";
  EXPECT_FALSE(none->referral_qualifies(e, m));
}

// referral_completed is Circolo's: rules react to it, touchpoints can never send it.
TEST(Referrals, CompletedIsNotACustomType) {
  const auto program = compiled(R"(referral { qualify on signup }
campaign "c" {
  rule "a" { on referral_completed then award 1 points }
  rule "b" { on event "referral_completed" then award 1 points }
  rule "c" { on event "Tier_Changed" then award 1 points }
  rule "d" { on event "review" then award 1 points }
}
)");
  ASSERT_TRUE(program);
  EXPECT_EQ(program->event_types(), std::vector<std::string>{"review"});
  EXPECT_FALSE(program->names_event_type("referral_completed"));
  EXPECT_FALSE(program->names_event_type("Tier_Changed"));
  Event e;
  e.type = "referral_completed";
  e.channel = "app";
  e.time = utc("2026-12-05T10:00:00Z");
  e.attributes["role"] = std::string("referee");
  const auto evaluation = program->evaluate(e, MemberSnapshot{}, {});
  ASSERT_EQ(evaluation.effects.size(), 2u);
  EXPECT_EQ(evaluation.effects[0].rule, "a");
  EXPECT_EQ(evaluation.effects[1].rule, "b");
}

// What qualifies a referral is the referee's own event: purchase, visit, signup or a custom
// type, never a refund or an event that Circolo makes.
TEST(Referrals, QualifyingTriggers) {
  auto diagnostics = [](const std::string& trigger, const std::string& more) {
    const Source source{"q.rules",
                        "referral {\n  name \"R\"\n  qualify on " + trigger + "\n" + more + "}\n"};
    auto result = compile(source);
    return result.diagnostics;
  };
  for (const char* ok : {"purchase", "visit", "signup", "event \"first_visit\""}) {
    EXPECT_TRUE(diagnostics(ok, "").empty()) << ok;
  }
  for (const auto& [bad, message] : {
           std::pair{"refund", "a refund cannot qualify a referral: it takes a purchase back"},
           std::pair{"event \"refund\"",
                     "a refund cannot qualify a referral: it takes a purchase back"},
           std::pair{"challenge_completed",
                     "'challenge_completed' is an event Circolo makes and cannot qualify a "
                     "referral: the referee's own event does"},
           std::pair{"tier_changed",
                     "'tier_changed' is an event Circolo makes and cannot qualify a referral: the "
                     "referee's own event does"},
           std::pair{"referral_completed",
                     "'referral_completed' is an event Circolo makes and cannot qualify a "
                     "referral: the referee's own event does"},
       }) {
    const auto ds = diagnostics(bad, "");
    ASSERT_EQ(ds.size(), 1u) << bad;
    EXPECT_EQ(ds[0].severity, Severity::error) << bad;
    EXPECT_EQ(ds[0].range.begin.line, 3u) << bad;
    EXPECT_EQ(ds[0].range.begin.column, 14u) << bad;
    EXPECT_EQ(ds[0].message, message);
    EXPECT_EQ(ds[0].suggestion,
              "a referral qualifies on purchase, visit, signup or event \"NAME\"");
  }
  // `hold` takes back a referral whose qualifying purchase is refunded: only a purchase can be.
  const auto held = diagnostics("visit", "  hold 14 days\n");
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].severity, Severity::warning);
  EXPECT_EQ(held[0].range.begin.line, 4u);
  EXPECT_EQ(held[0].range.begin.column, 8u);
  EXPECT_NE(held[0].message.find("only a purchase can be"), std::string::npos) << held[0].message;
  EXPECT_TRUE(diagnostics("purchase", "  hold 14 days\n").empty());
  // The condition is checked like a rule's.
  const auto typo = diagnostics("purchase when event.totl > 1", "");
  ASSERT_EQ(typo.size(), 1u);
  EXPECT_EQ(typo[0].message, "event has no field 'totl'");
  EXPECT_EQ(typo[0].range.begin.column, 28u);
}

// The formatter writes the referral after the challenges, one setting a line, `when` on the
// `qualify` line; a canonical file formats to itself, with its comments.
TEST(Referrals, FormatRoundTrip) {
  const Source messy{"m.rules",
                     R"(campaign "c" { rule "r" { on referral_completed then award 1 points } }
referral { limit 5 per referrer hold 14 days within 1 month qualify on purchase when (event.total >= 20.00)
  name "Bring a friend" }
program { currency "EUR" }
)"};
  const auto parsed = parse(messy);
  ASSERT_TRUE(parsed.diagnostics.empty()) << render_all(messy, parsed.diagnostics);
  ASSERT_TRUE(parsed.file.referral);
  const auto text = format(parsed.file);
  EXPECT_EQ(text, R"(program {
  currency "EUR"
}

referral {
  name "Bring a friend"
  qualify on purchase when event.total >= 20.00
  within 1 month
  hold 14 days
  limit 5 per referrer
}

campaign "c" {

  rule "r" {
    on referral_completed
    then award 1 points
  }
}
)");
  const auto again = parse({"formatted", text});
  ASSERT_TRUE(again.diagnostics.empty());
  EXPECT_TRUE(same(parsed.file, again.file));
  EXPECT_EQ(format(again.file), text);

  // A canonical file (the golden one) formats to itself, comments included.
  const Source golden{"referrals.rules",
                      read(std::string(CIRCOLO_GOLDEN_DIR) + "/referrals.rules")};
  const auto g = parse(golden);
  ASSERT_TRUE(g.diagnostics.empty());
  const auto kept = format_keeping_comments(golden, g.file);
  ASSERT_TRUE(kept.dropped.empty());
  EXPECT_EQ(kept.text, golden.text);

  // same() sees every setting.
  for (const char* changed :
       {"referral { qualify on visit }", "referral { qualify on purchase when true }",
        "referral { qualify on purchase within 30 days }",
        "referral { qualify on purchase hold 14 days }",
        "referral { qualify on purchase limit 5 per referrer }",
        "referral { qualify on purchase limit 5 per referrer per day }",
        "referral { name \"x\" qualify on purchase }", ""}) {
    const auto base =
        parse({"a", "referral { qualify on purchase limit 5 per referrer per week }"});
    const auto other = parse({"b", changed});
    ASSERT_TRUE(other.diagnostics.empty()) << changed;
    EXPECT_FALSE(same(base.file, other.file)) << changed;
  }
}

// A plan reports the referral as one object without an id, like the program block.
TEST(Referrals, Diff) {
  const auto none =
      parse({"a", "campaign \"c\" { rule \"r\" { on purchase then award 1 points } }"});
  const auto some = parse({"b", R"(campaign "c" { rule "r" { on purchase then award 1 points } }
referral { qualify on purchase hold 14 days })"});
  const auto other = parse({"c", R"(campaign "c" { rule "r" { on purchase then award 1 points } }
referral {
  qualify on purchase
  hold 30 days
})"});
  const auto reformatted = parse({"d", R"(referral {
  qualify on purchase   hold 14 days }
campaign "c" { rule "r" { on purchase then award 1 points } })"});
  auto only = [](const std::vector<Change>& changes) {
    EXPECT_EQ(changes.size(), 1u);
    return changes.empty() ? Change{} : changes[0];
  };
  const auto created = only(diff(none.file, some.file));
  EXPECT_EQ(created.kind, Change::Kind::created);
  EXPECT_EQ(created.object, "referral");
  EXPECT_EQ(created.id, "");
  EXPECT_EQ(created.before, "");
  EXPECT_EQ(created.after, "referral {\n  qualify on purchase\n  hold 14 days\n}\n");
  const auto changed = only(diff(some.file, other.file));
  EXPECT_EQ(changed.kind, Change::Kind::changed);
  EXPECT_EQ(changed.object, "referral");
  EXPECT_NE(changed.before.find("hold 14 days"), std::string::npos);
  EXPECT_NE(changed.after.find("hold 30 days"), std::string::npos);
  const auto removed = only(diff(other.file, none.file));
  EXPECT_EQ(removed.kind, Change::Kind::removed);
  EXPECT_EQ(removed.object, "referral");
  EXPECT_EQ(removed.after, "");
  EXPECT_TRUE(diff(some.file, reformatted.file).empty());
}

// segment "..." { when ... } / { static } and campaign audiences: what the compiled program
// tells the engine, who is in a segment, and whom an audience lets in.
TEST(Segments, MembershipAudienceFormatAndDiff) {
  const Source source{"s.rules", R"(program { currency "EUR" timezone "Europe/Rome" }
segment "lapsed" { name "Lapsed" when member.days_since_purchase > 60 }
segment "press" { name "Press list" static }
segment "new" { when days_since(member.joined) < 30 }
segment "broken" { name "Breaks at run time" when member.attributes.size > 2 }
campaign "win-back" {
  audience "lapsed", "press"
  rule "r" { on purchase then award 100 points }
}
campaign "all" { rule "s" { on purchase when "new" in member.segments then award 1 points } }
)"};
  const auto result = compile(source);
  ASSERT_TRUE(result.program) << render_all(source, result.diagnostics);
  const auto& p = *result.program;
  ASSERT_EQ(p.segments().size(), 4u);
  EXPECT_EQ(p.segments()[0].id, "lapsed");
  EXPECT_EQ(p.segments()[0].name, "Lapsed");
  EXPECT_EQ(p.segments()[0].condition, "member.days_since_purchase > 60");
  EXPECT_FALSE(p.segments()[0].is_static);
  EXPECT_TRUE(p.segments()[1].is_static);
  EXPECT_EQ(p.segments()[2].name, "new");  // no name: its id
  EXPECT_EQ(p.segment("press"), &p.segments()[1]);
  EXPECT_EQ(p.segment("nobody"), nullptr);

  const auto now = utc("2026-12-07T10:00:00Z");
  MemberSnapshot m;
  m.id = "mem_1";
  m.joined = utc("2026-12-01T10:00:00Z");
  m.days_since_purchase = 61;
  m.attributes["size"] = std::string("L");  // > 2 on a string: a runtime error, not in it
  EXPECT_EQ(p.segments_of(m, now), (std::vector<std::string>{"lapsed", "new"}));
  m.days_since_purchase = 60;
  EXPECT_EQ(p.segments_of(m, now), (std::vector<std::string>{"new"}));
  // Time alone moves members: 30 days after joining, no longer new.
  EXPECT_EQ(p.segments_of(m, utc("2026-12-31T10:00:00Z")), std::vector<std::string>{});
  m.days_since_purchase.reset();  // never bought: a missing value compares false
  EXPECT_FALSE(p.in_segment("lapsed", m, now));
  EXPECT_TRUE(p.in_segment("new", m, now));
  EXPECT_FALSE(p.in_segment("press", m, now));  // static: only an upload puts members there

  // The audience lets in members of either segment, as they stood before the event.
  Event purchase;
  purchase.type = "purchase";
  purchase.channel = "store";
  purchase.time = now;
  auto fired = [&](const MemberSnapshot& member) {
    std::vector<std::string> out;
    for (const auto& t : p.evaluate(purchase, member, {}).trace) {
      if (t.fired) out.push_back(t.campaign + "/" + t.rule);
      if (t.campaign == "win-back" && !t.fired) {
        EXPECT_EQ(t.reason, "audience");
        EXPECT_EQ(t.detail,
                  "the member is in none of the campaign's segments (\"lapsed\", \"press\")");
      }
    }
    return out;
  };
  EXPECT_EQ(fired(m), std::vector<std::string>{});
  m.segments = {"press"};
  EXPECT_EQ(fired(m), std::vector<std::string>{"win-back/r"});
  m.segments = {"lapsed", "new"};
  EXPECT_EQ(fired(m), (std::vector<std::string>{"win-back/r", "all/s"}));

  // Formatted, parsed back the same; a changed condition is a change with a new digest.
  const auto parsed = parse(source);
  const auto text = format(parsed.file);
  EXPECT_NE(text.find("segment \"press\" {\n  name \"Press list\"\n  static\n}\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  audience \"lapsed\", \"press\"\n"), std::string::npos) << text;
  EXPECT_TRUE(same(parsed.file, parse({"f", text}).file)) << text;
  std::string changed = source.text;
  changed.replace(changed.find("> 60"), 4, "> 90");
  const auto next = compile({"n.rules", changed});
  ASSERT_TRUE(next.program);
  EXPECT_NE(next.program->segments()[0].digest, p.segments()[0].digest);
  EXPECT_EQ(next.program->segments()[1].digest, p.segments()[1].digest);
  const auto changes = diff(parsed.file, parse({"n", changed}).file);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].object, "segment");
  EXPECT_EQ(changes[0].id, "lapsed");
}
