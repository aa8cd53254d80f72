// The pages of the CLI's `--html FILE`, without a browser: what is drawn for given JSON, escaping,
// and nothing fetched from the network (tests/e2e/cli_e2e_test.cpp opens them in Chromium).
#include <gtest/gtest.h>

#include <regex>

#include "html_page.hpp"
#include "html_report.hpp"

using namespace circolo::cli;
using nlohmann::json;

namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// The SVG of the n-th chart of a page.
std::string chart(const std::string& page, std::size_t n) {
  std::size_t at = 0;
  for (std::size_t i = 0; i <= n; ++i) {
    at = page.find("<svg class=\"chart\"", i ? at + 1 : 0);
    if (at == std::string::npos) return "";
  }
  return page.substr(at, page.find("</svg>", at) - at);
}

// A page stands alone: nothing it refers to would be fetched.
void expect_self_contained(const std::string& page) {
  EXPECT_FALSE(has(page, "http://")) << page;
  EXPECT_FALSE(has(page, "https://")) << page;
  EXPECT_FALSE(has(page, "//")) << "a protocol-relative reference";
  for (const char* attribute : {" src=", " href=", "url(", "@import"})
    EXPECT_FALSE(has(page, attribute)) << attribute;
  EXPECT_EQ(occurrences(page, "<script"), 2u);  // the error handler and the check
}

json figures(long long firings, long long points, long long members = 1, long long coupons = 0) {
  return {{"firings", firings},        {"members", members},  {"points_awarded", points},
          {"coupons_issued", coupons}, {"limit_refusals", 0}, {"budget_refusals", 0}};
}

json backtest_job() {
  auto ran_out = figures(4, 400);
  ran_out["budget_refusals"] = 3;
  ran_out["budget_ran_out_on"] = "2026-11-03";
  ran_out["budget"] = 500;
  ran_out["budget_used_by_day"] = {{{"date", "2026-11-01"}, {"used", 300}},
                                   {{"date", "2026-11-03"}, {"used", 500}}};
  auto base = figures(10, 1000);
  base["budget_ran_out_on"] = nullptr;
  return {{"id", "bt_1"},
          {"status", "done"},
          {"from", "2026-10-31T23:00:00Z"},
          {"until", "2026-11-30T23:00:00Z"},
          {"result",
           {{"events", 20},
            {"replayed_before", 5},
            {"refused", 0},
            {"total", {{"draft", figures(14, 1400)}, {"actual", figures(10, 1000)}}},
            {"campaigns",
             {{{"campaign", "base-earn"}, {"draft", base}, {"actual", figures(10, 1000)}},
              {{"campaign", "</script><b>rainy"}, {"draft", ran_out}, {"actual", figures(0, 0)}}}},
            {"rules", json::array()},
            // 2026-11-02 is missing: a day without points is drawn as 0.
            {"days",
             {{{"date", "2026-11-01"}, {"draft", figures(5, 500)}, {"actual", figures(4, 400)}},
              {{"date", "2026-11-03"}, {"draft", figures(6, 600)}, {"actual", figures(3, 300)}},
              {{"date", "2026-11-04"}, {"draft", figures(3, 300)}, {"actual", figures(3, 300)}}}},
            {"channels", json::array()},
            {"draft_tiers", {{"member", 3}}},
            {"draft_liability", 1400}}},
          {"error", nullptr}};
}

json campaign(const std::string& id, json budget, json days) {
  return {{"id", id},
          {"name", "Rainy <Monday> & \"coffee\""},
          {"state", "active"},
          {"firings", 7},
          {"members", 3},
          {"points_awarded", 700},
          {"coupons_issued", 1},
          {"points_reversed", 0},
          {"coupons_redeemed", 0},
          {"budget", budget},
          {"budget_used", budget.is_null() ? 0 : 700},
          {"budget_left", budget.is_null() ? json(nullptr) : json(budget.get<long long>() - 700)},
          {"budget_runs_out_on", budget.is_null() ? json(nullptr) : json("2026-11-10")},
          {"recent_points_per_day", 100},
          {"rules",
           {{{"id", "coffee"},
             {"firings", 7},
             {"members", 3},
             {"points_awarded", 700},
             {"coupons_issued", 1}}}},
          {"channels", json::array()},
          {"days", days}};
}

json day(const std::string& date, long long firings, long long points) {
  return {{"date", date},
          {"firings", firings},
          {"members", 1},
          {"points_awarded", points},
          {"coupons_issued", 0}};
}

}  // namespace

