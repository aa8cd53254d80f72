// report liability: reports for finance and operations.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "commands.hpp"

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

}  // namespace

void register_reports(CLI::App& app, Context& ctx) {
  auto* report_cmd = app.add_subcommand("report", "reports for finance and operations");
  report_cmd->require_subcommand(1);
  auto* liability_cmd =
      report_cmd->add_subcommand("liability",
                                 "outstanding points (available and pending) in total and by tier\n"
                                 "  example: circolo report liability");
  ctx.add_online(liability_cmd, [](const Online& o) { return report_liability(o); });
}

}  // namespace circolo::cli
