#include "html_report.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "html_page.hpp"

namespace circolo::cli {

namespace {

using html::escape;
using nlohmann::json;

long long count(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<long long>() : 0;
}

std::string text(const json& object, const char* key, const std::string& otherwise = "") {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : otherwise;
}

std::string str(long long n) {
  return std::to_string(n);
}

// The member `key` of `object` when it is an object (otherwise an empty one).
const json& obj(const json& object, const char* key) {
  static const json none = json::object();
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : none;
}

const json& items(const json& object, const char* key) {
  static const json none = json::array();
  const auto it = object.find(key);
  return it != object.end() && it->is_array() ? *it : none;
}

// The days of a series (`date` of each item, in order, none empty) filled out to every day.
struct Days {
  std::vector<std::string> all;
  std::map<std::string, int> index;
};
Days days_of(const std::vector<std::string>& dates, const std::string& last = "") {
  Days d;
  if (dates.empty() && last.empty()) return d;
  const auto first = dates.empty() ? last : dates.front();
  d.all = html::days_from_to(first, std::max(dates.empty() ? last : dates.back(), last));
  for (std::size_t i = 0; i < d.all.size(); ++i) d.index[d.all[i]] = static_cast<int>(i);
  return d;
}

std::vector<std::string> dates_in(const json& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows)
    if (const auto date = text(row, "date"); !date.empty()) out.push_back(date);
  std::sort(out.begin(), out.end());
  return out;
}

std::string figure(const std::string& chart, const std::string& caption) {
  return "<figure>\n" + chart + "<figcaption>" + escape(caption) + "</figcaption>\n</figure>\n";
}

// Draft and actual points per day, with the days the draft's budgets ran out.
std::string backtest_days(const json& result) {
  const auto& rows = items(result, "days");
  const auto days = days_of(dates_in(rows));
  if (days.all.empty())
    return "<p class=\"note\">No campaign awarded anything in the period.</p>\n";
  html::LineChart chart{
      "Points per day: the draft against what happened", days.all, {}, {}, {}, "points", ""};
  html::Series draft{.name = "draft", .css = "draft"}, actual{.name = "actual", .css = "actual"};
  std::vector<long long> d(days.all.size()), a(days.all.size());
  for (const auto& row : rows) {
    const auto at = days.index.find(text(row, "date"));
    if (at == days.index.end()) continue;
    d[at->second] = count(obj(row, "draft"), "points_awarded");
    a[at->second] = count(obj(row, "actual"), "points_awarded");
  }
  for (std::size_t i = 0; i < days.all.size(); ++i) {
    const int x = static_cast<int>(i);
    draft.points.push_back(
        {x, static_cast<double>(d[i]), days.all[i] + ": the draft " + str(d[i]) + " points"});
    actual.points.push_back(
        {x, static_cast<double>(a[i]), days.all[i] + ": actual " + str(a[i]) + " points"});
  }
  chart.series = {draft, actual};
  for (const auto& c : items(result, "campaigns")) {
    const auto on = days.index.find(text(obj(c, "draft"), "budget_ran_out_on"));
    if (on != days.index.end())
      chart.markers.push_back({on->second, text(c, "campaign") + ": budget ran out"});
  }
  return figure(
      html::line_chart(chart),
      "Points awarded each day (the draft's time zone): by the draft, and by the programs "
      "then active. A red line marks the day a draft budget ran out.");
}

// Each draft budget burning down: what it had left at the end of each day of the period (a day
// without a figure as the day before; days before the first figure as unused), and the day it
// ran out.
std::string backtest_budgets(const json& result, const std::vector<DraftCampaign>& draft) {
  std::ostringstream out;
  const auto period = dates_in(items(result, "days"));
  for (const auto& campaign : draft) {
    json found = json::object();
    for (const auto& c : items(result, "campaigns"))
      if (text(c, "campaign") == campaign.id) found = c;
    const auto& draft_side = obj(found, "draft");
    const auto budget = draft_side.contains("budget") && draft_side["budget"].is_number()
                            ? std::optional<std::int64_t>(draft_side["budget"].get<std::int64_t>())
                            : campaign.budget;
    if (!budget) continue;
    const auto& used_by_day = items(draft_side, "budget_used_by_day");
    auto dates = dates_in(used_by_day);
    dates.insert(dates.end(), period.begin(), period.end());
    std::sort(dates.begin(), dates.end());
    const auto days = days_of(dates);
    const auto ran_out = text(draft_side, "budget_ran_out_on");
    out << "<h3>" << escape(campaign.id) << (campaign.name.empty() ? "" : " — ")
        << escape(campaign.name) << "</h3>\n";
    if (days.all.empty()) {
      out << "<p>No events in the period.</p>\n";
      continue;
    }
    std::vector<std::optional<long long>> used(days.all.size());
    for (const auto& row : used_by_day)
      if (const auto at = days.index.find(text(row, "date")); at != days.index.end())
        used[at->second] = count(row, "used");
    html::LineChart chart{"Budget left: " + campaign.id,
                          days.all,
                          {},
                          static_cast<double>(*budget),
                          {},
                          "points left",
                          ""};
    html::Series left{.name = "left", .css = "left"};
    long long so_far = 0;  // a day without events keeps what the day before left
    for (std::size_t i = 0; i < days.all.size(); ++i) {
      if (used[i]) so_far = *used[i];
      const auto value = std::max(0LL, *budget - so_far);
      left.points.push_back({static_cast<int>(i), static_cast<double>(value),
                             days.all[i] + ": " + str(value) + " left"});
    }
    chart.series.push_back(std::move(left));
    if (const auto at = days.index.find(ran_out); at != days.index.end())
      chart.markers.push_back({at->second, "ran out " + ran_out});
    const std::string caption =
        ran_out.empty()
            ? "The draft's budget of " + str(*budget) + " points did not run out (the draft " +
                  "awarded " + str(count(draft_side, "points_awarded")) + " of them in the period)."
            : "The draft's budget of " + str(*budget) + " points ran out on " + ran_out + " (" +
                  str(count(draft_side, "budget_refusals")) + " rule firings stopped by it).";
    out << figure(html::line_chart(chart),
                  caption + " Left at the end of each day; the budget counts what the draft " +
                      "awarded from the first event replayed, the earlier ones included.");
  }
  const auto body = out.str();
  return body.empty() ? body : "<h2>Budgets</h2>\n" + body;
}

std::string backtest_table(const json& result) {
  html::Table t{{{"", 1}, {"firings", 2}, {"points", 2}, {"members", 2}, {"coupons", 2}, {"", 1}},
                {"campaign", "draft", "actual", "draft", "actual", "draft", "actual", "draft",
                 "actual", "budget ran out"},
                {},
                true};
  const auto row = [&](const std::string& name, const json& d, const json& a,
                       const std::string& ran_out) {
    std::vector<std::string> cells{name};
    for (const char* key : {"firings", "points_awarded", "members", "coupons_issued"}) {
      cells.push_back(str(count(d, key)));
      cells.push_back(str(count(a, key)));
    }
    cells.push_back(ran_out);
    t.rows.push_back(std::move(cells));
  };
  for (const auto& c : items(result, "campaigns"))
    row(text(c, "campaign"), obj(c, "draft"), obj(c, "actual"),
        text(obj(c, "draft"), "budget_ran_out_on", "-"));
  const auto& total = obj(result, "total");
  row("total", obj(total, "draft"), obj(total, "actual"), "");
  return html::table(t);
}

// Points (left scale) and firings (right scale) per day.
std::string campaign_days(const json& c) {
  const auto& rows = items(c, "days");
  const auto days = days_of(dates_in(rows));
  if (days.all.empty()) return "<p class=\"note\">It did not fire in the period.</p>\n";
  html::Series points{.name = "points", .css = "points"};
  html::Series firings{.name = "firings", .css = "firings", .dashed = true, .right_axis = true};
  std::vector<long long> p(days.all.size()), f(days.all.size());
  for (const auto& row : rows) {
    const auto at = days.index.find(text(row, "date"));
    if (at == days.index.end()) continue;
    p[at->second] = count(row, "points_awarded");
    f[at->second] = count(row, "firings");
  }
  for (std::size_t i = 0; i < days.all.size(); ++i) {
    const auto tip = days.all[i] + ": " + str(p[i]) + " points, " + str(f[i]) + " firings";
    points.points.push_back({static_cast<int>(i), static_cast<double>(p[i]), tip});
    firings.points.push_back({static_cast<int>(i), static_cast<double>(f[i]), tip});
  }
  html::LineChart chart{"Points and firings per day: " + text(c, "id"),
                        days.all,
                        {points, firings},
                        {},
                        {},
                        "points",
                        "firings"};
  return figure(html::line_chart(chart),
                "Points awarded (left scale) and rule firings (right scale, dashed) each day of "
                "the period (program time zone).");
}

// The budget left at the end of each day, then the forecast at the recent rate. The days of
// the period are counted back from what is used now, so they are drawn only when the period
// runs until now (the points awarded since its end are not in the report).
std::string campaign_burn_down(const json& c, const std::string& until, const std::string& as_of) {
  const auto budget = count(c, "budget"), left = count(c, "budget_left");
  const auto runs_out = text(c, "budget_runs_out_on");
  const auto dates = dates_in(items(c, "days"));
  const bool history = until >= as_of && !dates.empty();
  const auto today = std::max(as_of.substr(0, 10), dates.empty() ? "" : dates.back());
  const auto days =
      days_of(history ? dates : std::vector<std::string>{today}, std::max(today, runs_out));
  if (days.all.empty()) return "";
  html::LineChart chart{"Budget left: " + text(c, "id"),
                        days.all,
                        {},
                        static_cast<double>(budget),
                        {},
                        "points left",
                        ""};
  html::Series line{.name = "left", .css = "left"};
  html::Series forecast{.name = "forecast", .css = "forecast", .dashed = true};
  const int now = days.index.at(today);
  if (history) {
    std::vector<long long> awarded(days.all.size());
    for (const auto& row : items(c, "days"))
      if (const auto at = days.index.find(text(row, "date")); at != days.index.end())
        awarded[at->second] = count(row, "points_awarded");
    long long later = 0;  // awarded after the day
    for (int i = now; i >= 0; --i) {
      const auto value = std::min(budget, left + later);
      line.points.push_back(
          {i, static_cast<double>(value), days.all[i] + ": " + str(value) + " left"});
      later += awarded[i];
    }
    std::reverse(line.points.begin(), line.points.end());
  } else {
    line.points.push_back({now, static_cast<double>(left), today + ": " + str(left) + " left"});
  }
  chart.series.push_back(line);
  chart.markers.push_back({now, "now"});
  if (!runs_out.empty() && runs_out > today) {
    forecast.points = {{now, static_cast<double>(left), today + ": " + str(left) + " left"},
                       {days.index.at(runs_out), 0, runs_out + ": runs out"}};
    chart.series.push_back(forecast);
    chart.markers.push_back({days.index.at(runs_out), "runs out " + runs_out});
  }
  return figure(
      html::line_chart(chart),
      "Budget left at the end of each day" +
          std::string(history ? " (the points of each day counted back from what is "
                                "used now)"
                              : " (the period ends before now: only what is left now)") +
          (chart.series.size() > 1 ? "; dashed: at " + str(count(c, "recent_points_per_day")) +
                                         " points a day (the last 7 days' rate) until it runs out."
                                   : "."));
}

std::string campaign_section(const json& c, const std::string& until, const std::string& as_of) {
  std::ostringstream out;
  out << "<h2>" << escape(text(c, "id")) << " — " << escape(text(c, "name", "(removed)"))
      << " <span class=\"note\">[" << escape(text(c, "state")) << "]</span></h2>\n<p>"
      << escape(campaign_activity(c)) << "</p>\n"
      << campaign_days(c);
  if (c.contains("budget") && c["budget"].is_number()) {
    out << "<p>" << escape(campaign_budget(c)) << "</p>\n" << campaign_burn_down(c, until, as_of);
  }
  struct By {
    const char *title, *list, *key;
  };
  for (const By& by : {By{"rule", "rules", "id"}, By{"channel", "channels", "channel"}}) {
    html::Table t{.head = {by.title, "firings", "members", "points", "coupons"}};
    for (const auto& row : items(c, by.list))
      t.rows.push_back({text(row, by.key), str(count(row, "firings")), str(count(row, "members")),
                        str(count(row, "points_awarded")), str(count(row, "coupons_issued"))});
    if (!t.rows.empty()) out << html::table(t);
  }
  return out.str();
}

}  // namespace

