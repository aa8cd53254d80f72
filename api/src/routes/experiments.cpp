// GET /v1/admin/reports/experiments/{campaign}: a campaign's experiment, arm against arm, with
// the uplift over control. The figures come from the events recorded in scope of it; the
// statistics are engine::experiments'.
#include <algorithm>
#include <cstdio>

#include "circolo/api/app.hpp"
#include "circolo/api/problem.hpp"
#include "circolo/api/programs.hpp"
#include "circolo/api/reports.hpp"
#include "circolo/db/reports.hpp"
#include "circolo/engine/experiments.hpp"
#include "circolo/engine/money.hpp"

namespace circolo::api {

namespace {

using nlohmann::json;
namespace experiments = engine::experiments;

std::string share_text(std::int64_t e2) {
  char buf[32];
  if (e2 % 100 == 0)
    std::snprintf(buf, sizeof buf, "%lld%%", static_cast<long long>(e2 / 100));
  else if (e2 % 10 == 0)
    std::snprintf(buf, sizeof buf, "%lld.%lld%%", static_cast<long long>(e2 / 100),
                  static_cast<long long>(e2 % 100 / 10));
  else
    std::snprintf(buf, sizeof buf, "%lld.%02lld%%", static_cast<long long>(e2 / 100),
                  static_cast<long long>(e2 % 100));
  return buf;
}

// A per-member or per-purchase figure, rounded to the currency's minor unit.
std::string money_per(std::int64_t minor, std::int64_t n, int digits) {
  if (n == 0) return engine::format_money({0, digits});
  const auto rounded = (2 * minor + (minor >= 0 ? n : -n)) / (2 * n);
  return engine::format_money({rounded, digits});
}

double ratio(std::int64_t a, std::int64_t n) {
  return n == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(n);
}

json uplift_json(const experiments::Uplift& u) {
  json out{{"measurable", u.measurable}, {"sentence", u.sentence}};
  if (u.measurable) {
    out["estimate"] = u.estimate;
    out["low"] = u.low;
    out["high"] = u.high;
  } else {
    out["estimate"] = out["low"] = out["high"] = nullptr;
  }
  return out;
}

json arm_json(const experiments::ArmFigures& a, const std::optional<std::int64_t>& share,
              int digits) {
  return {{"arm", a.arm},
          {"share", share ? json(share_text(*share)) : json(nullptr)},
          {"members", a.members},
          {"exposed", a.exposed},
          {"buyers", a.buyers},
          {"purchases", a.purchases},
          {"revenue", engine::format_money({a.revenue_minor, digits})},
          {"average_basket", money_per(a.revenue_minor, a.purchases, digits)},
          {"revenue_per_member", money_per(a.revenue_minor, a.members, digits)},
          {"purchases_per_member", ratio(a.purchases, a.members)},
          {"points_given", a.points},
          {"coupons_given", a.coupons},
          {"redemptions", a.redemptions},
          {"points_withheld", a.withheld_points},
          {"coupons_withheld", a.withheld_coupons}};
}

asio::awaitable<Response> experiment_report(Services& s, const ProgramStore& store,
                                            const std::string& campaign) {
  const auto active = store.for_request();
  const rules::CompiledProgram* program =
      active && active->program ? active->program.get() : nullptr;
  const rules::CompiledProgram::Campaign* declared = nullptr;
  if (program) {
    for (const auto& c : program->campaigns())
      if (c.id == campaign) declared = &c;
  }
  const int digits = program ? program->currency_digits() : 2;
  const std::vector<experiments::Arm> declared_arms =
      declared ? declared->arms : std::vector<experiments::Arm>{};
  std::vector<std::string> order;
  std::map<std::string, std::int64_t> shares;
  for (const auto& a : declared_arms) {
    order.push_back(a.id);
    shares[a.id] = a.share_e2;
  }
  if (std::find(order.begin(), order.end(), "control") == order.end())
    order.insert(order.begin(), "control");
  const auto figures = co_await s.db.run([&](soci::session& sql) {
    return db::reports::experiment_figures(sql, campaign, declared_arms, order, digits);
  });
  if (declared_arms.empty() &&
      std::all_of(figures.arms.begin(), figures.arms.end(),
                  [](const experiments::ArmFigures& a) { return a.members == 0; })) {
    if (!declared)
      throw ApiError(http::status::not_found, "unknown_campaign",
                     "the active program has no campaign \"" + campaign +
                         "\" and no event was recorded in an experiment of it");
    throw ApiError(http::status::not_found, "no_experiment",
                   "campaign \"" + campaign + "\" declares no experiment");
  }
  const auto& control = figures.arms.front();  // "control" is first in `order`

  json arms = json::array();
  json uplifts = json::array();
  std::string summary;
  const bool several = figures.arms.size() > 2;  // variants: each sentence names its arm
  for (const auto& a : figures.arms) {
    const auto share = shares.count(a.arm) ? std::optional(shares.at(a.arm)) : std::nullopt;
    arms.push_back(arm_json(a, share, digits));
    if (a.arm == "control") continue;
    const std::string who = a.arm == "treatment" ? "the campaign" : "variant \"" + a.arm + "\"";
    const auto revenue = experiments::uplift(a, control, experiments::Metric::revenue, who);
    const auto purchases = experiments::uplift(a, control, experiments::Metric::purchases, who);
    uplifts.push_back({{"arm", a.arm},
                       {"revenue_per_member", uplift_json(revenue)},
                       {"purchases_per_member", uplift_json(purchases)}});
    const bool names_itself = revenue.sentence.rfind(who, 0) == 0;
    summary += (summary.empty() ? "" : "; ") +
               (several && !names_itself ? who + ": " + revenue.sentence : revenue.sentence);
  }
  json out{{"campaign", campaign},
           {"name", declared ? json(declared->name) : json(nullptr)},
           {"declared", declared && !declared->arms.empty()},
           {"arms", std::move(arms)},
           {"uplift", std::move(uplifts)},
           {"summary", summary},
           {"population", declared_arms.empty() ? "recorded" : "assigned"},
           {"members_in_several_arms", figures.members_in_several_arms},
           {"members_reassigned", figures.members_reassigned},
           {"as_of", engine::format_rfc3339(s.clock.now())}};
  co_return json_response(http::status::ok, std::move(out));
}

}  // namespace

void register_experiment_routes(App& app, const ProgramStore& store) {
  auto& s = app.services();
  app.router().add({http::verb::get, "/v1/admin/reports/experiments/{campaign}",
                    Access::only({Role::admin}),
                    [&s, &store](Request& request) -> asio::awaitable<Response> {
                      co_return co_await experiment_report(s, store, request.param("campaign"));
                    }});
}

}  // namespace circolo::api
