// The pages of `--html FILE`: a backtest (`program backtest`) and the campaigns report (`report
// campaigns`), made from the server's JSON; and the sentences the text output says the same way.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace circolo::cli {

// A campaign of the draft: the backtest's result names campaigns by id only, and has no budgets.
struct DraftCampaign {
  std::string id, name;
  std::optional<std::int64_t> budget;
};

// A finished backtest (`Backtest` with its `result`): points per day of the draft against what
// happened, each draft budget against the draft's points (and the day it ran out), the table of
// campaigns.
std::string backtest_html(const nlohmann::json& job, const std::vector<DraftCampaign>& draft);

// `GET /v1/admin/reports/campaigns` (every campaign) or `.../campaigns/{id}` (one): per campaign
// its points and firings per day and, with a budget, the budget left by day with the forecast.
std::string campaigns_html(const nlohmann::json& report);

// `GET /v1/admin/reports/experiments/{campaign}`: the summary, the arms' table, revenue and
// purchases per member by arm, the uplifts with their intervals.
std::string experiment_html(const nlohmann::json& report);

// Shared with the text output.
// The arms' table: its columns and a row of cells per arm.
const std::vector<std::string>& experiment_columns();
std::vector<std::vector<std::string>> experiment_rows(const nlohmann::json& report);
// Who counts: "Every member counts, in the arm the campaign assigns it now ..."
std::string experiment_population_line(const nlohmann::json& report);
// An uplift entry's lines, one per figure: "treatment: the campaign raised revenue per member
// by 4.1% (95% CI 1.2% to 7.0%)."
std::vector<std::string> experiment_uplift_lines(const nlohmann::json& uplift);
// "Backtest bt_...: 48211 events from ... until ... (12093 earlier ones replayed ...)"
std::string backtest_heading(const nlohmann::json& job);
// "The draft: 210 rule firings stopped by limits, 95 by budgets; at the end ... points owed; ..."
std::string backtest_summary(const nlohmann::json& result);
// "1204 firings, 733 members, 48210 points awarded (310 reversed since), 96 coupons issued (...)"
std::string campaign_activity(const nlohmann::json& campaign);
// "budget 1000000: 48210 used, 951790 left; at 6887 points a day it runs out on 2027-05-03"
// ("" without a budget).
std::string campaign_budget(const nlohmann::json& campaign);

}  // namespace circolo::cli
