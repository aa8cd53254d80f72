// members referrals, report referrals: who brought whom, and what referrals did in a period.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace circolo::cli {
namespace {

std::string text_or_dash(const json& v) {
  return v.is_string() ? v.get<std::string>() : "-";
}

int member_referrals(const Online& o, const std::string& id) {
  int code = 0;
  const std::string member = "/v1/members/" + percent_encode(id);
  auto mine = call(o, "GET", member + "/referral", nullptr, code);
  if (!mine) return code;
  auto list = call(o, "GET", member + "/referrals", nullptr, code);
  if (!list) return code;
  if (o.json_output) {
    std::cout << json{{"code", (*mine)["code"]},
                      {"referrals", (*mine)["referrals"]},
                      {"items", (*list)["items"]}}
                     .dump(2)
              << "\n";
    return 0;
  }
  const auto& n = (*mine)["referrals"];
  std::cout << "Referral code " << (*mine)["code"].get<std::string>() << ": "
            << n["completed"].get<long long>() << " completed, " << n["started"].get<long long>()
            << " open, " << n["reversed"].get<long long>() << " reversed, "
            << n["refused"].get<long long>() << " refused, " << n["expired"].get<long long>()
            << " expired\n";
  if ((*list)["items"].empty()) return 0;
  std::printf("%-27s  %-8s  %-30s  %-9s  %s\n", "STARTED", "ROLE", "WITH", "STATE", "REASON");
  for (const auto& r : (*list)["items"]) {
    const bool referrer = r["role"] == "referrer";
    const auto with = (referrer ? r["referee"] : r["referrer"]).get<std::string>();
    std::printf("%-27s  %-8s  %-30s  %-9s  %s\n", r["started_at"].get<std::string>().c_str(),
                r["role"].get<std::string>().c_str(), with.c_str(),
                r["state"].get<std::string>().c_str(), text_or_dash(r["reason"]).c_str());
  }
  return 0;
}

int report_referrals(const Online& o, const std::string& from, const std::string& until) {
  int code = 0;
  const auto target = with_period("/v1/admin/reports/referrals", from, until);
  auto report = call(o, "GET", target, nullptr, code);
  if (!report) return code;
  if (o.json_output) {
    std::cout << report->dump(2) << "\n";
    return 0;
  }
  const auto& r = *report;
  std::cout << "Referrals started from " << r["from"].get<std::string>() << " until "
            << r["until"].get<std::string>() << "\n";
  const auto header = [](const char* first) {
    std::printf("%-30s  %8s  %8s  %8s  %9s  %8s  %7s  %7s  %10s\n", first, "ATTEMPTS", "STARTED",
                "OPEN", "COMPLETED", "REVERSED", "EXPIRED", "REFUSED", "POINTS");
  };
  const auto line = [](const std::string& name, const json& row) {
    std::printf("%-30s  %8lld  %8lld  %8lld  %9lld  %8lld  %7lld  %7lld  %10lld\n", name.c_str(),
                row["attempts"].get<long long>(), row["started"].get<long long>(),
                row["open"].get<long long>(), row["completed"].get<long long>(),
                row["reversed"].get<long long>(), row["expired"].get<long long>(),
                row["refused"].get<long long>(), row["points_given"].get<long long>());
  };
  header("");
  line("total", r);
  if (!r["refused_by_reason"].empty()) {
    std::cout << "\nRefused by reason\n";
    for (const auto& [reason, n] : r["refused_by_reason"].items())
      std::printf("  %-28s  %8lld\n", reason.c_str(), n.get<long long>());
  }
  if (!r["days"].empty()) {
    std::cout << "\n";
    header("DAY");
    for (const auto& day : r["days"]) line(day["date"].get<std::string>(), day);
  }
  if (!r["top_referrers"].empty()) {
    std::cout << "\n";
    header("REFERRER");
    for (const auto& top : r["top_referrers"]) line(top["member_id"].get<std::string>(), top);
  }
  return 0;
}

}  // namespace

void register_referrals(CLI::App& app, Context& ctx) {
  struct State {
    std::string member_id, from, until;
  };
  auto s = std::make_shared<State>();
  auto* members_cmd = app.get_subcommand("members");
  auto* referrals_cmd = members_cmd->add_subcommand(
      "referrals",
      "the member's referral code and referrals\n  example: circolo members referrals mem_...");
  referrals_cmd->add_option("id", s->member_id, "the member id")->required();
  ctx.add_online(referrals_cmd, [s](const Online& o) { return member_referrals(o, s->member_id); });

  auto* report_cmd = app.get_subcommand("report");
  auto* report_referrals_cmd = report_cmd->add_subcommand(
      "referrals",
      "referrals started in a period: by state, refusals by reason, per day, top referrers\n"
      "  example: circolo report referrals --from 2026-11-01 --until 2026-12-01");
  report_referrals_cmd->add_option("--from", s->from,
                                   "first day (program time zone) or RFC 3339 time; default: "
                                   "30 days before --until");
  report_referrals_cmd->add_option("--until", s->until, "day after the last; default: now");
  ctx.add_online(report_referrals_cmd,
                 [s](const Online& o) { return report_referrals(o, s->from, s->until); });
}

}  // namespace circolo::cli
