// program backtest: a draft program replayed by the server on the events recorded in a period,
// with a progress bar, then the draft beside what happened, per campaign (and, with --html, a
// page with plots).
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "circolo/rules/evaluate.hpp"
#include "commands.hpp"
#include "html_report.hpp"

namespace circolo::cli {
namespace {

void bar(double progress) {
  const int width = 30, filled = static_cast<int>(progress * width);
  std::fprintf(stderr, "\r[%s%s] %3d%%", std::string(filled, '#').c_str(),
               std::string(width - filled, ' ').c_str(), static_cast<int>(progress * 100));
  std::fflush(stderr);
}

void print_result(const json& job) {
  const auto& r = job["result"];
  std::cout << backtest_heading(job) << "\n";
  std::printf("%-24s  %15s  %19s  %15s  %13s  %s\n", "CAMPAIGN", "FIRINGS", "POINTS", "MEMBERS",
              "COUPONS", "BUDGET RAN OUT");
  std::printf("%-24s  %7s %7s  %9s %9s  %7s %7s  %6s %6s\n", "", "draft", "actual", "draft",
              "actual", "draft", "actual", "draft", "actual");
  const auto line = [](const std::string& name, const json& d, const json& a,
                       const std::string& ran_out) {
    std::printf("%-24s  %7lld %7lld  %9lld %9lld  %7lld %7lld  %6lld %6lld  %s\n", name.c_str(),
                d["firings"].get<long long>(), a["firings"].get<long long>(),
                d["points_awarded"].get<long long>(), a["points_awarded"].get<long long>(),
                d["members"].get<long long>(), a["members"].get<long long>(),
                d["coupons_issued"].get<long long>(), a["coupons_issued"].get<long long>(),
                ran_out.c_str());
  };
  for (const auto& c : r["campaigns"]) {
    const auto& ran_out = c["draft"]["budget_ran_out_on"];
    line(c["campaign"].get<std::string>(), c["draft"], c["actual"],
         ran_out.is_string() ? ran_out.get<std::string>() : "-");
  }
  line("total", r["total"]["draft"], r["total"]["actual"], "");
  std::cout << backtest_summary(r) << "\n";
}

// The draft's campaigns, for the page: their names and budgets are not in the result. The
// server compiled the same source, so it compiles here too.
std::vector<DraftCampaign> draft_campaigns(const std::string& path, const std::string& text) {
  std::vector<DraftCampaign> out;
  const auto compiled = rules::compile(rules::Source{path, text});
  if (!compiled.program) return out;
  for (const auto& c : compiled.program->campaigns()) out.push_back({c.id, c.name, c.budget});
  return out;
}

int backtest(const Online& o, const std::string& path, const std::string& from,
             const std::string& until, const std::string& html) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "circolo: cannot read " << path << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  json body{{"source", text.str()}};
  if (!from.empty()) body["from"] = from;
  if (!until.empty()) body["until"] = until;
  int code = 0;
  auto job = call(o, "POST", "/v1/admin/backtests", body, code);
  if (!job) return code;
  const std::string id = (*job)["id"];
  const bool show_bar = ::isatty(2) && !o.json_output;
  while ((*job)["status"] == "running") {
    if (show_bar) bar((*job)["progress"].get<double>());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    job = call(o, "GET", "/v1/admin/backtests/" + id, nullptr, code);
    if (!job) return code;
  }
  if (show_bar) {
    bar(1.0);
    std::fprintf(stderr, "\n");
  }
  const auto write_html = [&] {
    return html.empty() ? 0
                        : write_page(html, backtest_html(*job, draft_campaigns(path, text.str())));
  };
  if (o.json_output) {
    std::cout << job->dump(2) << "\n";
    if ((*job)["status"] != "done") return 1;
    return write_html();
  }
  if ((*job)["status"] != "done") {
    std::cerr << "circolo: the backtest " << id << " ended " << (*job)["status"].get<std::string>()
              << ((*job)["error"].is_string() ? ": " + (*job)["error"].get<std::string>() : "")
              << "\n";
    return 1;
  }
  print_result(*job);
  return write_html();
}

}  // namespace

void register_backtest(CLI::App& app, Context& ctx) {
  struct State {
    std::string file, from, until, html;
  };
  auto s = std::make_shared<State>();
  auto* cmd = app.get_subcommand("program")->add_subcommand(
      "backtest",
      "replay the events recorded in a period with a draft program: what it would have done, "
      "beside what happened\n  example: circolo program backtest draft.rules --from 2026-11-01 "
      "--until 2026-12-01");
  cmd->add_option("file", s->file, "the draft *.rules file")->required();
  cmd->add_option("--from", s->from,
                  "first day (the draft's time zone) or RFC 3339 time; default: 30 days before "
                  "--until");
  cmd->add_option("--until", s->until, "day after the last; default: now");
  cmd->add_option("--html", s->html,
                  "also write a page with plots to this file (HTML, opens offline): points per "
                  "day, draft against actual, and the draft's budgets");
  ctx.add_online(cmd,
                 [s](const Online& o) { return backtest(o, s->file, s->from, s->until, s->html); });
}

}  // namespace circolo::cli
