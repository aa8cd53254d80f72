#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "circolo/engine/clock.hpp"
#include "circolo/engine/experiments.hpp"

// Reports for finance and operations: read-only aggregates.
namespace circolo::db::reports {

// Outstanding points (a liability until spent or expired): available and pending, by tier.
struct LiabilityRow {
  std::optional<std::string> tier;  // none: members without a tier yet
  long long members = 0;            // members holding outstanding points
  long long available = 0, pending = 0;
};
std::vector<LiabilityRow> liability(soci::session& sql, engine::TimePoint now);

// What campaigns did, from the recorded events' effects (rule firings, members, points awarded,
// coupons issued), their lots (points reversed since) and codes (redeemed since), and their
// budget counters.
struct ActivityFigures {
  long long firings = 0;  // rule firings
  long long members = 0;  // distinct members
  long long points = 0;   // awarded
  long long coupons_issued = 0;
};
struct CampaignActivity {
  ActivityFigures total;
  std::map<std::string, ActivityFigures> rules, days, channels;  // days: local "YYYY-MM-DD"
  long long points_reversed = 0;   // of the points awarded in the period, taken back since
  long long coupons_redeemed = 0;  // of the codes issued in the period, redeemed since
  long long budget_used = 0;       // the budget counter, all time (across program versions)
  long long recent_points = 0;     // awarded in [recent_from, now): the rate of the forecast
};
// Events recorded in [from, until), by campaign (`only`: that one), with days in `time_zone`.
// Campaigns in `known` are in the answer even without activity.
std::map<std::string, CampaignActivity> campaign_activity(
    soci::session& sql, engine::TimePoint from, engine::TimePoint until,
    const std::string& time_zone, const std::optional<std::string>& only,
    const std::vector<std::string>& known, engine::TimePoint recent_from, engine::TimePoint now);

// A campaign's experiment, from the events recorded in scope of it (events.experiments): per
// member and arm, purchases and net revenue (paid less refunded, in minor units of
// `currency_digits`), what the campaign gave and held back, and the redemptions (not rolled
// back) of the codes it issued them.
std::vector<engine::experiments::MemberRow> experiment_members(soci::session& sql,
                                                               const std::string& campaign,
                                                               int currency_digits);

// The experiment's figures: experiment_members() and, when `arms` are known (the program still
// declares the experiment), every current member (not merged away) in the arm it is assigned
// now, all in one REPEATABLE READ snapshot. Without `arms`: the members as recorded.
engine::experiments::Figures experiment_figures(soci::session& sql, const std::string& campaign,
                                                const std::vector<engine::experiments::Arm>& arms,
                                                const std::vector<std::string>& declared_order,
                                                int currency_digits);

}  // namespace circolo::db::reports