std::string backtest_heading(const json& job) {
  const auto& r = obj(job, "result");
  std::string out = "Backtest " + text(job, "id") + ": " + str(count(r, "events")) +
                    " events from " + text(job, "from") + " until " + text(job, "until") + " (" +
                    str(count(r, "replayed_before")) + " earlier ones replayed for members' state";
  if (count(r, "refused") > 0) out += "; " + str(count(r, "refused")) + " refused by the draft";
  return out + ")";
}

std::string backtest_summary(const json& result) {
  long long limits = 0, budgets = 0;
  for (const auto& rule : items(result, "rules")) {
    limits += count(obj(rule, "draft"), "limit_refusals");
    budgets += count(obj(rule, "draft"), "budget_refusals");
  }
  std::string out = "The draft: " + str(limits) + " rule firings stopped by limits, " +
                    str(budgets) + " by budgets; at the end " +
                    str(count(result, "draft_liability")) + " points owed; members by tier:";
  for (const auto& [tier, n] : obj(result, "draft_tiers").items())
    out += " " + tier + " " + str(n.is_number() ? n.get<long long>() : 0);
  return out;
}

std::string campaign_activity(const json& c) {
  return str(count(c, "firings")) + " firings, " + str(count(c, "members")) + " members, " +
         str(count(c, "points_awarded")) + " points awarded (" + str(count(c, "points_reversed")) +
         " reversed since), " + str(count(c, "coupons_issued")) + " coupons issued (" +
         str(count(c, "coupons_redeemed")) + " redeemed)";
}

