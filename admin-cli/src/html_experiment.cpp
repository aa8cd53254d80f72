// The page of `report experiment CAMPAIGN --html FILE`, and the lines its text output shares.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <tuple>

#include "html_page.hpp"
#include "html_report.hpp"

namespace circolo::cli {

namespace {

using html::escape;
using nlohmann::json;

std::string field(const json& o, const char* key) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", it->get<double>());
    return buf;
  }
  return it->dump();
}

double number(const json& o, const char* key) {
  const auto it = o.find(key);
  if (it == o.end()) return 0;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) return std::strtod(it->get<std::string>().c_str(), nullptr);
  return 0;
}

const json& list(const json& o, const char* key) {
  static const json none = json::array();
  const auto it = o.find(key);
  return it != o.end() && it->is_array() ? *it : none;
}

}  // namespace

std::vector<std::vector<std::string>> experiment_rows(const json& report) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : list(report, "arms")) {
    rows.push_back(
        {field(a, "arm"), field(a, "share"), field(a, "members"), field(a, "exposed"),
         field(a, "buyers"), field(a, "purchases"), field(a, "revenue"), field(a, "average_basket"),
         field(a, "revenue_per_member"), field(a, "purchases_per_member"), field(a, "points_given"),
         field(a, "coupons_given"), field(a, "redemptions"), field(a, "points_withheld")});
  }
  return rows;
}

const std::vector<std::string>& experiment_columns() {
  static const std::vector<std::string> columns{
      "arm",        "share",      "members",      "exposed", "buyers",  "purchases", "revenue",
      "avg basket", "rev/member", "purch/member", "points",  "coupons", "redeemed",  "withheld"};
  return columns;
}

std::vector<std::string> experiment_uplift_lines(const json& u) {
  std::vector<std::string> lines;
  for (const char* metric : {"revenue_per_member", "purchases_per_member"}) {
    const auto it = u.find(metric);
    if (it != u.end() && it->is_object())
      lines.push_back(field(u, "arm") + ": " + field(*it, "sentence") + ".");
  }
  return lines;
}

std::string experiment_population_line(const json& report) {
  std::string out;
  if (field(report, "population") == "recorded") {
    out =
        "The program no longer declares this experiment: the members with events in scope "
        "count, in the arm recorded.";
    if (number(report, "members_in_several_arms") > 0)
      out += " " + field(report, "members_in_several_arms") +
             " members recorded in more than one arm are left out.";
    return out;
  }
  out =
      "Every member counts, in the arm the campaign assigns it now (exposed: with an event in "
      "scope).";
  if (number(report, "members_reassigned") > 0)
    out += " " + field(report, "members_reassigned") +
           " members had events recorded in another arm (a merge, or the shares changed) and "
           "count in their arm of now.";
  return out;
}

std::string experiment_html(const json& report) {
  const auto campaign = field(report, "campaign");
  std::ostringstream body;
  body << "<h1>Experiment of " << escape(campaign) << "</h1>\n<p>" << escape(field(report, "name"))
       << ", as of " << escape(field(report, "as_of")) << ".</p>\n<p><strong>"
       << escape(field(report, "summary")) << "</strong></p>\n";
  html::Table t{.head = experiment_columns(), .rows = experiment_rows(report)};
  body << html::table(t);
  body << "<p class=\"note\">" << escape(experiment_population_line(report)) << "</p>\n";
  for (const auto& [metric, title, unit] :
       {std::tuple{"revenue_per_member", "Revenue per member", "revenue"},
        std::tuple{"purchases_per_member", "Purchases per member", "purchases"}}) {
    html::BarChart chart{.title = title, .unit = unit};
    for (const auto& a : list(report, "arms")) {
      const auto arm = field(a, "arm");
      chart.bars.push_back(
          {arm + " " + field(a, metric), arm == "control" ? "actual" : "draft", number(a, metric)});
    }
    if (!chart.bars.empty())
      body << "<figure>\n"
           << html::bar_chart(chart) << "<figcaption>" << escape(title)
           << " by arm: every member the campaign was in scope for counts, buyers or not."
           << "</figcaption>\n</figure>\n";
  }
  body << "<h2>Uplift against control</h2>\n";
  html::Table u{.head = {"arm", "figure", "estimate", "95% CI from", "to", "in words"}};
  for (const auto& up : list(report, "uplift")) {
    for (const char* metric : {"revenue_per_member", "purchases_per_member"}) {
      const auto it = up.find(metric);
      if (it == up.end() || !it->is_object()) continue;
      const auto percent = [&](const char* key) {
        const auto v = it->find(key);
        if (v == it->end() || !v->is_number()) return std::string("-");
        char buf[32];
        std::snprintf(buf, sizeof buf, "%+.1f%%", v->get<double>() * 100);
        return std::string(buf);
      };
      const std::string label = std::string(metric) == "revenue_per_member"
                                    ? "revenue per member"
                                    : "purchases per member";
      u.rows.push_back({field(up, "arm"), label, percent("estimate"), percent("low"),
                        percent("high"), field(*it, "sentence")});
    }
  }
  body << html::table(u);
  return html::page("Experiment of " + campaign, body.str());
}

}  // namespace circolo::cli
