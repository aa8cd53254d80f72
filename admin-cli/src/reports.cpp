// report liability|campaigns|experiment: reports for finance, operations and marketing
// (campaigns and experiments also as a page with plots, --html).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "html_report.hpp"

namespace circolo::cli {
namespace {

int report_liability(const Online& o) {
  int code = 0;
  auto report = call(o, "GET", "/v1/admin/reports/liability", nullptr, code);
  if (!report) return code;
  if (o.json_output) {
    std::cout << report->dump(2) << "\n";
    return 0;
  }
  const auto& r = *report;
  std::cout << "Outstanding points as of " << r["as_of"].get<std::string>() << "\n";
  std::printf("%-16s  %10s  %12s  %12s  %12s\n", "TIER", "MEMBERS", "AVAILABLE", "PENDING",
              "OUTSTANDING");
  auto line = [](const std::string& name, const json& row) {
    std::printf("%-16s  %10lld  %12lld  %12lld  %12lld\n", name.c_str(),
                row["members"].get<long long>(), row["available"].get<long long>(),
                row["pending"].get<long long>(), row["outstanding"].get<long long>());
  };
  for (const auto& row : r["by_tier"])
    line(row["tier"].is_null() ? "(no tier)" : row["tier"].get<std::string>(), row);
  line("total", r["total"]);
  return 0;
}

void campaign_table(const json& c) {
  const auto name = c["name"].is_string() ? c["name"].get<std::string>() : "(removed)";
  std::cout << c["id"].get<std::string>() << "  " << name << "  [" << c["state"].get<std::string>()
            << "]\n";
  std::cout << "  " << campaign_activity(c) << "\n";
  if (!c["budget"].is_null()) std::cout << "  " << campaign_budget(c) << "\n";
  const auto series = [](const char* title, const char* key, const json& rows) {
    if (rows.empty()) return;
    std::printf("  %-24s  %8s  %8s  %10s  %8s\n", title, "FIRINGS", "MEMBERS", "POINTS", "COUPONS");
    for (const auto& row : rows)
      std::printf("  %-24s  %8lld  %8lld  %10lld  %8lld\n", row[key].get<std::string>().c_str(),
                  row["firings"].get<long long>(), row["members"].get<long long>(),
                  row["points_awarded"].get<long long>(), row["coupons_issued"].get<long long>());
  };
  series("RULE", "id", c["rules"]);
  series("CHANNEL", "channel", c["channels"]);
  series("DAY", "date", c["days"]);
}

int report_campaigns(const Online& o, const std::string& id, const std::string& from,
                     const std::string& until, const std::string& html) {
  int code = 0;
  std::string target = "/v1/admin/reports/campaigns";
  if (!id.empty()) target += "/" + percent_encode(id);
  target = with_period(target, from, until);
  auto report = call(o, "GET", target, nullptr, code);
  if (!report) return code;
  if (o.json_output) {
    std::cout << report->dump(2) << "\n";
    return html.empty() ? 0 : write_page(html, campaigns_html(*report));
  }
  const auto& r = *report;
  std::cout << "Campaigns from " << r["from"].get<std::string>() << " until "
            << r["until"].get<std::string>() << "\n";
  if (!id.empty()) {
    campaign_table(r);
  } else {
    for (const auto& c : r["campaigns"]) {
      std::cout << "\n";
      campaign_table(c);
    }
  }
  return html.empty() ? 0 : write_page(html, campaigns_html(r));
}

int report_experiment(const Online& o, const std::string& campaign, const std::string& html) {
  int code = 0;
  auto report =
      call(o, "GET", "/v1/admin/reports/experiments/" + percent_encode(campaign), nullptr, code);
  if (!report) return code;
  if (o.json_output) {
    std::cout << report->dump(2) << "\n";
    return html.empty() ? 0 : write_page(html, experiment_html(*report));
  }
  const auto& r = *report;
  std::cout << "Experiment of " << r["campaign"].get<std::string>();
  if (r["name"].is_string()) std::cout << " (" << r["name"].get<std::string>() << ")";
  std::cout << " as of " << r["as_of"].get<std::string>() << "\n\n";
  const auto& columns = experiment_columns();
  auto rows = experiment_rows(r);
  rows.insert(rows.begin(), columns);
  std::vector<std::size_t> width(columns.size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    for (std::size_t i = 0; i < rows[k].size(); ++i) {
      auto cell = rows[k][i];
      if (k == 0)
        for (auto& ch : cell) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      std::printf(i == 0 ? "%-*s" : "  %*s", static_cast<int>(width[i]), cell.c_str());
    }
    std::printf("\n");
  }
  std::cout << experiment_population_line(r) << "\n";
  std::cout << "\nUplift against control:\n";
  for (const auto& u : r["uplift"])
    for (const auto& line : experiment_uplift_lines(u)) std::cout << "  " << line << "\n";
  return html.empty() ? 0 : write_page(html, experiment_html(r));
}

}  // namespace

void register_reports(CLI::App& app, Context& ctx) {
  auto* report_cmd = app.add_subcommand("report", "reports for finance and operations");
  report_cmd->require_subcommand(1);
  auto* liability_cmd =
      report_cmd->add_subcommand("liability",
                                 "outstanding points (available and pending) in total and by tier\n"
                                 "  example: circolo report liability");
  ctx.add_online(liability_cmd, [](const Online& o) { return report_liability(o); });

  struct Period {
    std::string campaign, from, until, html;
  };
  auto p = std::make_shared<Period>();
  auto* campaigns_cmd = report_cmd->add_subcommand(
      "campaigns",
      "what campaigns did over a period (by rule, channel and day), budgets and when they run "
      "out\n  example: circolo report campaigns weekend-double --from 2026-11-01");
  campaigns_cmd->add_option("campaign", p->campaign, "one campaign (default: all)");
  campaigns_cmd->add_option("--from", p->from,
                            "first day (program time zone) or RFC 3339 time; default: 30 days "
                            "before --until");
  campaigns_cmd->add_option("--until", p->until, "day after the last; default: now");
  campaigns_cmd->add_option("--html", p->html,
                            "also write a page with plots to this file (HTML, opens offline): "
                            "points and firings per day, budgets burning down");
  ctx.add_online(campaigns_cmd, [p](const Online& o) {
    return report_campaigns(o, p->campaign, p->from, p->until, p->html);
  });

  struct Experiment {
    std::string campaign, html;
  };
  auto e = std::make_shared<Experiment>();
  auto* experiment_cmd = report_cmd->add_subcommand(
      "experiment",
      "a campaign's experiment, arm by arm (control, variants, treatment), and the uplift of "
      "revenue and purchases per member over control with its 95% interval\n"
      "  example: circolo report experiment weekend-double --html weekend.html");
  experiment_cmd->add_option("campaign", e->campaign, "the campaign")->required();
  experiment_cmd->add_option("--html", e->html,
                             "also write a page with plots to this file (HTML, opens offline)");
  ctx.add_online(experiment_cmd,
                 [e](const Online& o) { return report_experiment(o, e->campaign, e->html); });
}

}  // namespace circolo::cli