TEST(HtmlPage, EscapesTextAndAttributes) {
  EXPECT_EQ(html::escape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
}

TEST(HtmlPage, DaysFromTo) {
  EXPECT_EQ(html::days_from_to("2028-02-27", "2028-03-01"),
            (std::vector<std::string>{"2028-02-27", "2028-02-28", "2028-02-29", "2028-03-01"}));
  EXPECT_EQ(html::days_from_to("2026-12-31", "2026-12-31"), std::vector<std::string>{"2026-12-31"});
  EXPECT_TRUE(html::days_from_to("2026-12-31", "2026-12-30").empty());
  EXPECT_TRUE(html::days_from_to("2026-02-30", "2026-03-02").empty());
  EXPECT_TRUE(html::days_from_to("yesterday", "2026-03-02").empty());
}

TEST(HtmlPage, OneDayIsStillALine) {
  html::LineChart c{.title = "one", .days = {"2026-11-01"}};
  c.series.push_back({.name = "s", .css = "points", .points = {{0, 5, "five"}}});
  const auto svg = html::line_chart(c);
  EXPECT_TRUE(std::regex_search(svg, std::regex("<path class=\"data points\" d=\"M[0-9.]+ "
                                                "[0-9.]+h10\"/>")))
      << svg;
}

TEST(HtmlReport, BacktestDrawsDaysAndBudgetsAndTheTable) {
  const std::vector<DraftCampaign> draft{{"base-earn", "Base", std::nullopt},
                                         {"</script><b>rainy", "Rainy <Monday>", 500},
                                         {"never-fired", "Never", 900}};
  const auto page = backtest_html(backtest_job(), draft);
  expect_self_contained(page);
  // The days chart and one budget chart per campaign with a budget.
  EXPECT_EQ(occurrences(page, "<svg class=\"chart\""), 3u) << page;

  const auto days = chart(page, 0);
  for (const char* d : {"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"})
    EXPECT_TRUE(has(days, d)) << d;
  EXPECT_TRUE(has(days, "<path class=\"data draft\"")) << days;
  EXPECT_TRUE(has(days, "<path class=\"data actual\"")) << days;
  EXPECT_EQ(occurrences(days, "<circle class=\"dot draft\""), 4u);
  EXPECT_TRUE(has(days, "2026-11-02: the draft 0 points"));
  EXPECT_TRUE(has(days, "2026-11-03: the draft 600 points"));
  EXPECT_TRUE(has(days, "2026-11-03: actual 300 points"));
  EXPECT_TRUE(has(days, "&lt;/script&gt;&lt;b&gt;rainy: budget ran out")) << days;

  // The burn-down: left at the end of each day, a day without events as the day before.
  const auto budget = chart(page, 1);
  EXPECT_TRUE(has(budget, "<path class=\"data left\"")) << budget;
  EXPECT_TRUE(has(budget, "budget 500"));
  EXPECT_TRUE(has(budget, "2026-11-01: 200 left"));
  EXPECT_TRUE(has(budget, "2026-11-02: 200 left"));
  EXPECT_TRUE(has(budget, "2026-11-03: 0 left"));
  EXPECT_TRUE(has(budget, "ran out 2026-11-03"));
  EXPECT_TRUE(has(page, "ran out on 2026-11-03 (3 rule firings stopped by it)"));
  EXPECT_TRUE(has(chart(page, 2), "budget 900"));
  EXPECT_TRUE(has(page, "did not run out (the draft awarded 0 of them in the period)"));

  // Campaign ids and names are escaped wherever they appear.
  EXPECT_FALSE(has(page, "</script><b>")) << page;
  EXPECT_FALSE(has(page, "<Monday>"));
  EXPECT_TRUE(has(page, "<h3>&lt;/script&gt;&lt;b&gt;rainy — Rainy &lt;Monday&gt;</h3>"));
  // The table: the figures of the text, the total last.
  EXPECT_TRUE(has(page,
                  "<td>base-earn</td><td class=\"n\">10</td><td class=\"n\">10</td>"
                  "<td class=\"n\">1000</td><td class=\"n\">1000</td>"))
      << page;
  EXPECT_TRUE(has(page, "<td class=\"n\">2026-11-03</td></tr>"));
  EXPECT_TRUE(has(page, "<tr class=\"total\"><td>total</td><td class=\"n\">14</td>"));
  EXPECT_TRUE(has(page,
                  "The draft: 0 rule firings stopped by limits, 0 by budgets; at the end "
                  "1400 points owed; members by tier: member 3."));
}

TEST(HtmlReport, BacktestWithoutPointsHasNoEmptyChart) {
  auto job = backtest_job();
  job["result"]["days"] = json::array();
  const auto page = backtest_html(job, {});
  EXPECT_EQ(occurrences(page, "<svg class=\"chart\""), 0u);
  EXPECT_TRUE(has(page, "No campaign awarded anything in the period."));
}

TEST(HtmlReport, CampaignsDrawPointsFiringsAndTheBurnDown) {
  const json report{{"from", "2026-10-31T23:00:00Z"},
                    {"until", "2026-11-04T10:00:00Z"},
                    {"as_of", "2026-11-04T10:00:00Z"},
                    {"campaigns",
                     {campaign("rainy", 1000,
                               json::array({day("2026-11-01", 2, 200), day("2026-11-03", 5, 500)})),
                      campaign("base", nullptr, json::array({day("2026-11-02", 1, 10)})),
                      campaign("quiet", nullptr, json::array())}}};
  const auto page = campaigns_html(report);
  expect_self_contained(page);
  // rainy: per day and its budget; base: per day; quiet: nothing.
  EXPECT_EQ(occurrences(page, "<svg class=\"chart\""), 3u) << page;
  EXPECT_TRUE(has(page, "It did not fire in the period."));
  EXPECT_FALSE(has(page, "<Monday>"));
  EXPECT_TRUE(has(page, "Rainy &lt;Monday&gt; &amp; &quot;coffee&quot;"));

  const auto per_day = chart(page, 0);
  EXPECT_TRUE(has(per_day, "<path class=\"data points\"")) << per_day;
  EXPECT_TRUE(has(per_day, "<path class=\"data firings dashed\"")) << per_day;
  EXPECT_TRUE(has(per_day, "2026-11-02: 0 points, 0 firings"));
  EXPECT_TRUE(has(per_day, "2026-11-03: 500 points, 5 firings"));

  // Left at the end of each day, counted back from the 300 left now, then the forecast.
  const auto burn = chart(page, 1);
  EXPECT_TRUE(has(burn, "budget 1000"));
  EXPECT_TRUE(has(burn, "2026-11-01: 800 left")) << burn;
  EXPECT_TRUE(has(burn, "2026-11-02: 800 left"));
  EXPECT_TRUE(has(burn, "2026-11-03: 300 left"));
  EXPECT_TRUE(has(burn, "2026-11-04: 300 left"));
  EXPECT_TRUE(has(burn, "<path class=\"data forecast dashed\"")) << burn;
  EXPECT_TRUE(has(burn, "2026-11-10: runs out"));
  EXPECT_TRUE(has(burn, "runs out 2026-11-10"));
  EXPECT_TRUE(has(burn, "2026-11-07"));  // the axis runs on to the day it runs out
  EXPECT_TRUE(has(page,
                  "budget 1000: 700 used, 300 left; at 100 points a day it runs out on "
                  "2026-11-10"));
  EXPECT_TRUE(has(page, "<td>coffee</td>"));
}

TEST(HtmlReport, OneCampaignEndingBeforeNowShowsOnlyWhatIsLeftNow) {
  auto report = campaign("rainy", 1000, json::array({day("2026-11-01", 2, 200)}));
  report["from"] = "2026-10-31T23:00:00Z";
  report["until"] = "2026-11-02T23:00:00Z";
  report["as_of"] = "2026-11-05T10:00:00Z";
  const auto page = campaigns_html(report);
  EXPECT_EQ(occurrences(page, "<svg class=\"chart\""), 2u) << page;
  const auto burn = chart(page, 1);
  EXPECT_FALSE(has(burn, "2026-11-01: ")) << burn;
  EXPECT_TRUE(has(burn, "2026-11-05: 300 left")) << burn;
  EXPECT_TRUE(has(page, "the period ends before now"));
}

TEST(HtmlReport, SentencesOfTheTextOutput) {
  const auto c = campaign("rainy", 1000, json::array());
  EXPECT_EQ(campaign_activity(c),
            "7 firings, 3 members, 700 points awarded (0 reversed since), 1 coupons issued (0 "
            "redeemed)");
  EXPECT_EQ(campaign_budget(c),
            "budget 1000: 700 used, 300 left; at 100 points a day it runs out on 2026-11-10");
  auto ends_first = c;
  ends_first["budget_runs_out_on"] = nullptr;
  EXPECT_EQ(campaign_budget(ends_first),
            "budget 1000: 700 used, 300 left; at 100 points a day it does not run out before the "
            "campaign ends");
  EXPECT_EQ(campaign_budget(campaign("base", nullptr, json::array())), "");
  EXPECT_EQ(backtest_heading(backtest_job()),
            "Backtest bt_1: 20 events from 2026-10-31T23:00:00Z until 2026-11-30T23:00:00Z (5 "
            "earlier ones replayed for members' state)");
}

TEST(HtmlReport, ExperimentDrawsArmsAndTheUpliftEscaped) {
  const json arm_template{{"share", "50%"},
                          {"members", 200},
                          {"exposed", 150},
                          {"buyers", 40},
                          {"purchases", 60},
                          {"revenue", "1800.00"},
                          {"average_basket", "30.00"},
                          {"revenue_per_member", "9.00"},
                          {"purchases_per_member", 0.3},
                          {"points_given", 0},
                          {"coupons_given", 0},
                          {"redemptions", 0},
                          {"points_withheld", 1800},
                          {"coupons_withheld", 0}};
  json control = arm_template, treatment = arm_template;
  control["arm"] = "control";
  treatment["arm"] = "treatment";
  treatment["revenue_per_member"] = "9.45";
  treatment["points_given"] = 1890;
  treatment["points_withheld"] = 0;
  json uplift{{"arm", "treatment"}};
  uplift["revenue_per_member"] = {
      {"measurable", true},
      {"estimate", 0.05},
      {"low", 0.012},
      {"high", 0.089},
      {"sentence", "the campaign raised revenue per member by 5.0% (95% CI 1.2% to 8.9%)"}};
  uplift["purchases_per_member"] = {
      {"measurable", false},
      {"estimate", nullptr},
      {"low", nullptr},
      {"high", nullptr},
      {"sentence", "no measurable effect yet on purchases per member"}};
  json report{{"campaign", "</script>promo"},
              {"name", "Double <b>points</b>"},
              {"declared", true},
              {"as_of", "2026-12-07T10:00:00Z"},
              {"population", "assigned"},
              {"members_in_several_arms", 0},
              {"members_reassigned", 3},
              {"summary", "the campaign raised revenue per member by 5.0% (95% CI 1.2% to 8.9%)"}};
  report["arms"] = json::array({control, treatment});
  report["uplift"] = json::array({uplift});
  const auto page = experiment_html(report);
  expect_self_contained(page);
  EXPECT_EQ(occurrences(page, "<svg class=\"chart\""), 2u) << page;
  EXPECT_TRUE(has(chart(page, 0), "treatment 9.45")) << chart(page, 0);
  EXPECT_TRUE(has(chart(page, 1), "control 0.300")) << chart(page, 1);
  EXPECT_FALSE(has(page, "</script>promo"));
  EXPECT_FALSE(has(page, "<b>points"));
  EXPECT_TRUE(has(page, "<h1>Experiment of &lt;/script&gt;promo</h1>")) << page;
  EXPECT_TRUE(has(page, "3 members had events recorded in another arm")) << page;
  EXPECT_TRUE(has(page,
                  "<td>treatment</td><td class=\"n\">revenue per member</td>"
                  "<td class=\"n\">+5.0%</td><td class=\"n\">+1.2%</td>"
                  "<td class=\"n\">+8.9%</td>"))
      << page;
  EXPECT_TRUE(has(page,
                  "<td class=\"n\">-</td><td class=\"n\">-</td><td class=\"n\">-</td>"
                  "<td class=\"n\">no measurable effect yet on purchases per member</td>"))
      << page;

  EXPECT_EQ(experiment_uplift_lines(report["uplift"][0]),
            (std::vector<std::string>{
                "treatment: the campaign raised revenue per member by 5.0% (95% CI 1.2% to 8.9%).",
                "treatment: no measurable effect yet on purchases per member."}));
  const auto rows = experiment_rows(report);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][0], "treatment");
  EXPECT_EQ(rows[1][3], "150");
  EXPECT_EQ(rows[1][10], "1890");
  EXPECT_EQ(rows[0][13], "1800");
  EXPECT_EQ(experiment_columns().size(), rows[0].size());
  const json recorded{{"population", "recorded"}, {"members_in_several_arms", 2}};
  EXPECT_EQ(experiment_population_line(recorded),
            "The program no longer declares this experiment: the members with events in scope "
            "count, in the arm recorded. 2 members recorded in more than one arm are left out.");
}