std::string campaign_budget(const json& c) {
  if (!c.contains("budget") || !c["budget"].is_number()) return "";
  const auto runs_out = text(c, "budget_runs_out_on");
  return "budget " + str(count(c, "budget")) + ": " + str(count(c, "budget_used")) + " used, " +
         (c.contains("budget_left") && c["budget_left"].is_number() ? str(count(c, "budget_left"))
                                                                    : "-") +
         " left; at " + str(count(c, "recent_points_per_day")) + " points a day " +
         (runs_out.empty() ? "it does not run out before the campaign ends"
                           : "it runs out on " + runs_out);
}

std::string backtest_html(const json& job, const std::vector<DraftCampaign>& draft) {
  const auto& result = obj(job, "result");
  std::ostringstream body;
  body << "<h1>Backtest " << escape(text(job, "id")) << "</h1>\n<p>"
       << escape(backtest_heading(job)) << ".</p>\n<h2>Points per day</h2>\n"
       << backtest_days(result) << backtest_budgets(result, draft) << "<h2>Campaigns</h2>\n"
       << backtest_table(result) << "<p>" << escape(backtest_summary(result)) << ".</p>\n";
  return html::page("Backtest " + text(job, "id"), body.str());
}

std::string campaigns_html(const json& report) {
  const auto from = text(report, "from"), until = text(report, "until");
  const auto as_of = text(report, "as_of");
  std::ostringstream body;
  body << "<h1>Campaigns</h1>\n<p>From " << escape(from) << " until " << escape(until) << ", as of "
       << escape(as_of) << ".</p>\n";
  if (report.contains("id")) {
    body << campaign_section(report, until, as_of);
  } else {
    for (const auto& c : items(report, "campaigns")) body << campaign_section(c, until, as_of);
    if (items(report, "campaigns").empty())
      body << "<p class=\"note\">No campaigns in the period.</p>\n";
  }
  return html::page("Campaigns from " + from + " until " + until, body.str());
}

}  // namespace circolo::cli
